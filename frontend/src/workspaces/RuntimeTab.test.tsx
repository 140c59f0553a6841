import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { renderScreen, serveApi } from "../components/screenTestKit";
import { WorkspaceSettings } from "./WorkspaceSettings";

function workspace(role: string, own: string | null) {
  return {
    id: 1,
    name: "Lab",
    role,
    default_runtime: own,
    effective_default_runtime: own ?? "process",
    platform_default_runtime: "process",
    created_at: "2026-11-20T10:00:00Z",
  };
}

// The dropdown's opening transition keeps its options hidden from the accessibility tree here.
function openRuntimeSettings() {
  renderScreen(<WorkspaceSettings />, { url: "/w/1/settings?tab=runtime", pattern: "/w/:workspaceId/settings" });
}

test("an admin sets the workspace's default runtime, and back to the platform's", async () => {
  let current = workspace("admin", null);
  const calls = serveApi([
    ["GET", "/api/workspaces/1", () => ({ body: current })],
    ["GET", "/api/workspaces", () => ({ body: [current] })],
    [
      "PATCH",
      "/api/workspaces/1",
      () => ({ body: current }), // the test sets `current` to what the server stores
    ],
  ]);
  openRuntimeSettings();

  const select = await screen.findByRole("combobox", { name: "Default runtime" });
  await waitFor(() => expect(select).toHaveValue("Platform default (process)"));
  expect(screen.getByTestId("workspace-effective-runtime")).toHaveTextContent("run in process");

  current = workspace("admin", "docker");
  await userEvent.click(select);
  await userEvent.click(await screen.findByRole("option", { name: /^docker/, hidden: true }));
  await waitFor(() => expect(screen.getByTestId("workspace-effective-runtime")).toHaveTextContent("run in docker"));
  expect(select).toHaveValue("docker (a container of the operator's image)");

  current = workspace("admin", null);
  await userEvent.click(select);
  await userEvent.click(await screen.findByRole("option", { name: "Platform default (process)", hidden: true }));
  await waitFor(() => expect(screen.getByTestId("workspace-effective-runtime")).toHaveTextContent("run in process"));

  const sent = await Promise.all(
    calls.filter((call) => call.method === "PATCH").map((call) => call.request.clone().json()),
  );
  expect(sent).toEqual([{ default_runtime: "docker" }, { default_runtime: null }]);
});

test("a reader sees the default runtime but cannot change it", async () => {
  serveApi([["GET", "/api/workspaces/1", { body: workspace("read", "kubernetes") }]]);
  openRuntimeSettings();

  const select = await screen.findByRole("combobox", { name: "Default runtime" });
  await waitFor(() => expect(select).toHaveValue("kubernetes (a pod in the cluster)"));
  expect(select).toBeDisabled();
  expect(screen.getByText(/only admins and owners change the default runtime/)).toBeInTheDocument();
  expect(screen.getByTestId("workspace-effective-runtime")).toHaveTextContent("run in kubernetes");
});
