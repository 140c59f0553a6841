// A task's outputs (its output.json) as a JSON tree, once it has produced them.
import { Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";

import { api, ApiError, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { JsonTree } from "../components/JsonTree";
import { type TaskRef, taskPath } from "./useRun";

export function TaskOutputs({ task, state }: { task: TaskRef; state: string | null }) {
  const output = useQuery({
    queryKey: ["output", task.workspaceId, task.workflowId, task.runId, task.taskId, state],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/output", {
          params: { path: taskPath(task) },
        }),
      ),
    retry: false,
  });
  if (output.isError) {
    if (output.error instanceof ApiError && output.error.body.status === 404) {
      return (
        <Text size="sm" c="dimmed" data-testid="task-outputs">
          {state === "success"
            ? "The task produced no outputs."
            : "No outputs yet: a task writes them when it succeeds."}
        </Text>
      );
    }
    return <ApiErrorAlert error={output.error} onRetry={() => output.refetch()} />;
  }
  if (!output.data) return null;
  return <JsonTree value={output.data} data-testid="task-outputs" />;
}
