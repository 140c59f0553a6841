// The secrets the workspace's operators need, per repository and name: set or replace a value,
// delete it. Values go to the server only; it never sends them back.
import { Badge, Button, Group, Modal, PasswordInput, Stack, Table, Text } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, type Schemas, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ConfirmActionDialog } from "../components/ConfirmDialog";
import { roleAllows, type SettingsTabProps } from "./useWorkspace";

type Secret = Schemas["SecretOut"];

export function SecretsTab({ workspaceId, role }: SettingsTabProps) {
  const [editing, setEditing] = useState<Secret | null>(null);
  const [deleting, setDeleting] = useState<Secret | null>(null);
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
      {!canManage && role && (
        <Text size="sm" c="dimmed">
          You are a {role} member: only admins and owners set secrets.
        </Text>
      )}
      {secrets.data?.length === 0 && (
        <Text c="dimmed">No operator of this workspace's repositories declares a secret.</Text>
      )}
      {!!secrets.data?.length && (
        <Table data-testid="secrets-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Repository</Table.Th>
              <Table.Th>Secret</Table.Th>
              <Table.Th>Value</Table.Th>
              <Table.Th>Used by</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
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
                      <Group gap={4} justify="flex-end" wrap="nowrap">
                        <Button
                          size="xs"
                          variant="light"
                          onClick={() => setEditing(secret)}
                          aria-label={`${secret.is_set ? "Replace" : "Set"} ${secret.repository} ${secret.name}`}
                          data-testid={`secret-set-${id}`}
                        >
                          {secret.is_set ? "Replace" : "Set"}
                        </Button>
                        {secret.is_set && (
                          <Button
                            size="xs"
                            variant="subtle"
                            color="red"
                            onClick={() => setDeleting(secret)}
                            aria-label={`Delete ${secret.repository} ${secret.name}`}
                            data-testid={`secret-delete-${id}`}
                          >
                            Delete
                          </Button>
                        )}
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
      {editing && <SetSecret workspaceId={workspaceId} secret={editing} onClose={() => setEditing(null)} />}
      {deleting && <DeleteSecret workspaceId={workspaceId} secret={deleting} onClose={() => setDeleting(null)} />}
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

function DeleteSecret({ workspaceId, secret, onClose }: { workspaceId: number; secret: Secret; onClose: () => void }) {
  return (
    <ConfirmActionDialog
      title={`Delete ${secret.name}?`}
      confirmLabel="Delete"
      action={async () =>
        unwrap(
          await api.DELETE("/api/workspaces/{workspace_id}/secrets/{repository}/{name}", {
            params: { path: secretPath(workspaceId, secret) },
          }),
        )
      }
      invalidates={["workspaces", workspaceId, "secrets"]}
      onClose={onClose}
    >
      Tasks of {secret.repository}'s operators that need it will fail until it is set again.
    </ConfirmActionDialog>
  );
}
