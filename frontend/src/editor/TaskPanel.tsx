// The selected task: its id, its inputs (forms from the operator's input schema) and settings.
import { Alert, Badge, Button, Group, Loader, Stack, Tabs, Text, TextInput } from "@mantine/core";
import { useEffect, useMemo, useState } from "react";

import type { UpstreamCandidate } from "./compatibility";
import { ancestors, findTask, renameTask, TASK_ID_PATTERN } from "./document";
import { InputField } from "./InputField";
import { operatorStyle } from "./operators";
import { useOperatorDetail, useOperatorDetails, useOperatorIndex } from "./queries";
import { useDoc, useEditor } from "./store";
import { TaskSettings } from "./TaskSettings";
import { operatorKey, type ContainerResources, type JsonSchema } from "./types";

export function TaskPanel({ workspaceId, taskId }: { workspaceId: number; taskId: string }) {
  const doc = useDoc();
  const task = findTask(doc, taskId);
  const index = useOperatorIndex(workspaceId);
  const summary = task ? index.get(operatorKey(task.operator)) : undefined;
  const detail = useOperatorDetail(workspaceId, summary?.id);
  const allProblems = useEditor((s) => s.problems);
  const problems = useMemo(() => allProblems.filter((p) => p.target.taskId === taskId), [allProblems, taskId]);

  // Upstream tasks and their operators' output schemas, for bindings.
  const upstreamTasks = useMemo(() => {
    const up = ancestors(doc, taskId);
    return doc.tasks.filter((t) => up.has(t.id)); // in the document's order
  }, [doc, taskId]);
  const details = useOperatorDetails(
    workspaceId,
    upstreamTasks.map((t) => t.operator),
  );
  const upstream: UpstreamCandidate[] = useMemo(
    () =>
      upstreamTasks.map((t) => ({
        taskId: t.id,
        outputSchema: details.get(operatorKey(t.operator))?.output_schema as JsonSchema | null | undefined,
      })),
    [upstreamTasks, details],
  );
  const parameters = Object.keys((doc.parameters?.properties as Record<string, unknown> | undefined) ?? {});

  if (!task) return null;
  const inputSchema = (detail.data?.input_schema ?? null) as JsonSchema | null;
  const properties = (inputSchema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((inputSchema?.required as string[] | undefined) ?? []);
  const defs = inputSchema?.$defs as Record<string, unknown> | undefined;
  const taskProblems = problems.filter((p) => p.target.input === null);
  const unknownInputs = Object.keys(task.inputs ?? {}).filter((name) => inputSchema && !(name in properties));

  return (
    <Stack gap="sm">
      <Group gap={6} wrap="nowrap">
        <Text fw={700} truncate>
          {summary ? operatorStyle(summary).label : task.operator.name}
        </Text>
        <Badge variant="light" size="xs">
          {task.operator.version}
        </Badge>
      </Group>
      <Text size="xs" c="dimmed">
        {task.operator.repository} · {task.operator.name}
        {summary?.description ? ` — ${summary.description}` : ""}
      </Text>
      <TaskIdField taskId={taskId} />
      {!summary && index.size > 0 && (
        <Alert color="red" title="Unknown operator">
          This workspace has no operator {task.operator.name} {task.operator.version} in {task.operator.repository}:
          import or upgrade that repository in the workspace settings, or delete this task and add one from the palette.
        </Alert>
      )}
      {taskProblems.length > 0 && (
        <Alert color="red" title="To fix" data-testid="task-problems">
          {taskProblems.map((p, i) => (
            <Text size="sm" key={i}>
              {p.pointer.split("/").slice(3).join("/") || "task"}: {p.message}
            </Text>
          ))}
        </Alert>
      )}
      <Tabs defaultValue="inputs" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="inputs">Inputs</Tabs.Tab>
          <Tabs.Tab value="settings">Settings</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="inputs" pt="xs">
          {detail.isPending && summary && <Loader size="sm" aria-label="Loading the operator's inputs" />}
          {detail.isError && (
            <Alert color="red">
              Could not load the operator's inputs: {detail.error.message}.{" "}
              <Button size="compact-xs" variant="light" onClick={() => detail.refetch()}>
                Try again
              </Button>
            </Alert>
          )}
          {detail.data && Object.keys(properties).length === 0 && <Text size="sm">This operator takes no input.</Text>}
          {Object.entries(properties).map(([name, schema]) => (
            <InputField
              key={`${taskId}:${name}`}
              workspaceId={workspaceId}
              taskId={taskId}
              name={name}
              schema={schema}
              defs={defs}
              required={required.has(name)}
              input={task.inputs?.[name]}
              upstream={upstream}
              parameters={parameters}
              problems={problems.filter((p) => p.target.input === name)}
            />
          ))}
          {unknownInputs.length > 0 && (
            <Text size="xs" c="red">
              Inputs the operator does not have: {unknownInputs.join(", ")} (remove them by re-adding the task).
            </Text>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="settings" pt="xs">
          <TaskSettings
            workspaceId={workspaceId}
            task={task}
            operatorResources={detail.data?.container_resources as ContainerResources | null | undefined}
            problems={taskProblems}
          />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function TaskIdField({ taskId }: { taskId: string }) {
  const doc = useDoc();
  const edit = useEditor((s) => s.edit);
  const select = useEditor((s) => s.select);
  const [draft, setDraft] = useState(taskId);
  useEffect(() => setDraft(taskId), [taskId]);
  const error =
    draft === taskId
      ? undefined
      : !TASK_ID_PATTERN.test(draft)
        ? "Start with a letter; then letters, digits, _ or - (100 at most)"
        : findTask(doc, draft)
          ? "Another task has this id: choose another"
          : undefined;
  const commit = () => {
    if (draft === taskId || error) return setDraft(taskId);
    edit((d) => renameTask(d, taskId, draft));
    select([draft]);
  };
  return (
    <TextInput
      label="Task id"
      size="xs"
      value={draft}
      error={error}
      onChange={(event) => setDraft(event.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(event) => event.key === "Enter" && commit()}
      data-testid="task-id-input"
    />
  );
}
