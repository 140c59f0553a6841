// The run as a Gantt chart: one bar per task from its start to its end (or now).
import { Box, Text, Tooltip, UnstyledButton } from "@mantine/core";

import { formatDuration, stateColour, stateLabel } from "../components/RunStateBadge";
import type { RunTask } from "./runGraph";

interface Props {
  tasks: RunTask[];
  /** Order of the rows (the document's task order); others follow. */
  order: string[];
  selectedTaskId: string | null;
  onSelectTask: (taskId: string) => void;
  now?: number;
}

const LABEL_WIDTH = 170;

export function RunTimeline({ tasks, order, selectedTaskId, onSelectTask, now = Date.now() }: Props) {
  const rank = (id: string) => {
    const index = order.indexOf(id);
    return index === -1 ? order.length : index;
  };
  const rows = [...tasks].sort((a, b) => rank(a.task_id) - rank(b.task_id));
  const starts = rows.flatMap((task) => (task.started_at ? [Date.parse(task.started_at)] : []));
  if (starts.length === 0) {
    return (
      <Text c="dimmed" p="md" data-testid="run-timeline">
        No task has started yet.
      </Text>
    );
  }
  const begin = Math.min(...starts);
  const end = Math.max(
    begin + 1000,
    ...rows.map((task) => (task.ended_at ? Date.parse(task.ended_at) : task.started_at ? now : begin)),
  );
  const span = end - begin;
  const ticks = [0, 0.25, 0.5, 0.75, 1];

  return (
    <Box p="md" data-testid="run-timeline" style={{ overflow: "auto" }}>
      <div style={{ display: "flex", marginLeft: LABEL_WIDTH, position: "relative", height: 18 }}>
        {ticks.map((tick) => (
          <Text
            key={tick}
            size="xs"
            c="dimmed"
            style={{
              position: "absolute",
              whiteSpace: "nowrap",
              left: `${tick * 100}%`,
              transform: tick === 1 ? "translateX(-100%)" : undefined,
            }}
          >
            {formatDuration((span * tick) / 1000)}
          </Text>
        ))}
      </div>
      {rows.map((task) => {
        const start = task.started_at ? Date.parse(task.started_at) : null;
        const stop = task.ended_at ? Date.parse(task.ended_at) : now;
        const left = start == null ? 0 : ((start - begin) / span) * 100;
        const width = start == null ? 0 : Math.max(0.5, ((stop - start) / span) * 100);
        const selected = task.task_id === selectedTaskId;
        return (
          <UnstyledButton
            key={task.task_id}
            onClick={() => onSelectTask(task.task_id)}
            aria-label={`Task ${task.task_id}: ${stateLabel(task.state)}, ${formatDuration(task.duration)}`}
            data-testid={`timeline-task-${task.task_id}`}
            data-state={task.state ?? "none"}
            style={{
              display: "flex",
              alignItems: "center",
              width: "100%",
              height: 28,
              background: selected ? "var(--mantine-color-blue-0)" : undefined,
            }}
          >
            <Text size="sm" w={LABEL_WIDTH} truncate pr="xs">
              {task.task_id}
            </Text>
            <div
              style={{
                position: "relative",
                flex: 1,
                height: "100%",
                borderLeft: "1px solid var(--mantine-color-gray-3)",
              }}
            >
              {start != null && (
                <Tooltip
                  label={`${stateLabel(task.state)} · ${formatDuration(task.duration ?? (stop - start) / 1000)}`}
                >
                  <div
                    style={{
                      position: "absolute",
                      top: 6,
                      bottom: 6,
                      left: `${left}%`,
                      width: `${width}%`,
                      borderRadius: 3,
                      background: `var(--mantine-color-${stateColour(task.state)}-5)`,
                    }}
                  />
                </Tooltip>
              )}
            </div>
          </UnstyledButton>
        );
      })}
    </Box>
  );
}
