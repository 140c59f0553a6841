// A workflow's runs, newest first: filter by state, page through, open one in the monitor.
import {
  Anchor,
  Breadcrumbs,
  Button,
  Code,
  Container,
  Group,
  Loader,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Title,
} from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";

import { api, ApiError, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RunStateBadge, formatDuration, formatTime, isRunFinished } from "../components/RunStateBadge";
import { ListTable } from "../components/ListTable";
import { useRunWorkflowNow } from "../workflows/useWorkflowActions";
import { roleAllows, useWorkspace, useWorkspaceId } from "../workspaces/useWorkspace";
import { runMonitorPath } from "./runLinks";
import { useWorkflow } from "./useRun";

export const RUNS_PAGE_SIZE = 25;
const STATES = ["queued", "running", "success", "failed"] as const;
type RunStateFilter = (typeof STATES)[number];

export function RunHistory() {
  const workspaceId = useWorkspaceId();
  const workflowId = Number(useParams().workflowId);
  const navigate = useNavigate();
  const role = useWorkspace(workspaceId).data?.role;
  const canWrite = role === undefined || roleAllows(role, "write");
  const workflow = useWorkflow(workspaceId, workflowId);
  const runNow = useRunWorkflowNow(workspaceId);
  const [search, setSearch] = useSearchParams();
  const state = STATES.find((s) => s === search.get("state")) ?? null;
  const page = Math.max(0, Number(search.get("page") ?? 0) || 0);

  const runs = useQuery({
    queryKey: ["workspaces", workspaceId, "workflows", workflowId, "runs", { state, page }],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs", {
          params: {
            path: { workspace_id: workspaceId, workflow_id: workflowId },
            query: {
              state: state ? [state as RunStateFilter] : undefined,
              limit: RUNS_PAGE_SIZE,
              offset: page * RUNS_PAGE_SIZE,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    enabled: workflow.data?.deployed_version != null,
    refetchInterval: (query) => (query.state.data?.some((run) => !isRunFinished(run.state)) ? 3000 : false),
  });

  function go(changes: { state?: string | null; page?: number }) {
    const next = new URLSearchParams(search);
    if (changes.state !== undefined) {
      if (changes.state) next.set("state", changes.state);
      else next.delete("state");
      next.delete("page");
    }
    if (changes.page !== undefined) {
      if (changes.page) next.set("page", String(changes.page));
      else next.delete("page");
    }
    setSearch(next);
  }

  const neverDeployed = workflow.data && workflow.data.deployed_version == null;
  const notDeployedError = runs.error instanceof ApiError && runs.error.body.status === 409;

  return (
    <Container size="xl" w="100%" py="md">
      <Stack>
        <Breadcrumbs>
          <Anchor component={Link} to={`/w/${workspaceId}/workflows`} size="sm">
            Workflows
          </Anchor>
          <Text size="sm">{workflow.data?.name ?? "…"}</Text>
        </Breadcrumbs>
        <Group justify="space-between">
          <Title order={3}>Runs of {workflow.data?.name ?? "the workflow"}</Title>
          <Group>
            <Button
              variant="light"
              component={Link}
              to={`/w/${workspaceId}/workflows/${workflowId}/edit`}
              data-testid="history-edit"
            >
              Edit workflow
            </Button>
            {canWrite && workflow.data && (
              <Button
                onClick={() => runNow.mutate(workflow.data)}
                loading={runNow.isPending}
                data-testid="history-run-now"
              >
                Run now
              </Button>
            )}
          </Group>
        </Group>
        {workflow.isError && <ApiErrorAlert error={workflow.error} onRetry={() => workflow.refetch()} />}
        {runNow.isError && (
          <ApiErrorAlert title="The run did not start" error={runNow.error} onClose={() => runNow.reset()} />
        )}
        <SegmentedControl
          w="fit-content"
          value={state ?? "all"}
          onChange={(value) => go({ state: value === "all" ? null : value })}
          data={["all", ...STATES].map((value) => ({ value, label: value }))}
          aria-label="Only runs in the state"
          data-testid="runs-state-filter"
        />
        {(neverDeployed || notDeployedError) && (
          <Text c="dimmed" data-testid="runs-empty">
            This workflow has never been deployed, so it has no runs: start one with Run now.
          </Text>
        )}
        {runs.isError && !notDeployedError && <ApiErrorAlert error={runs.error} onRetry={() => runs.refetch()} />}
        {runs.isPending && !neverDeployed && workflow.data && <Loader aria-label="Loading runs" />}
        {runs.data?.length === 0 && (
          <Text c="dimmed" data-testid="runs-empty">
            {page > 0 ? "No more runs." : state ? `No ${state} run.` : "No run yet: start one with Run now."}
          </Text>
        )}
        {!!runs.data?.length && (
          <ListTable
            titles={["State", "Run", "Started", "Duration", "Parameters"]}
            highlightOnHover
            data-testid="runs-table"
          >
            {runs.data.map((run) => {
              const to = runMonitorPath(workspaceId, workflowId, run.run_id);
              return (
                <Table.Tr
                  key={run.run_id}
                  data-testid={`run-row-${run.run_id}`}
                  style={{ cursor: "pointer" }}
                  onClick={() => navigate(to)}
                >
                  <Table.Td>
                    <RunStateBadge state={run.state} />
                  </Table.Td>
                  <Table.Td>
                    <Anchor
                      component={Link}
                      to={to}
                      size="sm"
                      ff="monospace"
                      onClick={(e) => e.stopPropagation()}
                      aria-label={`Open run ${run.run_id}`}
                    >
                      {run.run_id}
                    </Anchor>
                    {run.run_type && (
                      <Text size="xs" c="dimmed">
                        {run.run_type}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{formatTime(run.started_at ?? run.queued_at)}</Table.Td>
                  <Table.Td>{formatDuration(run.duration)}</Table.Td>
                  <Table.Td>
                    {Object.keys(run.parameters).length ? (
                      <Code style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
                        {JSON.stringify(run.parameters)}
                      </Code>
                    ) : (
                      "—"
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </ListTable>
        )}
        {(page > 0 || (runs.data?.length ?? 0) === RUNS_PAGE_SIZE) && (
          <Group>
            <Button
              variant="default"
              size="xs"
              disabled={page === 0}
              onClick={() => go({ page: page - 1 })}
              data-testid="runs-newer"
            >
              Newer
            </Button>
            <Text size="sm">Page {page + 1}</Text>
            <Button
              variant="default"
              size="xs"
              disabled={(runs.data?.length ?? 0) < RUNS_PAGE_SIZE}
              onClick={() => go({ page: page + 1 })}
              data-testid="runs-older"
            >
              Older
            </Button>
          </Group>
        )}
      </Stack>
    </Container>
  );
}
