// The workspace's app shell: a header with the workspace switcher, the navigation and the
// signed-in user's menu; the workspace's screens render below it in full height.
import { AppShell, Button, Group, Menu, Text, UnstyledButton } from "@mantine/core";
import { Link, NavLink, Outlet, useNavigate } from "react-router-dom";

import { UserMenu } from "../auth/UserMenu";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { useWorkspace, useWorkspaceId, useWorkspaces } from "./useWorkspace";

export const HEADER_HEIGHT = 52;

export function WorkspaceLayout() {
  const workspaceId = useWorkspaceId();
  const workspace = useWorkspace(workspaceId);

  return (
    <AppShell header={{ height: HEADER_HEIGHT }} padding={0}>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="lg" wrap="nowrap">
            <Text fw={700} c="blue.7" component={Link} to="/" aria-label="FlowUI: all workspaces">
              FlowUI
            </Text>
            <WorkspaceSwitcher currentId={workspaceId} currentName={workspace.data?.name} />
            <nav aria-label="Workspace">
              <Group gap={4}>
                <NavButton to="workflows" testId="nav-workflows">
                  Workflows
                </NavButton>
                <NavButton to="settings" testId="nav-settings">
                  Settings
                </NavButton>
              </Group>
            </nav>
          </Group>
          <UserMenu />
        </Group>
      </AppShell.Header>
      <AppShell.Main style={{ height: "100dvh", display: "flex", flexDirection: "column", overflow: "auto" }}>
        {workspace.isError ? (
          <div style={{ padding: 16 }}>
            <ApiErrorAlert error={workspace.error} title="This workspace cannot be opened" />
            <Button component={Link} to="/" mt="md" variant="light">
              Back to your workspaces
            </Button>
          </div>
        ) : (
          <Outlet />
        )}
      </AppShell.Main>
    </AppShell>
  );
}

function NavButton({ to, testId, children }: { to: string; testId: string; children: string }) {
  return (
    <NavLink to={to} data-testid={testId} style={{ textDecoration: "none" }}>
      {({ isActive }) => (
        <Button
          component="span"
          size="compact-sm"
          variant={isActive ? "light" : "subtle"}
          aria-current={isActive ? "page" : undefined}
        >
          {children}
        </Button>
      )}
    </NavLink>
  );
}

function WorkspaceSwitcher({ currentId, currentName }: { currentId: number; currentName?: string }) {
  const navigate = useNavigate();
  const workspaces = useWorkspaces();
  return (
    <Menu position="bottom-start" withinPortal>
      <Menu.Target>
        <UnstyledButton aria-label="Switch workspace" data-testid="workspace-switcher">
          <Text fw={600}>{currentName ?? "…"} ▾</Text>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        {workspaces.data
          ?.filter((workspace) => workspace.id !== currentId)
          .map((workspace) => (
            <Menu.Item key={workspace.id} onClick={() => navigate(`/w/${workspace.id}/workflows`)}>
              {workspace.name}
            </Menu.Item>
          ))}
        <Menu.Divider />
        <Menu.Item onClick={() => navigate("/")} data-testid="all-workspaces">
          All workspaces…
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
