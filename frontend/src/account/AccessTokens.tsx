// Your personal access tokens, for scripts and other programs that call FlowUI's API: create one
// (narrowed to some workspaces, or to reading), see it once, list them, revoke one.
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Group,
  Loader,
  Modal,
  MultiSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { type FormEvent, useState } from "react";

import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ListTable } from "../components/ListTable";
import { DeleteRowAction, RowActions } from "../components/RowActions";
import { formatTime } from "../components/RunStateBadge";
import { useWorkspaces } from "../workspaces/useWorkspace";
import { type AccessToken, accountKeys, revokeAccessToken, useAccessTokens, useCreateAccessToken } from "./queries";

const DEFAULT_EXPIRY_DAYS = 30;

export function AccessTokens() {
  const tokens = useAccessTokens();
  const workspaces = useWorkspaces();
  const workspaceName = (id: number) => workspaces.data?.find((workspace) => workspace.id === id)?.name;

  return (
    <Stack>
      <Title order={4}>Access tokens</Title>
      <Text size="sm" c="dimmed">
        A program sends a token as <Code>Authorization: Bearer …</Code> and acts as you, within what you narrow it to.
        Revoke it when the program no longer needs it.
      </Text>
      <CreateTokenForm />
      {tokens.isPending && <Loader aria-label="Loading access tokens" />}
      {tokens.isError && <ApiErrorAlert error={tokens.error} onRetry={() => tokens.refetch()} />}
      {tokens.data?.length === 0 && (
        <Text c="dimmed" data-testid="tokens-empty">
          No access token yet.
        </Text>
      )}
      {!!tokens.data?.length && (
        <ListTable
          titles={["Name", "Begins with", "Workspaces", "Read only", "Created", "Expires", "Last used"]}
          withActions
          data-testid="tokens-table"
        >
          {tokens.data.map((token) => (
            <Table.Tr key={token.id} data-testid={`token-row-${token.name}`}>
              <Table.Td>{token.name}</Table.Td>
              <Table.Td>
                <Code>{token.shown_prefix}…</Code>
              </Table.Td>
              <Table.Td data-testid="token-scope">{describeScope(token, workspaceName)}</Table.Td>
              <Table.Td>{token.read_only ? "Yes" : "No"}</Table.Td>
              <Table.Td>{formatTime(token.created_at)}</Table.Td>
              <Table.Td>
                {formatTime(token.expires_at)}{" "}
                {new Date(token.expires_at) <= new Date() && (
                  <Badge size="xs" color="gray" variant="outline">
                    expired
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{token.last_used_at ? formatTime(token.last_used_at) : "never"}</Table.Td>
              <Table.Td>
                <RowActions>
                  <DeleteRowAction
                    label="Revoke"
                    target={token.name}
                    title={`Revoke the token ${token.name}?`}
                    action={() => revokeAccessToken(token.id)}
                    invalidates={accountKeys.tokens}
                  >
                    Programs that use it are refused from now on; this cannot be undone.
                  </DeleteRowAction>
                </RowActions>
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
    </Stack>
  );
}

/** "All your workspaces", or the names of those it is narrowed to (ids of the ones you left). */
function describeScope(token: AccessToken, workspaceName: (id: number) => string | undefined): string {
  if (token.workspace_ids == null) return "All your workspaces";
  return token.workspace_ids.map((id) => workspaceName(id) ?? `workspace ${id}`).join(", ");
}

function CreateTokenForm() {
  const workspaces = useWorkspaces();
  const create = useCreateAccessToken();
  const [name, setName] = useState("");
  const [days, setDays] = useState<number | string>(DEFAULT_EXPIRY_DAYS);
  const [workspaceIds, setWorkspaceIds] = useState<string[]>([]);
  const [readOnly, setReadOnly] = useState(false);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      {
        name: name.trim(),
        expires_in_days: Number(days),
        workspace_ids: workspaceIds.length ? workspaceIds.map(Number) : null,
        read_only: readOnly,
      },
      {
        onSuccess: () => {
          setName("");
          setDays(DEFAULT_EXPIRY_DAYS);
          setWorkspaceIds([]);
          setReadOnly(false);
        },
      },
    );
  }

  return (
    <>
      <form onSubmit={submit} data-testid="token-create">
        <Stack gap="xs">
          <Group align="flex-start">
            <TextInput
              label="Name"
              description="What it is for, e.g. nightly export"
              required
              maxLength={100}
              value={name}
              onChange={(event) => setName(event.currentTarget.value)}
              data-testid="token-name"
            />
            <NumberInput
              label="Expires in (days)"
              description="It stops working then"
              required
              min={1}
              max={3650}
              allowDecimal={false}
              w={160}
              value={days}
              onChange={setDays}
              data-testid="token-expiry"
            />
            <MultiSelect
              label="Workspaces"
              description="Empty: every workspace of yours"
              placeholder={workspaceIds.length ? undefined : "All"}
              data={(workspaces.data ?? []).map((workspace) => ({
                value: String(workspace.id),
                label: workspace.name,
              }))}
              value={workspaceIds}
              onChange={setWorkspaceIds}
              searchable
              w={260}
              data-testid="token-workspaces"
            />
          </Group>
          <Checkbox
            label="Read only"
            description="It may read, but not change anything nor start runs"
            checked={readOnly}
            onChange={(event) => setReadOnly(event.currentTarget.checked)}
            data-testid="token-read-only"
          />
          <Group>
            <Button
              type="submit"
              disabled={!name.trim() || !days}
              loading={create.isPending}
              data-testid="token-submit"
            >
              Create token
            </Button>
          </Group>
          {create.isError && (
            <ApiErrorAlert
              error={create.error}
              onClose={() => create.reset()}
              describeWhere={(where) => where.replace(/^\/body\//, "")}
            />
          )}
        </Stack>
      </form>
      {/* The token lives only in the mutation's answer: closing resets it, and it is gone. */}
      <NewTokenDialog token={create.data ?? null} onClose={() => create.reset()} />
    </>
  );
}

function NewTokenDialog({ token, onClose }: { token: { name: string; token: string } | null; onClose: () => void }) {
  return (
    <Modal
      opened={token != null}
      onClose={onClose}
      title={`Token ${token?.name ?? ""} created`}
      closeOnClickOutside={false}
      size="lg"
      centered
    >
      {token && (
        <Stack>
          <Alert color="yellow" title="Copy it now: you will not see it again" data-testid="token-once-warning">
            FlowUI keeps only a digest of it. If you lose it, revoke it and create another.
          </Alert>
          <Code block data-testid="new-token" style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}>
            {token.token}
          </Code>
          <Group justify="flex-end">
            <CopyButton value={token.token}>
              {({ copied, copy }) => (
                <Button variant="light" color={copied ? "teal" : undefined} onClick={copy} data-testid="copy-token">
                  {copied ? "Copied" : "Copy token"}
                </Button>
              )}
            </CopyButton>
            <Button onClick={onClose} data-testid="close-new-token">
              Done
            </Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
