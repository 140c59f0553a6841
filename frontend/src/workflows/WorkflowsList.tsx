// The workspace's workflows: schedule, next and last run, pause/resume, run, edit, history,
// delete; create a new one or import one from a JSON file.
import { Button, Container, FileButton, Group, Loader, Stack, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { keepPreviousData, useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ListTable } from "../components/ListTable";
import { useWorkspace, useWorkspaceId } from "../workspaces/useWorkspace";
import { roleAllows } from "../workspaces/useWorkspace";
import { useDeleteWorkflow, useImportWorkflow, useRunWorkflowNow, useSetWorkflowPaused } from "./useWorkflowActions";
import { WorkflowRow } from "./WorkflowRow";

type Workflow = Schemas["WorkflowOut"];

const PAGE_SIZE = 100;

export function WorkflowsList() {
  const workspaceId = useWorkspaceId();
  const role = useWorkspace(workspaceId).data?.role;
  const canWrite = role === undefined || roleAllows(role, "write");
  const [search, setSearch] = useState("");
  const [debounced] = useDebouncedValue(search.trim(), 250);
  const [deleting, setDeleting] = useState<Workflow | null>(null);
  // Pages of the list, by name; "Show more" asks for the next one.
  const pages = useInfiniteQuery({
    queryKey: ["workspaces", workspaceId, "workflows", { search: debounced }],
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows", {
          params: {
            path: { workspace_id: workspaceId },
            query: { search: debounced || undefined, limit: PAGE_SIZE, offset: pageParam },
          },
        }),
      ),
    initialPageParam: 0,
    getNextPageParam: (last, all) => (last.length === PAGE_SIZE ? all.length * PAGE_SIZE : undefined),
    placeholderData: keepPreviousData,
  });
  const workflows = pages.data?.pages.flat();
  const run = useRunWorkflowNow(workspaceId);
  const setPaused = useSetWorkflowPaused(workspaceId);
  const remove = useDeleteWorkflow(workspaceId);
  const importing = useImportWorkflow(workspaceId);

  // The last failed action of the list, named after its workflow.
  const failed = [
    run.isError && { title: `${run.variables.name} did not start`, error: run.error, reset: run.reset },
    setPaused.isError && {
      title: `${setPaused.variables.workflow.name} was not ${setPaused.variables.paused ? "paused" : "resumed"}`,
      error: setPaused.error,
      reset: setPaused.reset,
    },
    importing.isError && { title: "The workflow was not imported", error: importing.error, reset: importing.reset },
  ].find(Boolean);

  return (
    <Container size="xl" w="100%" py="md">
      <Stack>
        <Group justify="space-between">
          <Title order={3}>Workflows</Title>
          <Group>
            <TextInput
              placeholder="Search by name"
              aria-label="Search workflows by name"
              value={search}
              onChange={(e) => setSearch(e.currentTarget.value)}
              data-testid="workflow-search"
            />
            {canWrite && (
              <>
                <FileButton accept="application/json,.json" onChange={(file) => file && importing.mutate(file)}>
                  {(props) => (
                    <Button {...props} variant="default" loading={importing.isPending} data-testid="import-workflow">
                      Import…
                    </Button>
                  )}
                </FileButton>
                <Button component={Link} to="new" data-testid="new-workflow">
                  New workflow
                </Button>
              </>
            )}
          </Group>
        </Group>
        {failed && (
          <ApiErrorAlert
            title={failed.title}
            error={failed.error}
            onClose={failed.reset}
            describeWhere={(where) => where.replace(/^\/(body\/)?(file|document)/, "")}
          />
        )}
        {pages.isPending && <Loader aria-label="Loading workflows" />}
        {pages.isError && <ApiErrorAlert error={pages.error} onRetry={() => pages.refetch()} />}
        {workflows?.length === 0 && (
          <Text c="dimmed" data-testid="workflows-empty">
            {debounced
              ? `No workflow's name contains "${debounced}".`
              : "No workflow yet: create one with New workflow, or import a JSON file."}
          </Text>
        )}
        {!!workflows?.length && (
          <ListTable
            titles={["Name", "Schedule", "Next run", "Last run", "Active"]}
            withActions
            highlightOnHover
            verticalSpacing="xs"
            data-testid="workflows-table"
          >
            {workflows.map((workflow) => (
              <WorkflowRow
                key={workflow.id}
                workspaceId={workspaceId}
                workflow={workflow}
                canWrite={canWrite}
                running={run.isPending && run.variables.id === workflow.id}
                pausing={setPaused.isPending && setPaused.variables.workflow.id === workflow.id}
                onRun={() => run.mutate(workflow)}
                onSetPaused={(paused) => setPaused.mutate({ workflow, paused })}
                onDelete={() => setDeleting(workflow)}
              />
            ))}
          </ListTable>
        )}
        {pages.hasNextPage && (
          <Group justify="center">
            <Button
              variant="default"
              loading={pages.isFetchingNextPage}
              onClick={() => pages.fetchNextPage()}
              data-testid="workflows-more"
            >
              Show more workflows
            </Button>
          </Group>
        )}
      </Stack>
      <ConfirmDialog
        opened={deleting != null}
        title={`Delete ${deleting?.name ?? "the workflow"}?`}
        confirmLabel="Delete"
        busy={remove.isPending}
        error={remove.error}
        onCancel={() => {
          setDeleting(null);
          remove.reset();
        }}
        onConfirm={() =>
          deleting &&
          remove.mutate(deleting, {
            onSuccess: () => setDeleting(null),
          })
        }
      >
        Its versions and its Airflow DAG are deleted; the logs and results of its runs stay on the server.
      </ConfirmDialog>
    </Container>
  );
}
