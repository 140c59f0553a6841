// What to fix: the problems the server found; clicking one selects its task (or the workflow).
import { Alert, CloseButton, Group, ScrollArea, Stack, Text, UnstyledButton } from "@mantine/core";
import { useReactFlow } from "@xyflow/react";

import type { EditorProblem } from "./problems";
import { useEditor } from "./store";

function where(problem: EditorProblem): string {
  const { taskId, taskIndex, input, field, path } = problem.target;
  if (taskId) return input ? `${taskId} › ${input}` : `${taskId}${field ? ` › ${field}` : ""}`;
  if (taskIndex !== null) return `task #${taskIndex + 1}`;
  if (field) return `workflow › ${path.join(" › ")}`;
  return "workflow";
}

export function ProblemsList() {
  const problems = useEditor((s) => s.problems);
  const setProblems = useEditor((s) => s.setProblems);
  const select = useEditor((s) => s.select);
  const { fitView } = useReactFlow();
  if (problems.length === 0) return null;

  const open = (problem: EditorProblem) => {
    const { taskId } = problem.target;
    if (taskId) {
      select([taskId]);
      void fitView({ nodes: [{ id: taskId }], duration: 300, maxZoom: 1.2 });
    } else {
      select([]);
    }
  };

  return (
    <Alert color="red" p="xs" data-testid="problems-list" aria-label="Problems to fix">
      <Group justify="space-between" mb={4}>
        <Text size="sm" fw={700}>
          {problems.length} problem{problems.length > 1 ? "s" : ""} to fix
        </Text>
        <CloseButton size="sm" aria-label="Hide the problems" onClick={() => setProblems([])} />
      </Group>
      <ScrollArea.Autosize mah={140}>
        <Stack gap={2}>
          {problems.map((problem, i) => (
            <UnstyledButton key={i} onClick={() => open(problem)} data-testid={`problem-${i}`}>
              <Text size="sm">
                <b>{where(problem)}</b>: {problem.message}
              </Text>
            </UnstyledButton>
          ))}
        </Stack>
      </ScrollArea.Autosize>
    </Alert>
  );
}
