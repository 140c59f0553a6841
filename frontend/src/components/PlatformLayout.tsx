// The app shell of the screens outside any workspace (your account, the audit trail): a header
// with the way back to the workspaces and the signed-in user's menu; the screen below it.
import { AppShell, Button, Group, Text } from "@mantine/core";
import { Link, Outlet } from "react-router-dom";

import { UserMenu } from "../auth/UserMenu";
import { HEADER_HEIGHT } from "../workspaces/WorkspaceLayout";

export function PlatformLayout() {
  return (
    <AppShell header={{ height: HEADER_HEIGHT }} padding={0}>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="lg" wrap="nowrap">
            <Text fw={700} c="blue.7" component={Link} to="/" aria-label="FlowUI: all workspaces">
              FlowUI
            </Text>
            <Button size="compact-sm" variant="subtle" component={Link} to="/" data-testid="nav-workspaces">
              Workspaces
            </Button>
          </Group>
          <UserMenu />
        </Group>
      </AppShell.Header>
      <AppShell.Main style={{ height: "100dvh", display: "flex", flexDirection: "column", overflow: "auto" }}>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
