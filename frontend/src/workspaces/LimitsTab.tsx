// What the workspace's workflows may ask for: CPUs, memory and GPUs of a task, runs at once and
// the runtimes its tasks may use. Every member sees them; platform administrators set them (an
// empty field takes the platform's limit), and deploys are checked against them.
import { Button, Group, MultiSelect, NumberInput, Stack, Table, Text } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Schemas, unwrap } from "../api/client";
import { useCurrentUser } from "../auth/session";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RUNTIMES, type Runtime } from "../components/runtimes";
import type { SettingsTabProps } from "./useWorkspace";

type Limits = Schemas["LimitsUpdate"];
type NumberLimit = Exclude<keyof Limits, "runtimes">;

const NUMBERS: { key: NumberLimit; label: string; unit: string }[] = [
  { key: "task_cpus", label: "CPUs of a task", unit: "cores" },
  { key: "task_memory_mb", label: "Memory of a task", unit: "MiB" },
  { key: "task_gpus", label: "GPUs of a task", unit: "GPUs" },
  { key: "active_runs", label: "Runs at once", unit: "runs queued or running" },
];

export function LimitsTab({ workspaceId }: SettingsTabProps) {
  const me = useCurrentUser();
  const limits = useQuery({
    queryKey: ["workspaces", workspaceId, "limits"],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/limits", { params: { path: { workspace_id: workspaceId } } }),
      ),
  });
  const canSet = me.data?.is_admin === true;

  return (
    <Stack maw={640}>
      {limits.isError && <ApiErrorAlert error={limits.error} onRetry={() => limits.refetch()} />}
      <Text size="sm" c="dimmed">
        Deploys are refused, naming the field, when a workflow asks for more.{" "}
        {canSet ? "An empty field takes the platform's limit." : "Platform administrators set these limits."}
      </Text>
      {limits.data &&
        (canSet ? (
          <LimitsForm workspaceId={workspaceId} current={limits.data} />
        ) : (
          <LimitsTable effective={limits.data.effective} />
        ))}
    </Stack>
  );
}

function LimitsTable({ effective }: { effective: Schemas["LimitsOut"] }) {
  return (
    <Table data-testid="workspace-limits">
      <Table.Tbody>
        {NUMBERS.map(({ key, label, unit }) => (
          <Table.Tr key={key}>
            <Table.Td>{label}</Table.Td>
            <Table.Td data-testid={`limit-${key}`}>
              {effective[key]} {unit}
            </Table.Td>
          </Table.Tr>
        ))}
        <Table.Tr>
          <Table.Td>Runtimes</Table.Td>
          <Table.Td data-testid="limit-runtimes">{effective.runtimes.join(", ")}</Table.Td>
        </Table.Tr>
      </Table.Tbody>
    </Table>
  );
}

function LimitsForm({ workspaceId, current }: { workspaceId: number; current: Schemas["WorkspaceLimitsOut"] }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState<Limits>(current.own);
  const save = useMutation({
    mutationFn: async (body: Limits) =>
      unwrap(
        await api.PUT("/api/workspaces/{workspace_id}/limits", {
          params: { path: { workspace_id: workspaceId } },
          body,
        }),
      ),
    onSuccess: (saved) => {
      client.setQueryData(["workspaces", workspaceId, "limits"], saved);
      setDraft(saved.own);
    },
  });

  return (
    <Stack>
      {save.isError && <ApiErrorAlert error={save.error} onClose={() => save.reset()} />}
      {NUMBERS.map(({ key, label, unit }) => (
        <NumberInput
          key={key}
          label={label}
          description={`${unit}; the platform's: ${current.platform[key]}`}
          placeholder={`${current.platform[key]} (the platform's)`}
          min={key === "task_gpus" ? 0 : 1}
          allowDecimal={false}
          value={draft[key] ?? ""}
          onChange={(value) => setDraft({ ...draft, [key]: typeof value === "number" ? value : null })}
          data-testid={`limit-${key}`}
        />
      ))}
      <MultiSelect
        label="Runtimes its tasks may use"
        description={`Empty: the platform's (${current.platform.runtimes.join(", ")})`}
        data={RUNTIMES.map((runtime) => ({ value: runtime, label: runtime }))}
        value={draft.runtimes ?? []}
        onChange={(values) => setDraft({ ...draft, runtimes: values.length ? (values as Runtime[]) : null })}
        data-testid="limit-runtimes"
      />
      <Group>
        <Button onClick={() => save.mutate(draft)} loading={save.isPending} data-testid="save-limits">
          Save limits
        </Button>
      </Group>
      <Text size="sm" data-testid="effective-limits">
        Now: {current.effective.task_cpus} CPUs, {current.effective.task_memory_mb} MiB and{" "}
        {current.effective.task_gpus} GPUs a task, {current.effective.active_runs} runs at once, in{" "}
        {current.effective.runtimes.join(", ")}.
      </Text>
    </Stack>
  );
}
