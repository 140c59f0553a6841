// The workflow's schedule: none, a preset, a cron expression (with a readable preview) or once.
import { SegmentedControl, Select, Stack, Text, TextInput } from "@mantine/core";
import cronstrue from "cronstrue";
import dayjs from "dayjs";

import { PRESETS, type Preset, type Schedule } from "./types";

/** A readable description of a cron expression, or the reason it is not valid. */
export function describeCron(expression: string): { text: string; valid: boolean } {
  if (!expression.trim())
    return { text: "Write a cron expression, e.g. */15 * * * * (every 15 minutes).", valid: false };
  if (expression.trim().split(/\s+/).length !== 5) {
    return { text: "A cron expression has five fields: minute hour day-of-month month day-of-week.", valid: false };
  }
  try {
    return {
      text: cronstrue.toString(expression, { throwExceptionOnParseError: true, use24HourTimeFormat: true }),
      valid: true,
    };
  } catch (error) {
    return { text: `Not a valid cron expression: ${String(error).replace(/^Error: /, "")}`, valid: false };
  }
}

/** ISO date-time <-> the value of a datetime-local input (local time). */
export const toLocalInput = (iso: string | null | undefined) => (iso ? dayjs(iso).format("YYYY-MM-DDTHH:mm") : "");
export const fromLocalInput = (local: string) => (local ? dayjs(local).toISOString() : null);

interface Props {
  schedule: Schedule;
  onChange(schedule: Schedule): void;
  error?: string;
}

export function ScheduleEditor({ schedule, onChange, error }: Props) {
  const cron = schedule.type === "cron" ? describeCron(schedule.expression) : null;
  return (
    <Stack gap={6}>
      <Text size="sm" fw={500} id="schedule-label">
        Schedule
      </Text>
      <SegmentedControl
        aria-labelledby="schedule-label"
        size="xs"
        value={schedule.type}
        onChange={(type) => {
          if (type === "none") onChange({ type: "none" });
          if (type === "preset") onChange({ type: "preset", preset: "daily" });
          if (type === "cron") onChange({ type: "cron", expression: "0 6 * * *" });
          if (type === "once") onChange({ type: "once", at: dayjs().add(1, "hour").startOf("hour").toISOString() });
        }}
        data={[
          { value: "none", label: "none" },
          { value: "preset", label: "preset" },
          { value: "cron", label: "cron" },
          { value: "once", label: "once" },
        ]}
      />
      {schedule.type === "preset" && (
        <Select
          aria-label="Preset"
          data={[...PRESETS]}
          value={schedule.preset}
          allowDeselect={false}
          onChange={(preset) => onChange({ type: "preset", preset: (preset ?? "daily") as Preset })}
        />
      )}
      {schedule.type === "cron" && cron && (
        <TextInput
          aria-label="Cron expression"
          data-testid="cron-input"
          value={schedule.expression}
          onChange={(event) => onChange({ type: "cron", expression: event.currentTarget.value })}
          description={cron.valid ? cron.text : undefined}
          error={cron.valid ? undefined : cron.text}
        />
      )}
      {schedule.type === "once" && (
        <TextInput
          type="datetime-local"
          aria-label="Run once at"
          value={toLocalInput(schedule.at)}
          onChange={(event) => {
            const at = fromLocalInput(event.currentTarget.value);
            if (at) onChange({ type: "once", at });
          }}
        />
      )}
      {error && (
        <Text size="xs" c="red">
          {error}
        </Text>
      )}
    </Stack>
  );
}
