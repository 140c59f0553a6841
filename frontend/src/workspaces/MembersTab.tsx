// Members of the workspace and their roles: invite by e-mail, change a role, remove, leave.
import { Badge, Button, Group, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, type Schemas, unwrap } from "../api/client";
import { useCurrentUser } from "../auth/session";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { RoleNotice } from "../components/RoleNotice";
import { RowAction } from "../components/RowActions";
import { ListTable } from "../components/ListTable";
import { ROLES, roleAllows, type SettingsTabProps } from "./useWorkspace";

type Role = Schemas["Role"];
type Member = Schemas["MemberOut"];

export function MembersTab({ workspaceId, role }: SettingsTabProps) {
  const client = useQueryClient();
  const me = useCurrentUser();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const canManage = roleAllows(role, "admin");
  const path = { workspace_id: workspaceId };

  const members = useQuery({
    queryKey: ["workspaces", workspaceId, "members"],
    queryFn: async () => unwrap(await api.GET("/api/workspaces/{workspace_id}/members", { params: { path } })),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["workspaces", workspaceId] });

  const changeRole = useMutation({
    mutationFn: async ({ userId, newRole }: { userId: number; newRole: Role }) =>
      unwrap(
        await api.PATCH("/api/workspaces/{workspace_id}/members/{user_id}", {
          params: { path: { ...path, user_id: userId } },
          body: { role: newRole },
        }),
      ),
    onMutate: () => setError(null),
    onSuccess: refresh,
    onError: setError,
  });
  const remove = useMutation({
    mutationFn: async (userId: number) =>
      unwrap(
        await api.DELETE("/api/workspaces/{workspace_id}/members/{user_id}", {
          params: { path: { ...path, user_id: userId } },
        }),
      ),
    onSuccess: async (_, userId) => {
      setRemoving(null);
      if (userId === me.data?.id) {
        await client.invalidateQueries({ queryKey: ["workspaces"] });
        navigate("/");
      } else {
        await refresh();
      }
    },
  });

  return (
    <Stack>
      {error != null && <ApiErrorAlert error={error} onClose={() => setError(null)} />}
      {members.isError && <ApiErrorAlert error={members.error} onRetry={() => members.refetch()} />}
      <RoleNotice role={role} needs="admin">
        only admins and owners invite members and change roles.
      </RoleNotice>
      <ListTable titles={["Name", "E-mail", "Role"]} withActions data-testid="members-table">
        {members.data?.map((member) => {
          const isMe = member.user_id === me.data?.id;
          return (
            <Table.Tr key={member.user_id} data-testid={`member-row-${member.email}`}>
              <Table.Td>
                {member.display_name}{" "}
                {isMe && (
                  <Badge size="xs" variant="outline">
                    you
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{member.email}</Table.Td>
              <Table.Td>
                <Select
                  size="xs"
                  w={110}
                  data={[...ROLES]}
                  value={member.role}
                  allowDeselect={false}
                  disabled={!canManage}
                  aria-label={`Role of ${member.email}`}
                  data-testid={`member-role-${member.email}`}
                  onChange={(value) =>
                    value &&
                    value !== member.role &&
                    changeRole.mutate({ userId: member.user_id, newRole: value as Role })
                  }
                />
              </Table.Td>
              <Table.Td>
                {(isMe || canManage) && (
                  <RowAction
                    label={isMe ? "Leave" : "Remove"}
                    target={isMe ? "the workspace" : member.email}
                    destructive
                    onClick={() => setRemoving(member)}
                    data-testid={isMe ? "leave-workspace" : `remove-member-${member.email}`}
                  />
                )}
              </Table.Td>
            </Table.Tr>
          );
        })}
      </ListTable>
      {canManage && <InviteMember workspaceId={workspaceId} role={role} />}
      <ConfirmDialog
        opened={removing != null}
        title={removing?.user_id === me.data?.id ? "Leave the workspace?" : "Remove the member?"}
        confirmLabel={removing?.user_id === me.data?.id ? "Leave" : "Remove"}
        busy={remove.isPending}
        error={remove.error}
        onCancel={() => {
          setRemoving(null);
          remove.reset();
        }}
        onConfirm={() => removing && remove.mutate(removing.user_id)}
      >
        {removing?.user_id === me.data?.id
          ? "You will lose access to its workflows and runs until someone invites you again."
          : `${removing?.email} will lose access to this workspace.`}
      </ConfirmDialog>
    </Stack>
  );
}

function InviteMember({ workspaceId, role }: SettingsTabProps) {
  const client = useQueryClient();
  const [email, setEmail] = useState("");
  const [newRole, setNewRole] = useState<Role>("write");
  const path = { workspace_id: workspaceId };
  const invitations = useQuery({
    queryKey: ["workspaces", workspaceId, "invitations"],
    queryFn: async () => unwrap(await api.GET("/api/workspaces/{workspace_id}/invitations", { params: { path } })),
  });
  const invite = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/invitations", {
          params: { path },
          body: { email: email.trim(), role: newRole },
        }),
      ),
    onSuccess: () => {
      setEmail("");
      return client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "invitations"] });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    invite.mutate();
  }
  // Only owners make owners.
  const offered = role === "owner" ? [...ROLES] : ROLES.filter((r) => r !== "owner");

  return (
    <Stack gap="xs">
      <Title order={5}>Invite a member</Title>
      <form onSubmit={submit}>
        <Group align="flex-end">
          <TextInput
            label="E-mail"
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            data-testid="invite-email"
          />
          <Select
            label="Role"
            w={120}
            data={offered}
            value={newRole}
            allowDeselect={false}
            onChange={(value) => value && setNewRole(value as Role)}
            data-testid="invite-role"
          />
          <Button type="submit" loading={invite.isPending} disabled={!email.trim()} data-testid="invite-submit">
            Invite
          </Button>
        </Group>
      </form>
      {invite.isError && <ApiErrorAlert error={invite.error} onClose={() => invite.reset()} />}
      {invite.isSuccess && (
        <Text size="sm" c="green.8" role="status">
          Invitation sent: {invite.data.email} sees it in their workspace list after signing in.
        </Text>
      )}
      {!!invitations.data?.length && (
        <Text size="sm" c="dimmed" data-testid="pending-invitations">
          Pending: {invitations.data.map((i) => `${i.email} (${i.role})`).join(", ")}
        </Text>
      )}
    </Stack>
  );
}
