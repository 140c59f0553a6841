// The workspace's settings: members and roles, operators repositories, secrets, datasets, the
// default runtime and the limits that platform administrators set.
import { Container, Tabs, Title } from "@mantine/core";
import type { ComponentType } from "react";
import { useSearchParams } from "react-router-dom";

import { DatasetsTab } from "../datasets/DatasetsTab";
import { LimitsTab } from "./LimitsTab";
import { MembersTab } from "./MembersTab";
import { RepositoriesTab } from "./RepositoriesTab";
import { RuntimeTab } from "./RuntimeTab";
import { SecretsTab } from "./SecretsTab";
import { type SettingsTabProps, useWorkspace, useWorkspaceId } from "./useWorkspace";

// Each tab: its name in the URL (?tab=), its title, and what it shows.
const TABS: { name: string; title: string; Content: ComponentType<SettingsTabProps> }[] = [
  { name: "members", title: "Members", Content: MembersTab },
  { name: "repositories", title: "Repositories", Content: RepositoriesTab },
  { name: "secrets", title: "Secrets", Content: SecretsTab },
  { name: "datasets", title: "Datasets", Content: DatasetsTab },
  { name: "runtime", title: "Runtime", Content: RuntimeTab },
  { name: "limits", title: "Limits", Content: LimitsTab },
];

export function WorkspaceSettings() {
  const workspaceId = useWorkspaceId();
  const workspace = useWorkspace(workspaceId);
  const [search, setSearch] = useSearchParams();
  const requested = search.get("tab");
  const tab = TABS.find(({ name }) => name === requested)?.name ?? "members";
  const role = workspace.data?.role;

  return (
    <Container size="lg" w="100%" py="md">
      <Title order={3} mb="md">
        Settings of {workspace.data?.name ?? "the workspace"}
      </Title>
      <Tabs
        value={tab}
        onChange={(value) => setSearch(value ? { tab: value } : {}, { replace: true })}
        keepMounted={false}
      >
        <Tabs.List mb="md">
          {TABS.map(({ name, title }) => (
            <Tabs.Tab key={name} value={name} data-testid={`settings-tab-${name}`}>
              {title}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {TABS.map(({ name, Content }) => (
          <Tabs.Panel key={name} value={name}>
            <Content workspaceId={workspaceId} role={role} />
          </Tabs.Panel>
        ))}
      </Tabs>
    </Container>
  );
}
