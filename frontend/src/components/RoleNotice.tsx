// Why a member sees a screen of the workspace but cannot change it.
import { Text } from "@mantine/core";
import type { ReactNode } from "react";

import type { Schemas } from "../api/client";
import { roleAllows } from "../workspaces/useWorkspace";

interface Props {
  /** The user's role in the workspace; undefined while it loads. */
  role: string | undefined;
  /** The role the screen's changes need. */
  needs: Schemas["Role"];
  /** Who may, e.g. "only admins and owners set secrets." */
  children: ReactNode;
}

/** "You are a {role} member: {children}", for a role below `needs`; nothing otherwise. */
export function RoleNotice({ role, needs, children }: Props) {
  if (!role || roleAllows(role, needs)) return null;
  return (
    <Text size="sm" c="dimmed">
      You are a {role} member: {children}
    </Text>
  );
}
