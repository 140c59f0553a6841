// A task's settings: runtime, retries, retry delay, execution timeout and resources.
import { Group, NumberInput, Select, Stack, Switch, Text } from "@mantine/core";

import { RUNTIMES, runtimeLabel } from "../components/runtimes";
import { useWorkspace } from "../workspaces/useWorkspace";
import { updateTask } from "./document";
import type { EditorProblem } from "./problems";
import { useEditor } from "./store";
import type { ContainerResources, Runtime, WorkflowTask } from "./types";

// The select's value for a task that names no runtime (it runs in the workspace's default).
const WORKSPACE_DEFAULT = "workspace-default";

const DEFAULT_RESOURCES: ContainerResources = {
  requests: { cpu: 100, memory: 256 },
  limits: { cpu: 1000, memory: 1024 },
  gpu: 0,
};

interface Props {
  workspaceId: number;
  task: WorkflowTask;
  operatorResources: ContainerResources | null | undefined;
  problems: EditorProblem[];
}

export function TaskSettings({ workspaceId, task, operatorResources, problems }: Props) {
  const edit = useEditor((s) => s.edit);
  const effectiveDefault = useWorkspace(workspaceId).data?.effective_default_runtime;
  const runtimes = [
    {
      value: WORKSPACE_DEFAULT,
      label: effectiveDefault ? `Workspace default (${effectiveDefault})` : "Workspace default",
    },
    ...RUNTIMES.map((runtime) => ({ value: runtime, label: runtimeLabel(runtime) })),
  ];
  const set = (field: string, patch: Partial<WorkflowTask>) =>
    edit((doc) => updateTask(doc, task.id, patch), `settings:${task.id}:${field}`);
  const errorOf = (field: string) =>
    problems
      .filter((p) => p.target.field === field)
      .map((p) => p.message)
      .join("; ") || undefined;
  const number = (value: string | number) => (typeof value === "number" ? value : undefined);
  const resources = task.resources ?? null;
  const setResources = (next: ContainerResources) => set("resources", { resources: next });

  return (
    <Stack gap="sm">
      <Select
        label="Runtime"
        description="Where the task runs; the workspace's default can change without editing the workflow."
        data={runtimes}
        value={task.runtime ?? WORKSPACE_DEFAULT}
        onChange={(value) =>
          set("runtime", { runtime: !value || value === WORKSPACE_DEFAULT ? undefined : (value as Runtime) })
        }
        error={errorOf("runtime")}
        allowDeselect={false}
        data-testid="task-runtime"
      />
      <NumberInput
        label="Retries"
        description="How many times a failed try is tried again."
        min={0}
        max={20}
        value={task.retries ?? 0}
        onChange={(value) => set("retries", { retries: number(value) })}
        error={errorOf("retries")}
      />
      <NumberInput
        label="Retry delay (seconds)"
        min={0}
        max={86400}
        value={task.retry_delay_seconds ?? 60}
        onChange={(value) => set("retry_delay_seconds", { retry_delay_seconds: number(value) })}
        error={errorOf("retry_delay_seconds")}
      />
      <NumberInput
        label="Execution timeout (seconds)"
        description="Empty: no limit."
        min={1}
        max={604800}
        value={task.execution_timeout_seconds ?? ""}
        onChange={(value) =>
          set("execution_timeout_seconds", { execution_timeout_seconds: typeof value === "number" ? value : null })
        }
        error={errorOf("execution_timeout_seconds")}
      />
      <Switch
        label="Override the operator's resources"
        checked={resources !== null}
        onChange={(event) =>
          set("resources", {
            resources: event.currentTarget.checked ? structuredClone(operatorResources ?? DEFAULT_RESOURCES) : null,
          })
        }
      />
      {resources && (
        <Stack gap={4}>
          {(["requests", "limits"] as const).map((kind) => (
            <Group key={kind} grow gap={6} align="flex-end">
              <NumberInput
                label={`CPU ${kind} (millicores)`}
                min={1}
                value={resources[kind]?.cpu ?? ""}
                onChange={(v) =>
                  setResources({
                    ...resources,
                    [kind]: { memory: resources[kind]?.memory ?? 256, cpu: number(v) ?? 1 },
                  })
                }
              />
              <NumberInput
                label={`Memory ${kind} (MiB)`}
                min={1}
                value={resources[kind]?.memory ?? ""}
                onChange={(v) =>
                  setResources({ ...resources, [kind]: { cpu: resources[kind]?.cpu ?? 100, memory: number(v) ?? 1 } })
                }
              />
            </Group>
          ))}
          <NumberInput
            label="GPUs"
            min={0}
            value={resources.gpu ?? 0}
            onChange={(v) => setResources({ ...resources, gpu: number(v) ?? 0 })}
          />
          {errorOf("resources") && (
            <Text size="xs" c="red">
              {errorOf("resources")}
            </Text>
          )}
        </Stack>
      )}
    </Stack>
  );
}
