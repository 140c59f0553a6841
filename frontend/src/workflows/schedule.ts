// A workflow's schedule in words, and when it runs next (for the workflows list).
import cronstrue from "cronstrue";

import type { Schemas } from "../api/client";

export type Schedule = Schemas["WorkflowOut"]["schedule"];

/** Airflow's presets as the cron expressions they stand for. */
const PRESET_CRON: Record<string, string> = {
  hourly: "0 * * * *",
  daily: "0 0 * * *",
  weekly: "0 0 * * 0",
  monthly: "0 0 1 * *",
  yearly: "0 0 1 1 *",
};

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

/** The next time the schedule fires after `now` (cron read in UTC, as Airflow does by
 * default), or null for none. */
export function nextScheduledRun(schedule: Schedule, now: Date = new Date()): Date | null {
  if (schedule.type === "once") {
    const at = new Date(schedule.at);
    return at > now ? at : null;
  }
  const expression = schedule.type === "cron" ? schedule.expression : schedule.type === "preset" ? PRESET_CRON[schedule.preset] : undefined;
  return expression ? nextCronTime(expression, now) : null;
}

const NAMES: Record<string, number> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12,
  sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6,
};

/** The values a cron field allows, or null when it is "*" (anything). */
function cronField(field: string, min: number, max: number): Set<number> | null {
  if (field === "*" || field === "?") return null;
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText ? Number(stepText) : 1;
    let [low, high] = [min, max];
    if (range !== "*") {
      const [a, b] = range.split("-").map((v) => NAMES[v.toLowerCase()] ?? Number(v));
      low = a;
      high = b ?? (stepText ? max : a);
    }
    if (![low, high, step].every(Number.isInteger) || step < 1) throw new Error(`invalid cron field ${field}`);
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

/** The first minute after `now` matching the five-field cron expression (UTC), within a year. */
export function nextCronTime(expression: string, now: Date): Date | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return null;
  try {
    const [minutes, hours, days, months, weekdays] = [
      cronField(fields[0], 0, 59),
      cronField(fields[1], 0, 23),
      cronField(fields[2], 1, 31),
      cronField(fields[3], 1, 12),
      cronField(fields[4], 0, 7),
    ];
    if (weekdays?.has(7)) weekdays.add(0);
    const t = new Date(now.getTime());
    t.setUTCSeconds(0, 0);
    t.setUTCMinutes(t.getUTCMinutes() + 1);
    const limit = now.getTime() + 366 * 24 * 3600 * 1000;
    while (t.getTime() <= limit) {
      // Cron's rule: when both day fields are restricted, either may match.
      const dayOk =
        days && weekdays
          ? days.has(t.getUTCDate()) || weekdays.has(t.getUTCDay())
          : (!days || days.has(t.getUTCDate())) && (!weekdays || weekdays.has(t.getUTCDay()));
      if (months && !months.has(t.getUTCMonth() + 1)) {
        t.setUTCMonth(t.getUTCMonth() + 1, 1);
        t.setUTCHours(0, 0);
      } else if (!dayOk) {
        t.setUTCDate(t.getUTCDate() + 1);
        t.setUTCHours(0, 0);
      } else if (hours && !hours.has(t.getUTCHours())) {
        t.setUTCHours(t.getUTCHours() + 1, 0);
      } else if (minutes && !minutes.has(t.getUTCMinutes())) {
        t.setUTCMinutes(t.getUTCMinutes() + 1);
      } else {
        return t;
      }
    }
    return null;
  } catch {
    return null;
  }
}
