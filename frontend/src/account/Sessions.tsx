// Where you are signed in: each session's browser, address and times, this one marked; end one
// (ending this one signs you out here) or all the others.
import { Badge, Button, Group, Loader, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { useForgetSignIn } from "../auth/session";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ListTable } from "../components/ListTable";
import { RowAction, RowActions } from "../components/RowActions";
import { formatTime } from "../components/RunStateBadge";
import { accountKeys, endSession, type UserSession, useSessions } from "./queries";

/** What the confirmation is about: one session, or every session but this one. */
type Ending = { session: UserSession } | { others: UserSession[] };

export function Sessions() {
  const client = useQueryClient();
  const sessions = useSessions();
  const forget = useForgetSignIn();
  const [ending, setEnding] = useState<Ending | null>(null);
  const others = sessions.data?.filter((session) => !session.current) ?? [];

  const end = useMutation({
    mutationFn: async (what: Ending) => {
      for (const session of "session" in what ? [what.session] : what.others) await endSession(session.id);
    },
    onSuccess: async (_, what) => {
      // This session's token no longer works: nothing more to read with it.
      if ("session" in what && what.session.current) {
        forget();
        return;
      }
      setEnding(null);
      await client.invalidateQueries({ queryKey: accountKeys.sessions });
    },
  });
  const asking = ending ? describeEnding(ending) : { title: "", confirmLabel: "", text: "" };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={4}>Sessions</Title>
        {others.length > 0 && (
          <Button variant="light" color="red" size="xs" onClick={() => setEnding({ others })} data-testid="end-others">
            End the other sessions
          </Button>
        )}
      </Group>
      <Text size="sm" c="dimmed">
        Each sign-in is a session, until you sign out or it expires. End any you do not recognise, then change your
        password.
      </Text>
      {sessions.isPending && <Loader aria-label="Loading sessions" />}
      {sessions.isError && <ApiErrorAlert error={sessions.error} onRetry={() => sessions.refetch()} />}
      {!!sessions.data?.length && (
        <ListTable
          titles={["Signed in", "Last seen", "Expires", "Address", "Browser"]}
          withActions
          data-testid="sessions-table"
        >
          {sessions.data.map((session) => (
            <Table.Tr key={session.id} data-testid={`session-row-${session.id}`}>
              <Table.Td>
                {formatTime(session.created_at)}{" "}
                {session.current && (
                  <Badge size="xs" variant="light" data-testid="current-session">
                    this session
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{formatTime(session.last_seen_at)}</Table.Td>
              <Table.Td>{formatTime(session.expires_at)}</Table.Td>
              <Table.Td>{session.address}</Table.Td>
              <Table.Td>
                <Text size="sm" maw={320} truncate="end" title={session.user_agent}>
                  {session.user_agent || "unknown"}
                </Text>
              </Table.Td>
              <Table.Td>
                <RowActions>
                  <RowAction
                    label={session.current ? "Sign out" : "End"}
                    target={session.current ? "here" : describeSession(session)}
                    destructive
                    onClick={() => setEnding({ session })}
                  />
                </RowActions>
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
      <ConfirmDialog
        opened={ending != null}
        title={asking.title}
        confirmLabel={asking.confirmLabel}
        busy={end.isPending}
        error={end.error}
        onCancel={() => {
          setEnding(null);
          end.reset();
        }}
        onConfirm={() => ending && end.mutate(ending)}
      >
        {asking.text}
      </ConfirmDialog>
    </Stack>
  );
}

/** What the confirmation asks. */
function describeEnding(ending: Ending): { title: string; confirmLabel: string; text: string } {
  if ("others" in ending) {
    const count = ending.others.length;
    return {
      title: "End the other sessions?",
      confirmLabel: "End",
      text: `You stay signed in here; the ${count === 1 ? "other session ends" : `${count} other sessions end`} at once.`,
    };
  }
  if (ending.session.current) {
    return {
      title: "Sign out here?",
      confirmLabel: "Sign out",
      text: "This is the session you are using: you will be signed out here.",
    };
  }
  return {
    title: "End the session?",
    confirmLabel: "End",
    text: `It ends at once: the browser at ${ending.session.address} must sign in again.`,
  };
}

/** Tells one session from another, as the End button's name says it. */
function describeSession(session: UserSession): string {
  return `the session from ${session.address}, signed in ${formatTime(session.created_at)}`;
}
