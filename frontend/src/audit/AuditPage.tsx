// The audit trail, for platform administrators: who did what, when, where and from which address,
// newest first; filter by action, actor and workspace; older events a page at a time.
import {
  Alert,
  Button,
  Code,
  Container,
  Group,
  Loader,
  NumberInput,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useState } from "react";

import { useCurrentUser } from "../auth/session";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ListTable } from "../components/ListTable";
import { formatTime } from "../components/RunStateBadge";
import { useWorkspaces } from "../workspaces/useWorkspace";
import { type AuditEvent, useAuditTrail } from "./queries";

export function AuditPage() {
  const me = useCurrentUser();
  const isAdmin = me.data?.is_admin === true;
  return (
    <Container size="xl" w="100%" py="md">
      <Stack>
        <Title order={3}>Audit trail</Title>
        {isAdmin ? (
          <AuditTrail />
        ) : (
          <Alert color="gray" data-testid="audit-not-admin">
            Only platform administrators read the audit trail.
          </Alert>
        )}
      </Stack>
    </Container>
  );
}

function AuditTrail() {
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [workspaceId, setWorkspaceId] = useState<number | string>("");
  // Asks once the typing pauses, not at each key.
  const [debouncedAction] = useDebouncedValue(action.trim(), 300);
  const [debouncedActor] = useDebouncedValue(actor.trim(), 300);
  const filters = {
    action: debouncedAction,
    actor: debouncedActor,
    workspaceId: typeof workspaceId === "number" ? workspaceId : null,
  };
  const filtered = !!(filters.action || filters.actor || filters.workspaceId);
  const trail = useAuditTrail(filters);
  const events = trail.data?.pages.flatMap((page) => page.events);
  const workspaces = useWorkspaces();
  const workspaceName = (id: number) => workspaces.data?.find((workspace) => workspace.id === id)?.name;

  return (
    <Stack>
      <Group align="flex-start" data-testid="audit-filters">
        <TextInput
          label="Action"
          description="An action or how it begins, e.g. secret"
          value={action}
          onChange={(event) => setAction(event.currentTarget.value)}
          data-testid="audit-action"
        />
        <TextInput
          label="Actor e-mail"
          description="Who did it"
          type="email"
          value={actor}
          onChange={(event) => setActor(event.currentTarget.value)}
          data-testid="audit-actor"
        />
        <NumberInput
          label="Workspace id"
          description="As in its address: /w/3/…"
          min={1}
          allowDecimal={false}
          w={180}
          value={workspaceId}
          onChange={setWorkspaceId}
          data-testid="audit-workspace"
        />
      </Group>
      {trail.isPending && <Loader aria-label="Loading the audit trail" />}
      {trail.isError && <ApiErrorAlert error={trail.error} onRetry={() => trail.refetch()} />}
      {events?.length === 0 && (
        <Text c="dimmed" data-testid="audit-empty">
          {filtered ? "No event matches these filters." : "No event yet."}
        </Text>
      )}
      {!!events?.length && (
        <ListTable
          titles={["Time", "Actor", "Action", "Workspace", "Target", "Address", "Token"]}
          verticalSpacing="xs"
          data-testid="audit-table"
        >
          {events.map((event) => (
            <AuditRow key={event.id} event={event} workspaceName={workspaceName} />
          ))}
        </ListTable>
      )}
      {trail.hasNextPage && (
        <Group justify="center">
          <Button
            variant="default"
            loading={trail.isFetchingNextPage}
            onClick={() => trail.fetchNextPage()}
            data-testid="audit-older"
          >
            Load older
          </Button>
        </Group>
      )}
    </Stack>
  );
}

function AuditRow({ event, workspaceName }: { event: AuditEvent; workspaceName: (id: number) => string | undefined }) {
  const workspace = event.workspace_id == null ? null : workspaceName(event.workspace_id);
  const detail = Object.keys(event.detail).length ? JSON.stringify(event.detail) : null;
  return (
    <Table.Tr data-testid={`audit-row-${event.id}`}>
      <Table.Td>{formatTime(event.at)}</Table.Td>
      <Table.Td>{event.actor}</Table.Td>
      <Table.Td>
        <Code>{event.action}</Code>
      </Table.Td>
      <Table.Td>
        {event.workspace_id == null ? "—" : workspace ? `${workspace} (${event.workspace_id})` : event.workspace_id}
      </Table.Td>
      <Table.Td>
        <Text size="sm">{event.target || "—"}</Text>
        {detail && (
          <Text size="xs" c="dimmed" ff="monospace" style={{ wordBreak: "break-all" }}>
            {detail}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Text size="sm" title={event.user_agent}>
          {event.address}
        </Text>
      </Table.Td>
      <Table.Td>{event.token_name ?? "—"}</Table.Td>
    </Table.Tr>
  );
}
