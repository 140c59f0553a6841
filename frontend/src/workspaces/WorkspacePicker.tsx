// The workspaces you belong to: open one, create one, or accept an invitation to one; in none,
// what to do next.
import { Alert, Badge, Button, Card, Container, Group, Loader, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api, type Schemas, unwrap } from "../api/client";
import { UserMenu } from "../auth/UserMenu";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { useWorkspaces } from "./useWorkspace";

export function WorkspacePicker() {
  const workspaces = useWorkspaces();

  return (
    <Container size="sm" py="xl">
      <Group justify="space-between" mb="md">
        <Title order={2}>Workspaces</Title>
        <UserMenu />
      </Group>
      <Stack>
        <PendingInvitations />
        {workspaces.isPending && <Loader aria-label="Loading workspaces" />}
        {workspaces.isError && <ApiErrorAlert error={workspaces.error} onRetry={() => workspaces.refetch()} />}
        {workspaces.data?.length === 0 && <NoWorkspace />}
        {workspaces.data?.map((workspace) => (
          <WorkspaceCard key={workspace.id} workspace={workspace} />
        ))}
        <CreateWorkspace />
      </Stack>
    </Container>
  );
}

/** A signed-in user in no workspace (new, or whose single sign-on groups map to none): what to do. */
function NoWorkspace() {
  return (
    <Alert color="blue" title="No workspace yet" data-testid="no-workspace">
      Your account has no workspace yet: ask an administrator to add you to one (or to map your groups to one). You may
      also create a workspace of your own below.
    </Alert>
  );
}

function WorkspaceCard({ workspace }: { workspace: Schemas["WorkspaceOut"] }) {
  return (
    <Card
      withBorder
      component={Link}
      to={`/w/${workspace.id}/workflows`}
      aria-label={`Open workspace ${workspace.name}`}
      data-testid={`workspace-${workspace.name}`}
    >
      <Group justify="space-between">
        <Text fw={600}>{workspace.name}</Text>
        <Badge variant="light">{workspace.role}</Badge>
      </Group>
    </Card>
  );
}

function CreateWorkspace() {
  const client = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/workspaces", { body: { name: name.trim() } })),
    onSuccess: async (workspace) => {
      setName("");
      await client.invalidateQueries({ queryKey: ["workspaces"] });
      navigate(`/w/${workspace.id}/workflows`);
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    if (name.trim()) create.mutate();
  }
  return (
    <form onSubmit={submit}>
      <Stack gap="xs">
        <Group align="flex-end">
          <TextInput
            label="New workspace"
            placeholder="Name"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            data-testid="new-workspace-name"
          />
          <Button type="submit" disabled={!name.trim()} loading={create.isPending} data-testid="create-workspace">
            Create
          </Button>
        </Group>
        {create.isError && <ApiErrorAlert error={create.error} onClose={() => create.reset()} />}
      </Stack>
    </form>
  );
}

function PendingInvitations() {
  const client = useQueryClient();
  const navigate = useNavigate();
  const invitations = useQuery({
    queryKey: ["invitations"],
    queryFn: async () => unwrap(await api.GET("/api/invitations")),
  });
  const accept = useMutation({
    mutationFn: async (invitationId: number) =>
      unwrap(
        await api.POST("/api/invitations/{invitation_id}/accept", {
          params: { path: { invitation_id: invitationId } },
        }),
      ),
    onSuccess: async (workspace) => {
      await client.invalidateQueries({ queryKey: ["invitations"] });
      await client.invalidateQueries({ queryKey: ["workspaces"] });
      navigate(`/w/${workspace.id}/workflows`);
    },
  });
  if (!invitations.data?.length) return null;
  return (
    <Card withBorder bg="blue.0" data-testid="invitations">
      <Text fw={600} mb="xs">
        Invitations
      </Text>
      <Stack gap="xs">
        {invitations.data.map((invitation) => (
          <Group key={invitation.id} justify="space-between" data-testid={`invitation-${invitation.workspace_name}`}>
            <Text size="sm">
              <b>{invitation.workspace_name}</b> as {invitation.role}
            </Text>
            <Button
              size="xs"
              loading={accept.isPending && accept.variables === invitation.id}
              onClick={() => accept.mutate(invitation.id)}
              aria-label={`Accept the invitation to ${invitation.workspace_name}`}
              data-testid={`accept-invitation-${invitation.workspace_name}`}
            >
              Accept
            </Button>
          </Group>
        ))}
        {accept.isError && <ApiErrorAlert error={accept.error} onClose={() => accept.reset()} />}
      </Stack>
    </Card>
  );
}
