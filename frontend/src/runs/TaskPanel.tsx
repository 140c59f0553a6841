// The selected task of a run: its state, timing and where it ran, retry, and its log, outputs
// and results.
import { Button, CloseButton, Group, Stack, Tabs, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RunStateBadge, formatDuration, formatTime } from "../components/RunStateBadge";
import type { RunTask } from "./runGraph";
import { TaskLog } from "./TaskLog";
import { TaskOutputs } from "./TaskOutputs";
import { TaskPlacement } from "./TaskPlacement";
import { TaskResults } from "./TaskResults";
import { type RunRef, runQueryKey, taskPath } from "./useRun";

const FINISHED = new Set(["success", "failed", "upstream_failed", "skipped", "removed"]);

interface Props {
  run: RunRef;
  taskId: string;
  task: RunTask | undefined;
  operator: string;
  canRetry: boolean;
  tab: string;
  onTabChange: (tab: string) => void;
  onClose: () => void;
}

export function TaskPanel({ run, taskId, task, operator, canRetry, tab, onTabChange, onClose }: Props) {
  const client = useQueryClient();
  const ref = { ...run, taskId };
  const state = task?.state ?? null;
  const retry = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/retry", {
          params: { path: taskPath(ref) },
        }),
      ),
    onSuccess: (detail) => {
      client.setQueryData(runQueryKey(run), detail);
      return client.invalidateQueries({ queryKey: runQueryKey(run) });
    },
  });
  // A new try appends to the log: read it again from the start.
  const tryKey = `${taskId}:${task?.try_number ?? 0}`;

  return (
    <Stack gap="xs" p="sm" h="100%" style={{ minHeight: 0 }} data-testid="task-panel">
      <Group justify="space-between" wrap="nowrap">
        <div style={{ minWidth: 0 }}>
          <Title order={5} style={{ wordBreak: "break-all" }}>
            {taskId}
          </Title>
          <Text size="xs" c="dimmed">
            {operator}
          </Text>
        </div>
        <CloseButton onClick={onClose} aria-label="Close the task panel" data-testid="task-panel-close" />
      </Group>
      <Group gap="xs">
        <RunStateBadge state={state} testId="task-state" />
        <Text size="xs" c="dimmed">
          try {task?.try_number ?? 0} · started {formatTime(task?.started_at)} · {formatDuration(task?.duration)}
        </Text>
      </Group>
      <TaskPlacement placement={task?.placement} />
      {canRetry && (
        <Group gap="xs">
          <Button
            size="xs"
            variant="light"
            disabled={!state || !FINISHED.has(state)}
            loading={retry.isPending}
            onClick={() => retry.mutate()}
            aria-label={`Retry ${taskId}`}
            data-testid="task-retry"
          >
            Retry task
          </Button>
          <Text size="xs" c="dimmed">
            {state && FINISHED.has(state) ? "runs it again, then the tasks after it" : "possible once it has finished"}
          </Text>
        </Group>
      )}
      {retry.isError && <ApiErrorAlert error={retry.error} onClose={() => retry.reset()} />}
      <Tabs
        value={tab}
        onChange={(value) => value && onTabChange(value)}
        keepMounted={false}
        style={{ flex: 1, minHeight: 0, display: "flex", flexDirection: "column" }}
      >
        <Tabs.List>
          <Tabs.Tab value="log" data-testid="task-tab-log">
            Log
          </Tabs.Tab>
          <Tabs.Tab value="outputs" data-testid="task-tab-outputs">
            Outputs
          </Tabs.Tab>
          <Tabs.Tab value="results" data-testid="task-tab-results">
            Results
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="log" pt="xs" style={{ flex: 1, minHeight: 0, display: "flex", flexDirection: "column" }}>
          <TaskLog key={tryKey} task={ref} />
        </Tabs.Panel>
        <Tabs.Panel value="outputs" pt="xs" style={{ flex: 1, minHeight: 0, overflow: "auto" }}>
          <TaskOutputs task={ref} state={state} />
        </Tabs.Panel>
        <Tabs.Panel
          value="results"
          pt="xs"
          style={{ flex: 1, minHeight: 0, overflow: "auto", display: "flex", flexDirection: "column" }}
        >
          <TaskResults task={ref} state={state} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
