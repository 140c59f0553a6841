// One input of the selected task: a value (a form from its JSON Schema), an upstream output
// (only type-compatible ones are offered) or a run parameter.
import { Box, Button, Group, SegmentedControl, Select, Stack, Text } from "@mantine/core";
import Form from "@rjsf/mantine";
import type { RJSFSchema } from "@rjsf/utils";
import { useEffect, useMemo, useRef, useState } from "react";

import { compatibleOutputs, typeLabel, type UpstreamCandidate } from "./compatibility";
import { updateWorkflow } from "./document";
import type { EditorProblem } from "./problems";
import { schemaFormTemplates, schemaFormValidator, schemaFormWidgets, transformSchemaErrors } from "./schemaForm";
import { useEditor } from "./store";
import { inputMode, type InputMode, type JsonSchema, type TaskInput, type WorkflowDoc } from "./types";

interface Props {
  workspaceId: number;
  taskId: string;
  name: string;
  schema: JsonSchema;
  defs: Record<string, unknown> | undefined;
  required: boolean;
  input: TaskInput | undefined;
  upstream: UpstreamCandidate[];
  parameters: string[];
  problems: EditorProblem[];
}

const UI_SCHEMA = { "ui:submitButtonOptions": { norender: true } };

export function InputField({
  workspaceId,
  taskId,
  name,
  schema,
  defs,
  required,
  input,
  upstream,
  parameters,
  problems,
}: Props) {
  const docMode = inputMode(input);
  const [mode, setMode] = useState<InputMode>(docMode);
  useEffect(() => setMode(docMode), [docMode, taskId]);
  const setInput = useEditor((s) => s.setInput);
  const armInput = useEditor((s) => s.armInput);
  const armed = useEditor((s) => s.armedInput);
  const type = typeLabel(schema, defs);

  const changeMode = (next: InputMode) => {
    setMode(next);
    if (next === "upstream") armInput({ taskId, input: name });
    else if (armed?.taskId === taskId && armed.input === name) armInput(null);
    if (next === "value" && docMode !== "value") setInput(taskId, name, undefined);
    if (next === "param" && parameters.includes(name)) setInput(taskId, name, { param: name });
  };

  return (
    <Box data-testid={`input-${name}`} py={6} style={{ borderTop: "1px solid var(--mantine-color-gray-2)" }}>
      <Group justify="space-between" gap={4}>
        <Text size="sm" fw={600} ff="monospace" truncate maw="100%">
          {name}
          {required ? " *" : ""}{" "}
          <Text span size="xs" c="dimmed" ff="inherit">
            {type}
          </Text>
        </Text>
        <SegmentedControl
          size="xs"
          aria-label={`Source of input ${name}`}
          value={mode}
          onChange={(value) => changeMode(value as InputMode)}
          data={[
            { value: "value", label: "value" },
            { value: "upstream", label: "upstream" },
            { value: "param", label: "parameter" },
          ]}
        />
      </Group>
      {mode === "value" && (
        <ValueForm workspaceId={workspaceId} taskId={taskId} name={name} schema={schema} defs={defs} input={input} />
      )}
      {mode === "upstream" && (
        <UpstreamSelect taskId={taskId} name={name} schema={schema} defs={defs} input={input} upstream={upstream} />
      )}
      {mode === "param" && (
        <ParamSelect taskId={taskId} name={name} schema={schema} input={input} parameters={parameters} />
      )}
      {problems.map((problem, i) => (
        <Text key={i} size="xs" c="red" role="alert" data-testid={`input-problem-${name}`}>
          {problem.message}
        </Text>
      ))}
    </Box>
  );
}

function ValueForm({
  workspaceId,
  taskId,
  name,
  schema,
  defs,
  input,
}: Pick<Props, "workspaceId" | "taskId" | "name" | "schema" | "defs" | "input">) {
  const setInput = useEditor((s) => s.setInput);
  const formSchema = useMemo(
    () => ({ title: name, ...withoutNull(schema), ...(defs ? { $defs: defs } : {}) }) as RJSFSchema,
    [schema, defs, name],
  );
  const value = input && "value" in input ? input.value : undefined;
  // rjsf reports its computed defaults as changes too: only what the user does edits the document.
  const touched = useRef(false);
  const touch = () => {
    touched.current = true;
  };
  return (
    <Box onKeyDownCapture={touch} onPointerDownCapture={touch} onPasteCapture={touch} onDropCapture={touch}>
      <Form
        schema={formSchema}
        uiSchema={UI_SCHEMA}
        validator={schemaFormValidator}
        widgets={schemaFormWidgets}
        templates={schemaFormTemplates}
        formContext={{ workspaceId }}
        transformErrors={transformSchemaErrors}
        formData={value}
        idPrefix={`task-${taskId}-${name}`}
        liveValidate="onChange"
        showErrorList={false}
        onChange={(event) => {
          const next = event.formData;
          if (!touched.current || JSON.stringify(next) === JSON.stringify(value)) return;
          setInput(taskId, name, next === undefined ? undefined : { value: next });
        }}
      />
    </Box>
  );
}

const SEP = "\u0000";

function UpstreamSelect({
  taskId,
  name,
  schema,
  defs,
  input,
  upstream,
}: Pick<Props, "taskId" | "name" | "schema" | "defs" | "input" | "upstream">) {
  const setInput = useEditor((s) => s.setInput);
  const options = useMemo(() => compatibleOutputs(schema, defs, upstream), [schema, defs, upstream]);
  const current = input && "from" in input ? `${input.from}${SEP}${input.output}` : null;
  const data = options.map((o) => ({
    value: `${o.taskId}${SEP}${o.output}`,
    label: `${o.taskId} → ${o.output} (${o.type})`,
  }));
  if (current && !data.some((d) => d.value === current) && input && "from" in input) {
    data.unshift({ value: current, label: `${input.from} → ${input.output} (does not fit)` });
  }
  return (
    <Stack gap={4} mt={4}>
      <Select
        aria-label={`Upstream output for ${name}`}
        data-testid={`upstream-select-${name}`}
        placeholder={data.length ? "Pick an upstream output" : "No fitting upstream output"}
        data={data}
        value={current}
        searchable
        onChange={(value) => {
          if (!value) return setInput(taskId, name, undefined);
          const [from, output] = value.split(SEP);
          setInput(taskId, name, { from, output });
        }}
      />
      {data.length === 0 && (
        <Text size="xs" c="dimmed">
          No upstream task has an output that fits ({typeLabel(schema, defs)}): connect an upstream task to this one on
          the canvas (drag from its bottom handle), or give a value.
        </Text>
      )}
    </Stack>
  );
}

function ParamSelect({
  taskId,
  name,
  schema,
  input,
  parameters,
}: Pick<Props, "taskId" | "name" | "schema" | "input" | "parameters">) {
  const setInput = useEditor((s) => s.setInput);
  const edit = useEditor((s) => s.edit);
  const current = input && "param" in input ? input.param : null;
  const createParameter = () => {
    edit((doc) => withParameter(doc, name, schema, input));
    setInput(taskId, name, { param: name });
  };
  return (
    <Stack gap={4} mt={4}>
      <Select
        aria-label={`Run parameter for ${name}`}
        data-testid={`param-select-${name}`}
        placeholder={parameters.length ? "Pick a run parameter" : "No run parameter yet"}
        data={parameters}
        value={current}
        onChange={(value) => setInput(taskId, name, value ? { param: value } : undefined)}
      />
      {!parameters.includes(name) && (
        <Button size="compact-xs" variant="light" onClick={createParameter}>
          Create run parameter “{name}”
        </Button>
      )}
    </Stack>
  );
}

/** Adds a run parameter shaped like an input (its type, bounds, enum and default). */
function withParameter(doc: WorkflowDoc, name: string, schema: JsonSchema, input: TaskInput | undefined): WorkflowDoc {
  const parameters = doc.parameters ?? { type: "object", properties: {} };
  const properties = { ...((parameters.properties as Record<string, unknown>) ?? {}) };
  const { title: _title, description: _description, ...shape } = schema;
  const literal = input && "value" in input ? { default: input.value } : {};
  // A schema that refers to the operator's $defs would not resolve among the parameters.
  properties[name] = { ...(JSON.stringify(shape).includes("$ref") ? {} : shape), ...literal };
  return updateWorkflow(doc, { parameters: { ...parameters, type: "object", properties } });
}

/**
 * "X or null" (pydantic's Optional) as X: rjsf would draw a choice between "option 1" and
 * "option 2"; an empty field leaves the input out, so its default (null) applies.
 */
export function withoutNull(schema: JsonSchema): JsonSchema {
  const options = schema.anyOf;
  if (!Array.isArray(options) || options.length !== 2) return schema;
  const rest = options.filter((o) => !(o && typeof o === "object" && (o as JsonSchema).type === "null"));
  if (rest.length !== 1) return schema;
  const { anyOf: _anyOf, ...outer } = schema;
  return { ...(rest[0] as JsonSchema), ...outer };
}
