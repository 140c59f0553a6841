// A workflow's schedule in words (for the workflows list and the editor's preview).
import cronstrue from "cronstrue";

import type { Schemas } from "../api/client";

export type Schedule = Schemas["WorkflowOut"]["schedule"];

const PRESET_TEXT: Record<string, string> = {
  hourly: "Every hour",
  daily: "Every day at 00:00",
  weekly: "Every Sunday at 00:00",
  monthly: "On the 1st of every month at 00:00",
  yearly: "Every 1 January at 00:00",
};

/** "At 06:00, only on Monday" — the schedule as a person would say it. */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.type) {
    case "cron":
      try {
        return cronstrue.toString(schedule.expression, { use24HourTimeFormat: true, verbose: false });
      } catch {
        return `cron ${schedule.expression}`;
      }
    case "preset":
      return PRESET_TEXT[schedule.preset] ?? schedule.preset;
    case "once":
      return `Once at ${new Date(schedule.at).toLocaleString()}`;
    default:
      return "Manual only";
  }
}
