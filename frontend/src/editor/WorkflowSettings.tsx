// The workflow's own settings, shown when no task is selected.
import { NumberInput, Stack, Switch, TagsInput, Text, TextInput, Textarea } from "@mantine/core";

import { updateWorkflow } from "./document";
import { ParametersEditor } from "./ParametersEditor";
import { fromLocalInput, ScheduleEditor, toLocalInput } from "./ScheduleEditor";
import { useDoc, useEditor } from "./store";
import type { WorkflowDoc } from "./types";

export function WorkflowSettings() {
  const doc = useDoc();
  const edit = useEditor((s) => s.edit);
  const problems = useEditor((s) => s.problems);
  const set = (field: string, patch: Partial<Omit<WorkflowDoc, "tasks">>) =>
    edit((d) => updateWorkflow(d, patch), `workflow:${field}`);
  const errorOf = (field: string) =>
    problems
      .filter((p) => p.target.taskId === null && p.target.field === field)
      .map((p) => p.message)
      .join("; ") || undefined;

  return (
    <Stack gap="sm" data-testid="workflow-settings">
      <Text fw={700}>Workflow</Text>
      <TextInput
        label="Name"
        required
        value={doc.name}
        onChange={(event) => set("name", { name: event.currentTarget.value })}
        error={errorOf("name") ?? (doc.name.trim() ? undefined : "Give the workflow a name")}
        data-testid="workflow-name"
      />
      <Textarea
        label="Description"
        autosize
        minRows={2}
        value={doc.description ?? ""}
        onChange={(event) => set("description", { description: event.currentTarget.value })}
        error={errorOf("description")}
      />
      <TagsInput
        label="Tags"
        value={doc.tags ?? []}
        onChange={(tags) => set("tags", { tags })}
        error={errorOf("tags")}
      />
      <ScheduleEditor
        schedule={doc.schedule ?? { type: "none" }}
        onChange={(schedule) => set("schedule", { schedule })}
        error={errorOf("schedule")}
      />
      <TextInput
        type="datetime-local"
        label="Start date"
        description="Runs are scheduled from then on (empty: now)."
        value={toLocalInput(doc.start_date)}
        onChange={(event) => set("start_date", { start_date: fromLocalInput(event.currentTarget.value) })}
        error={errorOf("start_date")}
      />
      <TextInput
        type="datetime-local"
        label="End date"
        description="No scheduled run after it (empty: none)."
        value={toLocalInput(doc.end_date)}
        onChange={(event) => set("end_date", { end_date: fromLocalInput(event.currentTarget.value) })}
        error={errorOf("end_date")}
      />
      <Switch
        label="Catch up missed runs since the start date"
        checked={doc.catchup ?? false}
        onChange={(event) => set("catchup", { catchup: event.currentTarget.checked })}
      />
      <NumberInput
        label="Max active runs"
        min={1}
        max={100}
        value={doc.max_active_runs ?? 1}
        onChange={(value) => set("max_active_runs", { max_active_runs: typeof value === "number" ? value : undefined })}
        error={errorOf("max_active_runs")}
      />
      <ParametersEditor
        parameters={doc.parameters}
        onChange={(parameters) => set("parameters", { parameters })}
        error={errorOf("parameters")}
      />
    </Stack>
  );
}
