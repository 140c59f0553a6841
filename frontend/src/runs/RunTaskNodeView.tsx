// A task of the run on the graph: its id, operator, state (colour) and duration.
import { Text } from "@mantine/core";
import { Handle, type NodeProps, Position } from "@xyflow/react";
import { memo } from "react";

import { formatDuration, stateColour, stateLabel } from "../components/RunStateBadge";
import { NODE_HEIGHT, NODE_WIDTH, type RunTaskNode } from "./runGraph";

export const RunTaskNodeView = memo(function RunTaskNodeView({ data, selected }: NodeProps<RunTaskNode>) {
  const state = data.task?.state ?? null;
  const colour = `var(--mantine-color-${stateColour(state)}-6)`;
  return (
    <div
      data-testid={`run-task-${data.taskId}`}
      data-state={state ?? "none"}
      style={{
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        boxSizing: "border-box",
        padding: "6px 10px",
        background: `var(--mantine-color-${stateColour(state)}-0)`,
        borderStyle: "solid",
        borderWidth: "2px 2px 2px 8px",
        borderColor: colour,
        borderRadius: 6,
        boxShadow: selected ? `0 0 0 3px var(--mantine-color-blue-3)` : undefined,
        cursor: "pointer",
      }}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Text size="sm" fw={600} truncate>
        {data.taskId}
      </Text>
      <Text size="xs" c="dimmed" truncate>
        {data.operator}
      </Text>
      <Text size="xs" c={colour} fw={500} truncate>
        {stateLabel(state)}
        {data.task?.duration != null && ` · ${formatDuration(data.task.duration)}`}
        {data.task && data.task.try_number > 1 && ` · try ${data.task.try_number}`}
      </Text>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});
