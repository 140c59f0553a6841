// The form widget of dataset inputs (strings with format "flowui-dataset"): the dataset's id,
// typed or picked among the workspace's uploaded datasets (found by name or id).
import { Autocomplete, Group, Text } from "@mantine/core";
import type { WidgetProps } from "@rjsf/utils";
import { Link } from "react-router-dom";

import { type Dataset, useDatasets } from "../datasets/queries";
import type { SchemaFormContext } from "./schemaForm";

export function DatasetWidget({
  id,
  value,
  label,
  hideLabel,
  required,
  disabled,
  readonly,
  rawErrors,
  schema,
  onChange,
  onBlur,
  onFocus,
  registry,
}: WidgetProps) {
  const { workspaceId } = registry.formContext as SchemaFormContext;
  const datasets = useDatasets(workspaceId);
  const byId = new Map((datasets.data ?? []).map((dataset) => [dataset.storage_id, dataset]));
  const current = typeof value === "string" ? value : "";
  const picked = byId.get(current);
  const description = picked
    ? `${picked.name} (${picked.filename})`
    : datasets.data?.length === 0
      ? "No dataset uploaded yet: upload one in the workspace's settings, or type an id that a task creates."
      : schema.description;

  return (
    <>
      <Autocomplete
        id={id}
        label={hideLabel ? undefined : label}
        required={required}
        disabled={disabled || readonly}
        placeholder="Pick a dataset or type its id"
        value={current}
        data={[...byId.keys()]}
        filter={({ options, search }) => {
          const wanted = search.trim().toLowerCase();
          return options.filter((option) => {
            if (!("value" in option)) return false;
            const dataset = byId.get(option.value);
            return !wanted || option.value.includes(wanted) || !!dataset?.name.toLowerCase().includes(wanted);
          });
        }}
        renderOption={({ option }) => <DatasetOption dataset={byId.get(option.value)} id={option.value} />}
        onChange={(next) => onChange(next === "" ? undefined : next)}
        onBlur={() => onBlur(id, current)}
        onFocus={() => onFocus(id, current)}
        error={rawErrors?.length ? rawErrors.join("\n") : undefined}
        description={description}
        data-testid="dataset-picker"
      />
      {datasets.data?.length === 0 && (
        <Text size="xs" component={Link} to={`/w/${workspaceId}/settings?tab=datasets`} c="blue">
          Upload a dataset
        </Text>
      )}
    </>
  );
}

function DatasetOption({ dataset, id }: { dataset: Dataset | undefined; id: string }) {
  return (
    <Group gap={6} wrap="nowrap">
      <Text size="sm" fw={500}>
        {dataset?.name ?? id}
      </Text>
      <Text size="xs" c="dimmed" ff="monospace" truncate>
        {id}
      </Text>
    </Group>
  );
}
