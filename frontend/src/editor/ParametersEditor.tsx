// Run parameters as a small JSON Schema editor: name, type, default.
import { ActionIcon, Button, Group, Select, Stack, Switch, Text, TextInput } from "@mantine/core";
import { useState } from "react";

import type { JsonSchema } from "./types";

const TYPES = ["string", "number", "integer", "boolean"] as const;
type ParamType = (typeof TYPES)[number];

interface Props {
  parameters: JsonSchema | undefined;
  onChange(parameters: JsonSchema): void;
  error?: string;
}

function propertiesOf(parameters: JsonSchema | undefined): Record<string, JsonSchema> {
  return (parameters?.properties as Record<string, JsonSchema> | undefined) ?? {};
}

/** The default typed as the parameter's type (an unparsable number leaves no default). */
export function parseDefault(type: ParamType, text: string): unknown {
  if (text === "") return undefined;
  if (type === "number" || type === "integer") {
    const value = Number(text);
    return Number.isFinite(value) && (type === "number" || Number.isInteger(value)) ? value : undefined;
  }
  if (type === "boolean") return text === "true";
  return text;
}

export function ParametersEditor({ parameters, onChange, error }: Props) {
  const properties = propertiesOf(parameters);
  const [newName, setNewName] = useState("");
  const write = (next: Record<string, JsonSchema>) =>
    onChange({ ...(parameters ?? {}), type: "object", properties: next });
  const rename = (from: string, to: string) => {
    if (!to || (to !== from && to in properties)) return;
    write(Object.fromEntries(Object.entries(properties).map(([k, v]) => [k === from ? to : k, v])));
  };
  const nameError = newName && newName in properties ? "This parameter exists already" : undefined;

  return (
    <Stack gap={6}>
      <Text size="sm" fw={500}>
        Run parameters
      </Text>
      {Object.keys(properties).length === 0 && (
        <Text size="xs" c="dimmed">
          None: a run's parameters can feed task inputs (choose “parameter” on an input).
        </Text>
      )}
      {Object.entries(properties).map(([name, schema]) => {
        const type = (TYPES as readonly string[]).includes(schema.type as string)
          ? (schema.type as ParamType)
          : "string";
        const setSchema = (next: JsonSchema) => write({ ...properties, [name]: next });
        return (
          <Group key={name} gap={4} wrap="nowrap" align="flex-end" data-testid={`parameter-${name}`}>
            <TextInput
              size="xs"
              aria-label={`Name of parameter ${name}`}
              defaultValue={name}
              onBlur={(event) => rename(name, event.currentTarget.value.trim())}
              style={{ flex: 2 }}
            />
            <Select
              size="xs"
              aria-label={`Type of parameter ${name}`}
              data={[...TYPES]}
              value={type}
              allowDeselect={false}
              onChange={(value) => setSchema({ type: value ?? "string" })}
              style={{ flex: 1.4 }}
            />
            {type === "boolean" ? (
              <Switch
                size="xs"
                aria-label={`Default of parameter ${name}`}
                checked={schema.default === true}
                onChange={(event) => setSchema({ ...schema, default: event.currentTarget.checked })}
                style={{ flex: 1.6 }}
              />
            ) : Array.isArray(schema.enum) ? (
              <Select
                size="xs"
                aria-label={`Default of parameter ${name}`}
                data={schema.enum.map(String)}
                value={schema.default === undefined ? null : String(schema.default)}
                onChange={(value) => setSchema(withDefault(schema, parseDefault(type, value ?? "")))}
                style={{ flex: 1.6 }}
              />
            ) : (
              <TextInput
                size="xs"
                aria-label={`Default of parameter ${name}`}
                placeholder="default"
                defaultValue={schema.default === undefined ? "" : String(schema.default)}
                onBlur={(event) => setSchema(withDefault(schema, parseDefault(type, event.currentTarget.value)))}
                style={{ flex: 1.6 }}
              />
            )}
            <ActionIcon
              variant="subtle"
              color="red"
              aria-label={`Remove parameter ${name}`}
              onClick={() => write(Object.fromEntries(Object.entries(properties).filter(([k]) => k !== name)))}
            >
              ×
            </ActionIcon>
          </Group>
        );
      })}
      <Group gap={4} align="flex-start">
        <TextInput
          size="xs"
          aria-label="New parameter name"
          placeholder="new parameter"
          value={newName}
          error={nameError}
          onChange={(event) => setNewName(event.currentTarget.value.trim())}
          style={{ flex: 1 }}
        />
        <Button
          size="xs"
          variant="light"
          disabled={!newName || !!nameError}
          onClick={() => {
            write({ ...properties, [newName]: { type: "string" } });
            setNewName("");
          }}
        >
          Add parameter
        </Button>
      </Group>
      {error && (
        <Text size="xs" c="red">
          {error}
        </Text>
      )}
    </Stack>
  );
}

function withDefault(schema: JsonSchema, value: unknown): JsonSchema {
  const { default: _old, ...rest } = schema;
  return value === undefined ? rest : { ...rest, default: value };
}
