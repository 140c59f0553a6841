// One workflow in the list: its schedule, next and last run, and what can be done with it.
import { Button, Group, Switch, Table, Text, Tooltip } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";

import { api, type Schemas, unwrap } from "../api/client";
import { RowAction, RowActions } from "../components/RowActions";
import { RunStateBadge, formatTime, isRunFinished } from "../components/RunStateBadge";
import { runHistoryPath, runMonitorPath } from "../runs/runLinks";
import { describeSchedule } from "./schedule";

type Workflow = Schemas["WorkflowOut"];

interface Props {
  workspaceId: number;
  workflow: Workflow;
  canWrite: boolean;
  running: boolean;
  pausing: boolean;
  onRun: () => void;
  onSetPaused: (paused: boolean) => void;
  onDelete: () => void;
}

export function WorkflowRow({
  workspaceId,
  workflow,
  canWrite,
  running,
  pausing,
  onRun,
  onSetPaused,
  onDelete,
}: Props) {
  const name = workflow.name;
  const deployed = workflow.deployed_version != null;
  // The server tells it from the deployed version's schedule, as Airflow will run it.
  const next = workflow.next_run_at ? new Date(workflow.next_run_at) : null;
  const noNextRun = !deployed
    ? "not deployed"
    : workflow.is_paused
      ? "paused"
      : workflow.schedule.type === "none"
        ? "manual only"
        : "none scheduled";

  return (
    <Table.Tr data-testid={`workflow-row-${name}`}>
      <Table.Td>
        <Text fw={600} component={Link} to={`${workflow.id}/edit`} aria-label={`Edit ${name}`}>
          {name}
        </Text>
        {workflow.description && (
          <Text size="xs" c="dimmed" lineClamp={1} maw={320}>
            {workflow.description}
          </Text>
        )}
        {deployed && workflow.deployed_version !== workflow.current_version && (
          <Text size="xs" c="orange.8">
            version {workflow.current_version} not deployed yet (runs use {workflow.deployed_version})
          </Text>
        )}
      </Table.Td>
      <Table.Td data-testid="workflow-schedule">
        <Text size="sm">{describeSchedule(workflow.schedule)}</Text>
        {workflow.schedule.type === "cron" && (
          <Text size="xs" c="dimmed" ff="monospace">
            {workflow.schedule.expression}
          </Text>
        )}
      </Table.Td>
      <Table.Td data-testid="workflow-next-run">
        {next ? (
          <Tooltip label={`${next.toISOString().slice(0, 16).replace("T", " ")} UTC`}>
            <Text size="sm">{next.toLocaleString()}</Text>
          </Tooltip>
        ) : (
          <Text size="sm" c="dimmed">
            — {noNextRun}
          </Text>
        )}
      </Table.Td>
      <Table.Td data-testid="workflow-last-run">
        {deployed ? (
          <LastRun workspaceId={workspaceId} workflowId={workflow.id} />
        ) : (
          <Text size="sm" c="dimmed">
            never deployed
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Switch
          checked={!workflow.is_paused}
          disabled={!canWrite || pausing}
          onChange={(e) => onSetPaused(!e.currentTarget.checked)}
          aria-label={workflow.is_paused ? `Resume ${name}` : `Pause ${name}`}
          data-testid={`workflow-active-${name}`}
        />
      </Table.Td>
      <Table.Td>
        <RowActions>
          {canWrite && (
            <Tooltip label="Resume it first: paused workflows do not run" disabled={!workflow.is_paused}>
              <Button
                size="xs"
                onClick={onRun}
                loading={running}
                disabled={workflow.is_paused}
                aria-label={`Run ${name} now`}
                data-testid={`workflow-run-${name}`}
              >
                Run
              </Button>
            </Tooltip>
          )}
          <Button
            size="xs"
            variant="light"
            component={Link}
            to={`${workflow.id}/edit`}
            aria-label={`Edit ${name}`}
            data-testid={`workflow-edit-${name}`}
          >
            Edit
          </Button>
          <Button
            size="xs"
            variant="light"
            component={Link}
            to={runHistoryPath(workspaceId, workflow.id)}
            aria-label={`Run history of ${name}`}
            data-testid={`workflow-history-${name}`}
          >
            History
          </Button>
          {canWrite && (
            <RowAction
              label="Delete"
              target={name}
              destructive
              onClick={onDelete}
              data-testid={`workflow-delete-${name}`}
            />
          )}
        </RowActions>
      </Table.Td>
    </Table.Tr>
  );
}

function LastRun({ workspaceId, workflowId }: { workspaceId: number; workflowId: number }) {
  const last = useQuery({
    queryKey: ["workspaces", workspaceId, "workflows", workflowId, "runs", { limit: 1 }],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId }, query: { limit: 1 } },
        }),
      ),
    // Follow a run in progress so that the list shows how it ended.
    refetchInterval: (query) => (query.state.data?.[0] && !isRunFinished(query.state.data[0].state) ? 3000 : false),
  });
  const run = last.data?.[0];
  if (last.isError) {
    return (
      <Text size="sm" c="red" title={last.error.message}>
        unknown
      </Text>
    );
  }
  if (!run)
    return (
      <Text size="sm" c="dimmed">
        {last.isPending ? "…" : "no run yet"}
      </Text>
    );
  return (
    <Group gap={6} wrap="nowrap">
      <Link
        to={runMonitorPath(workspaceId, workflowId, run.run_id)}
        aria-label={`Last run: ${run.state}`}
        style={{ textDecoration: "none" }}
      >
        <RunStateBadge state={run.state} />
      </Link>
      <Text size="xs" c="dimmed">
        {formatTime(run.started_at ?? run.queued_at)}
      </Text>
    </Group>
  );
}
