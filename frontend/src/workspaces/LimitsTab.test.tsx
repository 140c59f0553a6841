import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { type Schemas, tokenStore } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { WorkspaceSettings } from "./WorkspaceSettings";

const PLATFORM = {
  task_cpus: 16,
  task_memory_mb: 65536,
  task_gpus: 4,
  active_runs: 16,
  runtimes: ["process", "docker", "kubernetes", "aws_batch"],
};
const NONE_OF_ITS_OWN: Schemas["LimitsUpdate"] = {
  task_cpus: null,
  task_memory_mb: null,
  task_gpus: null,
  active_runs: null,
  runtimes: null,
};

function user(isAdmin: boolean) {
  return { id: 1, email: "ada@example.org", display_name: "Ada", is_admin: isAdmin };
}

function workspaceOf(role: string) {
  return {
    id: 1,
    name: "Lab",
    role,
    default_runtime: null,
    effective_default_runtime: "process",
    platform_default_runtime: "process",
    created_at: "2026-11-20T10:00:00Z",
  };
}

function openLimits() {
  tokenStore.set("a-token");
  renderScreen(<WorkspaceSettings />, { url: "/w/1/settings?tab=limits", pattern: "/w/:workspaceId/settings" });
}

afterEach(() => tokenStore.clear());

test("a member sees the limits in force but no way to change them", async () => {
  serveApi([
    ["GET", "/api/auth/me", { body: user(false) }],
    ["GET", "/api/workspaces/1", { body: workspaceOf("owner") }],
    [
      "GET",
      "/api/workspaces/1/limits",
      {
        body: {
          effective: { ...PLATFORM, task_cpus: 2, runtimes: ["docker"] },
          own: { ...NONE_OF_ITS_OWN, task_cpus: 2, runtimes: ["docker"] },
          platform: PLATFORM,
        },
      },
    ],
  ]);
  openLimits();

  expect(await screen.findByTestId("limit-task_cpus")).toHaveTextContent("2 cores");
  expect(screen.getByTestId("limit-runtimes")).toHaveTextContent("docker");
  expect(screen.getByText(/Platform administrators set these limits/)).toBeInTheDocument();
  expect(screen.queryByTestId("save-limits")).not.toBeInTheDocument();
});

test("a platform administrator sets a limit, and clears another back to the platform's", async () => {
  let stored: Schemas["LimitsUpdate"] = { ...NONE_OF_ITS_OWN, active_runs: 4 };
  const calls = serveApi([
    ["GET", "/api/auth/me", { body: user(true) }],
    ["GET", "/api/workspaces/1", { body: workspaceOf("read") }],
    ["GET", "/api/workspaces/1/limits", () => ({ body: { effective: PLATFORM, own: stored, platform: PLATFORM } })],
    [
      "PUT",
      "/api/workspaces/1/limits",
      () => ({
        body: {
          effective: { ...PLATFORM, task_memory_mb: stored.task_memory_mb ?? PLATFORM.task_memory_mb },
          own: stored,
          platform: PLATFORM,
        },
      }),
    ],
  ]);
  openLimits();

  const memory = await screen.findByRole("textbox", { name: "Memory of a task" });
  expect(memory).toHaveAttribute("placeholder", "65536 (the platform's)");
  await userEvent.type(memory, "2048");
  await userEvent.clear(screen.getByRole("textbox", { name: "Runs at once" }));
  stored = { ...NONE_OF_ITS_OWN, task_memory_mb: 2048 };
  await userEvent.click(screen.getByTestId("save-limits"));

  await waitFor(() => expect(screen.getByTestId("effective-limits")).toHaveTextContent("2048 MiB"));
  const [sent] = await Promise.all(
    calls.filter((call) => call.method === "PUT").map((call) => call.request.clone().json()),
  );
  expect(sent).toEqual({ ...NONE_OF_ITS_OWN, task_memory_mb: 2048 });
});
