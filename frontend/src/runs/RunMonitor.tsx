// A run, live: the workflow's graph (or a timeline) with each task's state, and the selected
// task's log, outputs and results; cancel the run, retry a task.
import { Alert, Anchor, Box, Breadcrumbs, Button, Group, Loader, SegmentedControl, Text } from "@mantine/core";
import { useHotkeys } from "@mantine/hooks";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RunStateBadge, formatDuration, formatTime, isRunFinished } from "../components/RunStateBadge";
import { roleAllows, useWorkspace, useWorkspaceId } from "../workspaces/useWorkspace";
import { documentTasks } from "./runGraph";
import { RunGraphView } from "./RunGraphView";
import { runHistoryPath } from "./runLinks";
import { RunTimeline } from "./RunTimeline";
import { TaskPanel } from "./TaskPanel";
import { type RunRef, runPath, runQueryKey, useDeployedDocument, useRunDetail } from "./useRun";

export function RunMonitor() {
  const workspaceId = useWorkspaceId();
  const params = useParams();
  const ref: RunRef = { workspaceId, workflowId: Number(params.workflowId), runId: params.runId ?? "" };
  const role = useWorkspace(workspaceId).data?.role;
  const canWrite = role === undefined || roleAllows(role, "write");
  const [search, setSearch] = useSearchParams();
  const selected = search.get("task");
  const view = search.get("view") === "timeline" ? "timeline" : "graph";
  const tab = search.get("tab") ?? "log";
  const run = useRunDetail(ref);
  const { workflow, document } = useDeployedDocument(workspaceId, ref.workflowId);

  function update(changes: Record<string, string | null>) {
    const next = new URLSearchParams(search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setSearch(next, { replace: true });
  }
  useHotkeys([["Escape", () => update({ task: null })]]);

  const tasks = run.data?.tasks ?? [];
  const docTasks = documentTasks(document);
  const operatorOf = (taskId: string) => docTasks.find((task) => task.id === taskId)?.operator?.name ?? "";

  return (
    <Box style={{ flex: 1, minHeight: 0, display: "flex", flexDirection: "column" }} data-testid="run-monitor">
      <Group
        justify="space-between"
        px="md"
        py="xs"
        wrap="nowrap"
        style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }}
      >
        <Group gap="sm" wrap="nowrap" style={{ minWidth: 0 }}>
          <Breadcrumbs>
            <Anchor component={Link} to={`/w/${workspaceId}/workflows`} size="sm">
              Workflows
            </Anchor>
            <Anchor
              component={Link}
              to={runHistoryPath(workspaceId, ref.workflowId)}
              size="sm"
              data-testid="run-history-link"
            >
              {workflow.data?.name ?? "…"} runs
            </Anchor>
            <Text size="sm" ff="monospace" truncate maw={320} title={ref.runId}>
              {ref.runId}
            </Text>
          </Breadcrumbs>
          {run.data && <RunStateBadge state={run.data.state} />}
        </Group>
        <Group gap="sm" wrap="nowrap">
          {run.data && (
            <Text size="xs" c="dimmed" data-testid="run-times">
              started {formatTime(run.data.started_at ?? run.data.queued_at)} · {formatDuration(run.data.duration)}
            </Text>
          )}
          {run.data && canWrite && !isRunFinished(run.data.state) && <CancelRun run={ref} />}
        </Group>
      </Group>
      {run.isError && (
        <Box p="md">
          <ApiErrorAlert error={run.error} title="This run cannot be shown" onRetry={() => run.refetch()} />
          <Button component={Link} to={runHistoryPath(workspaceId, ref.workflowId)} mt="sm" variant="light">
            Back to the workflow's runs
          </Button>
        </Box>
      )}
      {run.isPending && <Loader m="md" aria-label="Loading the run" />}
      {run.data && (
        <div style={{ flex: 1, minHeight: 0, display: "flex" }}>
          <div style={{ flex: 1, minWidth: 0, position: "relative", display: "flex", flexDirection: "column" }}>
            <Group px="md" py={6} gap="sm">
              <SegmentedControl
                size="xs"
                value={view}
                onChange={(value) => update({ view: value === "graph" ? null : value })}
                data={[
                  { value: "graph", label: "Graph" },
                  { value: "timeline", label: "Timeline" },
                ]}
                aria-label="Show the run as"
                data-testid="run-view"
              />
              {!selected && (
                <Text size="xs" c="dimmed">
                  Click a task to see its log, outputs and results.
                </Text>
              )}
            </Group>
            {workflow.isError && (
              <Alert color="yellow" mx="md" mb="xs">
                The workflow's graph is unavailable ({workflow.error.message}); the tasks are shown without their links.
              </Alert>
            )}
            <div style={{ flex: 1, minHeight: 0, overflow: view === "timeline" ? "auto" : undefined }}>
              {view === "graph" ? (
                <RunGraphView
                  document={document}
                  tasks={tasks}
                  selectedTaskId={selected}
                  onSelectTask={(task) => update({ task })}
                />
              ) : (
                <RunTimeline
                  tasks={tasks}
                  order={docTasks.map((task) => task.id)}
                  selectedTaskId={selected}
                  onSelectTask={(task) => update({ task })}
                />
              )}
            </div>
          </div>
          {selected && (
            <div
              style={{ width: 480, flexShrink: 0, borderLeft: "1px solid var(--mantine-color-gray-3)", minHeight: 0 }}
            >
              <TaskPanel
                key={selected}
                run={ref}
                taskId={selected}
                task={tasks.find((task) => task.task_id === selected)}
                operator={operatorOf(selected)}
                canRetry={canWrite}
                tab={tab}
                onTabChange={(value) => update({ tab: value === "log" ? null : value })}
                onClose={() => update({ task: null })}
              />
            </div>
          )}
        </div>
      )}
    </Box>
  );
}

function CancelRun({ run }: { run: RunRef }) {
  const client = useQueryClient();
  const cancel = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/cancel", {
          params: { path: runPath(run) },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: runQueryKey(run) }),
  });
  return (
    <Group gap="xs" wrap="nowrap">
      {cancel.isError && <ApiErrorAlert error={cancel.error} onClose={() => cancel.reset()} />}
      <Button
        size="xs"
        color="red"
        variant="light"
        loading={cancel.isPending}
        onClick={() => cancel.mutate()}
        data-testid="run-cancel"
      >
        Cancel run
      </Button>
    </Group>
  );
}
