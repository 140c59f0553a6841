// The workspace's operators repositories: import from a git URL or path at a ref, upgrade to
// another ref, remove (refused while workflows use it).
import {
  Badge,
  Button,
  Group,
  Modal,
  PasswordInput,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, type Schemas, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ConfirmActionDialog } from "../components/ConfirmDialog";
import { RepositoryImportProblems } from "./RepositoryImportProblems";
import { roleAllows, type SettingsTabProps } from "./useWorkspace";

type Repository = Schemas["RepositoryOut"];

export function RepositoriesTab({ workspaceId, role }: SettingsTabProps) {
  const [upgrading, setUpgrading] = useState<Repository | null>(null);
  const [removing, setRemoving] = useState<Repository | null>(null);
  const canManage = roleAllows(role, "admin");
  const repositories = useQuery({
    queryKey: ["workspaces", workspaceId, "repositories"],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/repositories", {
          params: { path: { workspace_id: workspaceId } },
        }),
      ),
  });

  return (
    <Stack>
      {repositories.isError && <ApiErrorAlert error={repositories.error} onRetry={() => repositories.refetch()} />}
      {!canManage && role && (
        <Text size="sm" c="dimmed">
          You are a {role} member: only admins and owners import, upgrade and remove repositories.
        </Text>
      )}
      {repositories.data?.length === 0 && <Text c="dimmed">No operators repository yet: import one below.</Text>}
      {!!repositories.data?.length && (
        <Table data-testid="repositories-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Repository</Table.Th>
              <Table.Th>Version</Table.Th>
              <Table.Th>Operators</Table.Th>
              <Table.Th>Versions imported</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {repositories.data.map((repository) => (
              <Table.Tr key={repository.id} data-testid={`repository-row-${repository.name}`}>
                <Table.Td>
                  <Text fw={600}>{repository.name}</Text>
                  <Text size="xs" c="dimmed" style={{ wordBreak: "break-all" }}>
                    {repository.source}
                  </Text>
                </Table.Td>
                <Table.Td>{repository.current_version}</Table.Td>
                <Table.Td data-testid="repository-operator-count">{repository.operator_count}</Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {repository.versions.map((version) => (
                      <Tooltip
                        key={`${version.version}-${version.imported_at}`}
                        label={`${version.operator_count} operators; ref ${version.ref ?? "(directory)"}${version.commit ? `, commit ${version.commit.slice(0, 10)}` : ""}; imported ${new Date(version.imported_at).toLocaleString()}`}
                      >
                        <Badge variant={version.version === repository.current_version ? "filled" : "light"}>
                          {version.version}
                        </Badge>
                      </Tooltip>
                    ))}
                  </Group>
                </Table.Td>
                <Table.Td>
                  {canManage && (
                    <Group gap={4} justify="flex-end" wrap="nowrap">
                      <Button
                        size="xs"
                        variant="light"
                        onClick={() => setUpgrading(repository)}
                        aria-label={`Upgrade ${repository.name}`}
                        data-testid={`repository-upgrade-${repository.name}`}
                      >
                        Upgrade
                      </Button>
                      <Button
                        size="xs"
                        variant="subtle"
                        color="red"
                        onClick={() => setRemoving(repository)}
                        aria-label={`Remove ${repository.name}`}
                        data-testid={`repository-remove-${repository.name}`}
                      >
                        Remove
                      </Button>
                    </Group>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {canManage && <ImportRepository workspaceId={workspaceId} />}
      {upgrading && (
        <UpgradeRepository workspaceId={workspaceId} repository={upgrading} onClose={() => setUpgrading(null)} />
      )}
      {removing && (
        <RemoveRepository workspaceId={workspaceId} repository={removing} onClose={() => setRemoving(null)} />
      )}
    </Stack>
  );
}

/** The token field's value as the API wants it: omitted when empty. */
function optional(text: string): string | null {
  return text.trim() ? text.trim() : null;
}

function ImportRepository({ workspaceId }: { workspaceId: number }) {
  const client = useQueryClient();
  const [source, setSource] = useState("");
  const [ref, setRef] = useState("");
  const [token, setToken] = useState("");
  const importing = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/repositories", {
          params: { path: { workspace_id: workspaceId } },
          body: { source: source.trim(), ref: optional(ref), token: optional(token) },
        }),
      ),
    onSuccess: () => {
      setSource("");
      setRef("");
      setToken("");
      return client.invalidateQueries({ queryKey: ["workspaces", workspaceId] });
    },
    // The token is never kept after an attempt.
    onSettled: () => setToken(""),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    importing.mutate();
  }
  return (
    <Stack gap="xs">
      <Title order={5}>Import a repository</Title>
      <form onSubmit={submit} aria-label="Import a repository">
        <Stack gap="xs">
          <Group align="flex-end" grow>
            <TextInput
              label="Git URL or path"
              placeholder="https://github.com/owner/repo.git, owner/repo or /path/to/repository"
              required
              value={source}
              onChange={(e) => setSource(e.currentTarget.value)}
              data-testid="repo-import-source"
            />
          </Group>
          <Group align="flex-end">
            <TextInput
              label="Ref"
              description="Tag, branch or commit (default branch when empty)"
              value={ref}
              onChange={(e) => setRef(e.currentTarget.value)}
              data-testid="repo-import-ref"
            />
            <PasswordInput
              label="Access token"
              description="For private repositories; never shown back"
              autoComplete="off"
              value={token}
              onChange={(e) => setToken(e.currentTarget.value)}
              data-testid="repo-import-token"
            />
            <Button
              type="submit"
              loading={importing.isPending}
              disabled={!source.trim()}
              data-testid="repo-import-submit"
            >
              Import
            </Button>
          </Group>
        </Stack>
      </form>
      {importing.isPending && (
        <Text size="sm" c="dimmed">
          Fetching and checking the repository; this can take a while for a large one…
        </Text>
      )}
      {importing.isError && <RepositoryImportProblems error={importing.error} />}
      {importing.isSuccess && (
        <Text size="sm" c="green.8" role="status" data-testid="repo-import-success">
          Imported {importing.data.name} {importing.data.current_version} with {importing.data.operator_count}{" "}
          operators.
        </Text>
      )}
    </Stack>
  );
}

function UpgradeRepository({
  workspaceId,
  repository,
  onClose,
}: {
  workspaceId: number;
  repository: Repository;
  onClose: () => void;
}) {
  const client = useQueryClient();
  const [ref, setRef] = useState("");
  const [token, setToken] = useState("");
  const upgrade = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/repositories/{repository_id}/upgrade", {
          params: { path: { workspace_id: workspaceId, repository_id: repository.id } },
          body: { ref: optional(ref), token: optional(token) },
        }),
      ),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["workspaces", workspaceId] });
      onClose();
    },
    onSettled: () => setToken(""),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    upgrade.mutate();
  }
  return (
    <Modal opened onClose={onClose} title={`Upgrade ${repository.name}`} size="lg" centered>
      <form onSubmit={submit}>
        <Stack>
          <Text size="sm">
            Imports {repository.source} again at another ref; workflows keep the operator versions they name until you
            edit them.
          </Text>
          <TextInput
            label="Ref"
            description="Tag, branch or commit (default branch when empty)"
            value={ref}
            onChange={(e) => setRef(e.currentTarget.value)}
            data-testid="repo-upgrade-ref"
            data-autofocus
          />
          <PasswordInput
            label="Access token"
            description="For private repositories; never shown back"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.currentTarget.value)}
            data-testid="repo-upgrade-token"
          />
          {upgrade.isError && <RepositoryImportProblems error={upgrade.error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={upgrade.isPending} data-testid="repo-upgrade-submit">
              Upgrade
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RemoveRepository({
  workspaceId,
  repository,
  onClose,
}: {
  workspaceId: number;
  repository: Repository;
  onClose: () => void;
}) {
  return (
    <ConfirmActionDialog
      title={`Remove ${repository.name}?`}
      confirmLabel="Remove"
      action={async () =>
        unwrap(
          await api.DELETE("/api/workspaces/{workspace_id}/repositories/{repository_id}", {
            params: { path: { workspace_id: workspaceId, repository_id: repository.id } },
          }),
        )
      }
      invalidates={["workspaces", workspaceId]}
      onClose={onClose}
    >
      Its operators disappear from the palette. Workflows that use them must be changed first.
    </ConfirmActionDialog>
  );
}
