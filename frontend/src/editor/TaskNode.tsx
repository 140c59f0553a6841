// A task on the canvas: its operator's label and colours, its id, a badge with its problems.
import { Badge, Box, Group, Text } from "@mantine/core";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { memo } from "react";

import type { Direction } from "./layout";
import { NODE_HEIGHT, NODE_WIDTH } from "./layout";
import type { OperatorLook } from "./operators";
import { OperatorIcon } from "./OperatorIcon";

export interface TaskNodeData extends Record<string, unknown> {
  taskId: string;
  look: OperatorLook;
  problems: number;
  direction: Direction;
  /** False when the workspace has no such operator (or version). */
  known: boolean;
  operatorName: string;
}

export type TaskFlowNode = Node<TaskNodeData, "task">;

export const TaskNode = memo(function TaskNode({ data, selected }: NodeProps<TaskFlowNode>) {
  const { look, taskId, problems, direction, known } = data;
  const vertical = direction === "TB";
  const status = problems > 0 ? `, ${problems} problem${problems > 1 ? "s" : ""}` : "";
  return (
    <Box
      data-testid={`task-node-${taskId}`}
      aria-label={`Task ${taskId}: ${look.label}${status}`}
      w={NODE_WIDTH}
      h={NODE_HEIGHT}
      px={8}
      style={{
        display: "flex",
        alignItems: "center",
        borderRadius: 8,
        background: look.background,
        color: look.color,
        border: `2px solid ${problems > 0 ? "var(--mantine-color-red-6)" : selected ? "var(--mantine-color-blue-6)" : "rgba(0,0,0,0.15)"}`,
        boxShadow: selected ? "0 0 0 3px var(--mantine-color-blue-2)" : undefined,
      }}
    >
      <Handle type="target" position={vertical ? Position.Top : Position.Left} />
      <Group gap={8} wrap="nowrap" style={{ minWidth: 0, flex: 1 }}>
        <OperatorIcon look={look} />
        <Box style={{ minWidth: 0, flex: 1 }}>
          <Text size="sm" fw={600} truncate>
            {look.label}
          </Text>
          <Text size="xs" truncate opacity={0.75}>
            {taskId}
            {known ? "" : ` · unknown operator ${data.operatorName}`}
          </Text>
        </Box>
        {problems > 0 && (
          <Badge
            color="red"
            size="sm"
            circle
            data-testid={`task-problems-${taskId}`}
            aria-label={`${problems} problems`}
          >
            {problems}
          </Badge>
        )}
      </Group>
      <Handle type="source" position={vertical ? Position.Bottom : Position.Right} />
    </Box>
  );
});
