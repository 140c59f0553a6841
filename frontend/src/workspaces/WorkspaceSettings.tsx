// The workspace's settings: members and roles, operators repositories, secrets, datasets, the
// default runtime and the limits that platform administrators set.
import { Container, Tabs, Title } from "@mantine/core";
import { useSearchParams } from "react-router-dom";

import { DatasetsTab } from "../datasets/DatasetsTab";
import { LimitsTab } from "./LimitsTab";
import { MembersTab } from "./MembersTab";
import { RepositoriesTab } from "./RepositoriesTab";
import { RuntimeTab } from "./RuntimeTab";
import { SecretsTab } from "./SecretsTab";
import { useWorkspace, useWorkspaceId } from "./useWorkspace";

const TABS = ["members", "repositories", "secrets", "datasets", "runtime", "limits"] as const;

export function WorkspaceSettings() {
  const workspaceId = useWorkspaceId();
  const workspace = useWorkspace(workspaceId);
  const [search, setSearch] = useSearchParams();
  const requested = search.get("tab");
  const tab = TABS.find((name) => name === requested) ?? "members";
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
          <Tabs.Tab value="members" data-testid="settings-tab-members">
            Members
          </Tabs.Tab>
          <Tabs.Tab value="repositories" data-testid="settings-tab-repositories">
            Repositories
          </Tabs.Tab>
          <Tabs.Tab value="secrets" data-testid="settings-tab-secrets">
            Secrets
          </Tabs.Tab>
          <Tabs.Tab value="datasets" data-testid="settings-tab-datasets">
            Datasets
          </Tabs.Tab>
          <Tabs.Tab value="runtime" data-testid="settings-tab-runtime">
            Runtime
          </Tabs.Tab>
          <Tabs.Tab value="limits" data-testid="settings-tab-limits">
            Limits
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="members">
          <MembersTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="repositories">
          <RepositoriesTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="secrets">
          <SecretsTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="datasets">
          <DatasetsTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="runtime">
          <RuntimeTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="limits">
          <LimitsTab workspaceId={workspaceId} role={role} />
        </Tabs.Panel>
      </Tabs>
    </Container>
  );
}
