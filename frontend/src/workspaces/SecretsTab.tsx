// The secrets the workspace's operators need, per repository and name: set or replace a value,
// delete it. Values go to the server only; it never sends them back.
import { Badge, Button, Group, Modal, PasswordInput, Stack, Table, Text } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, type Schemas, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RoleNotice } from "../components/RoleNotice";
import { DeleteRowAction, RowAction, RowActions } from "../components/RowActions";
import { ListTable } from "../components/ListTable";
import { roleAllows, type SettingsTabProps } from "./useWorkspace";

type Secret = Schemas["SecretOut"];

export function SecretsTab({ workspaceId, role }: SettingsTabProps) {
  const [editing, setEditing] = useState<Secret | null>(null);
  const canManage = roleAllows(role, "admin");
  const secrets = useQuery({
    queryKey: ["workspaces", workspaceId, "secrets"],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/secrets", { params: { path: { workspace_id: workspaceId } } }),
      ),
  });

  return (
    <Stack>
      {secrets.isError && <ApiErrorAlert error={secrets.error} onRetry={() => secrets.refetch()} />}
      <RoleNotice role={role} needs="admin">
        only admins and owners set secrets.
      </RoleNotice>
      {secrets.data?.length === 0 && (
        <Text c="dimmed">No operator of this workspace's repositories declares a secret.</Text>
      )}
      {!!secrets.data?.length && (
        <ListTable titles={["Repository", "Secret", "Value", "Used by"]} withActions data-testid="secrets-table">
          {secrets.data.map((secret) => {
            const id = `${secret.repository}-${secret.name}`;
            return (
              <Table.Tr key={id} data-testid={`secret-row-${id}`}>
                <Table.Td>{secret.repository}</Table.Td>
                <Table.Td ff="monospace">{secret.name}</Table.Td>
                <Table.Td>
                  {secret.is_set ? (
                    <Badge color="green" variant="light" data-testid="secret-is-set">
                      set{secret.updated_at ? ` ${new Date(secret.updated_at).toLocaleDateString()}` : ""}
                    </Badge>
                  ) : (
                    <Badge color="orange" variant="light" data-testid="secret-is-set">
                      not set
                    </Badge>
                  )}
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{secret.used_by.length ? secret.used_by.join(", ") : "—"}</Text>
                </Table.Td>
                <Table.Td>
                  {canManage && (
                    <RowActions>
                      <RowAction
                        label={secret.is_set ? "Replace" : "Set"}
                        target={`${secret.repository} ${secret.name}`}
                        onClick={() => setEditing(secret)}
                        data-testid={`secret-set-${id}`}
                      />
                      {secret.is_set && (
                        <DeleteRowAction
                          target={`${secret.repository} ${secret.name}`}
                          title={`Delete ${secret.name}?`}
                          action={async () =>
                            unwrap(
                              await api.DELETE("/api/workspaces/{workspace_id}/secrets/{repository}/{name}", {
                                params: { path: secretPath(workspaceId, secret) },
                              }),
                            )
                          }
                          invalidates={["workspaces", workspaceId, "secrets"]}
                          data-testid={`secret-delete-${id}`}
                        >
                          Tasks of {secret.repository}'s operators that need it will fail until it is set again.
                        </DeleteRowAction>
                      )}
                    </RowActions>
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </ListTable>
      )}
      {editing && <SetSecret workspaceId={workspaceId} secret={editing} onClose={() => setEditing(null)} />}
    </Stack>
  );
}

function secretPath(workspaceId: number, secret: Secret) {
  return { workspace_id: workspaceId, repository: secret.repository, name: secret.name };
}

function SetSecret({ workspaceId, secret, onClose }: { workspaceId: number; secret: Secret; onClose: () => void }) {
  const client = useQueryClient();
  const [value, setValue] = useState("");
  const save = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT("/api/workspaces/{workspace_id}/secrets/{repository}/{name}", {
          params: { path: secretPath(workspaceId, secret) },
          body: { value },
        }),
      ),
    onSuccess: async () => {
      setValue("");
      await client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "secrets"] });
      onClose();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate();
  }
  return (
    <Modal opened onClose={onClose} title={`${secret.is_set ? "Replace" : "Set"} ${secret.name}`} centered>
      <form onSubmit={submit}>
        <Stack>
          <Text size="sm">
            For the operators of {secret.repository}
            {secret.used_by.length ? ` (${secret.used_by.join(", ")})` : ""}. The value is stored encrypted and never
            shown again.
          </Text>
          <PasswordInput
            label="Value"
            required
            autoComplete="new-password"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            data-testid="secret-value"
            data-autofocus
          />
          {save.isError && <ApiErrorAlert error={save.error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" disabled={!value} loading={save.isPending} data-testid="secret-save">
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
