// Airflow's run and task states with one colour each, shared by the lists and the monitor.
import { Badge } from "@mantine/core";

const STATE_COLOURS: Record<string, string> = {
  success: "green",
  failed: "red",
  upstream_failed: "orange",
  running: "blue",
  queued: "gray",
  scheduled: "gray",
  up_for_retry: "yellow",
  up_for_reschedule: "yellow",
  restarting: "violet",
  deferred: "grape",
  skipped: "pink",
  removed: "dark",
};

/** A Mantine colour name for an Airflow state (null: not scheduled yet). */
export function stateColour(state: string | null | undefined): string {
  return (state && STATE_COLOURS[state]) || "gray";
}

/** A readable label for an Airflow state. */
export function stateLabel(state: string | null | undefined): string {
  return state ? state.replaceAll("_", " ") : "not started";
}

/** Run states that will not change any more. */
export function isRunFinished(state: string | null | undefined): boolean {
  return state === "success" || state === "failed";
}

export function RunStateBadge({ state, testId = "run-state" }: { state: string | null | undefined; testId?: string }) {
  return (
    <Badge color={stateColour(state)} variant="light" data-testid={testId} data-state={state ?? "none"}>
      {stateLabel(state)}
    </Badge>
  );
}

/** "1 h 2 min", "3 min 4 s", "5.2 s" from seconds. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

/** A date-time in the user's locale, or "—". */
export function formatTime(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "—";
}
