// The workspace's operators repositories: import from a git URL or path at a ref, upgrade to
// another ref, remove (refused while workflows use it).
import {
  Badge,
  Button,
  Group,
  Modal,
  PasswordInput,
  type PasswordInputProps,
  Stack,
  Table,
  Text,
  TextInput,
  type TextInputProps,
  Title,
  Tooltip,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, type Schemas, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RoleNotice } from "../components/RoleNotice";
import { DeleteRowAction, RowAction, RowActions } from "../components/RowActions";
import { ListTable } from "../components/ListTable";
import { RepositoryImportProblems } from "./RepositoryImportProblems";
import { roleAllows, type SettingsTabProps } from "./useWorkspace";

type Repository = Schemas["RepositoryOut"];

export function RepositoriesTab({ workspaceId, role }: SettingsTabProps) {
  const [upgrading, setUpgrading] = useState<Repository | null>(null);
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
      <RoleNotice role={role} needs="admin">
        only admins and owners import, upgrade and remove repositories.
      </RoleNotice>
      {repositories.data?.length === 0 && <Text c="dimmed">No operators repository yet: import one below.</Text>}
      {!!repositories.data?.length && (
        <ListTable
          titles={["Repository", "Version", "Operators", "Versions imported"]}
          withActions
          data-testid="repositories-table"
        >
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
                  <RowActions>
                    <RowAction
                      label="Upgrade"
                      target={repository.name}
                      onClick={() => setUpgrading(repository)}
                      data-testid={`repository-upgrade-${repository.name}`}
                    />
                    <DeleteRowAction
                      label="Remove"
                      target={repository.name}
                      action={async () =>
                        unwrap(
                          await api.DELETE("/api/workspaces/{workspace_id}/repositories/{repository_id}", {
                            params: { path: { workspace_id: workspaceId, repository_id: repository.id } },
                          }),
                        )
                      }
                      invalidates={["workspaces", workspaceId]}
                      data-testid={`repository-remove-${repository.name}`}
                    >
                      Its operators disappear from the palette. Workflows that use them must be changed first.
                    </DeleteRowAction>
                  </RowActions>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
      {canManage && <ImportRepository workspaceId={workspaceId} />}
      {upgrading && (
        <UpgradeRepository workspaceId={workspaceId} repository={upgrading} onClose={() => setUpgrading(null)} />
      )}
    </Stack>
  );
}

// The fields that say where to fetch a repository from: the same on import and upgrade.
function RefInput(props: TextInputProps) {
  return <TextInput label="Ref" description="Tag, branch or commit (default branch when empty)" {...props} />;
}

function TokenInput(props: PasswordInputProps) {
  return (
    <PasswordInput
      label="Access token"
      description="For private repositories; never shown back"
      autoComplete="off"
      {...props}
    />
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
            <RefInput value={ref} onChange={(e) => setRef(e.currentTarget.value)} data-testid="repo-import-ref" />
            <TokenInput
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
          <RefInput
            value={ref}
            onChange={(e) => setRef(e.currentTarget.value)}
            data-testid="repo-upgrade-ref"
            data-autofocus
          />
          <TokenInput
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
