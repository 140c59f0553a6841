// Where the workspace's tasks run when their workflow names no runtime: the workspace's own
// default, or the platform's (FLOWUI_DEFAULT_RUNTIME). Admins and owners change it.
import { Select, Stack, Text } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RoleNotice } from "../components/RoleNotice";
import { RUNTIMES, type Runtime, runtimeLabel } from "../components/runtimes";
import { roleAllows, type SettingsTabProps, useWorkspace } from "./useWorkspace";

// The select's value for "no default of its own".
const PLATFORM_DEFAULT = "platform-default";

export function RuntimeTab({ workspaceId, role }: SettingsTabProps) {
  const client = useQueryClient();
  const workspace = useWorkspace(workspaceId);
  const canManage = roleAllows(role, "admin");
  const change = useMutation({
    mutationFn: async (runtime: Runtime | null) =>
      unwrap(
        await api.PATCH("/api/workspaces/{workspace_id}", {
          params: { path: { workspace_id: workspaceId } },
          body: { default_runtime: runtime },
        }),
      ),
    onSuccess: (updated) => {
      client.setQueryData(["workspaces", workspaceId], updated);
      return client.invalidateQueries({ queryKey: ["workspaces"] });
    },
  });
  const data = workspace.data;
  const options = [
    {
      value: PLATFORM_DEFAULT,
      label: data ? `Platform default (${data.platform_default_runtime})` : "Platform default",
    },
    ...RUNTIMES.map((runtime) => ({ value: runtime, label: runtimeLabel(runtime) })),
  ];

  return (
    <Stack maw={560}>
      {workspace.isError && <ApiErrorAlert error={workspace.error} onRetry={() => workspace.refetch()} />}
      {change.isError && <ApiErrorAlert error={change.error} onClose={() => change.reset()} />}
      <RoleNotice role={role} needs="admin">
        only admins and owners change the default runtime.
      </RoleNotice>
      <Select
        label="Default runtime"
        description="Where tasks run whose workflow names no runtime for them. A change applies to workflows deployed from then on."
        data={options}
        value={data ? (data.default_runtime ?? PLATFORM_DEFAULT) : null}
        onChange={(value) => value && change.mutate(value === PLATFORM_DEFAULT ? null : (value as Runtime))}
        disabled={!canManage || !data || change.isPending}
        allowDeselect={false}
        data-testid="workspace-default-runtime"
      />
      {data && (
        <Text size="sm" data-testid="workspace-effective-runtime">
          Tasks without a runtime of their own run in <b>{data.effective_default_runtime}</b>.
        </Text>
      )}
    </Stack>
  );
}
