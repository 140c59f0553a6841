import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { renderScreen, runOut, serveApi, workflowOut } from "../components/screenTestKit";
import { WorkflowsList } from "./WorkflowsList";

const WORKSPACE = { id: 1, name: "Lab", role: "owner", created_at: "2024-01-01T00:00:00Z" };

const RUN = "manual__2024-05-01T06:00:00+00:00";

test("each workflow shows its schedule in words, the server's next run and the state of its last run", async () => {
  serveApi([
    ["GET", "/api/workspaces/1", { body: WORKSPACE }],
    [
      "GET",
      "/api/workspaces/1/workflows",
      {
        body: [
          workflowOut(7, "Nightly report", {
            schedule: { type: "cron", expression: "0 6 * * 1" },
            next_run_at: "2024-05-06T06:00:00Z",
          }),
          workflowOut(8, "Draft", { deployed_version: null }),
          workflowOut(9, "Hourly sync", { schedule: { type: "preset", preset: "hourly" }, is_paused: true }),
        ],
      },
    ],
    [
      "GET",
      "/api/workspaces/1/workflows/7/runs",
      {
        body: [runOut(RUN, { state: "failed", started_at: "2024-05-01T06:00:00Z", duration: 3 })],
      },
    ],
    ["GET", "/api/workspaces/1/workflows/9/runs", { body: [] }],
  ]);
  renderScreen(<WorkflowsList />, { url: "/w/1/workflows", pattern: "/w/:workspaceId/workflows" });

  const nightly = await screen.findByTestId("workflow-row-Nightly report");
  expect(within(nightly).getByTestId("workflow-schedule")).toHaveTextContent("At 06:00, only on Monday");
  expect(within(nightly).getByTestId("workflow-next-run")).toHaveTextContent(
    new Date("2024-05-06T06:00:00Z").toLocaleString(),
  );
  expect(await within(nightly).findByTestId("run-state")).toHaveTextContent("failed");
  expect(within(nightly).getByRole("switch", { name: "Pause Nightly report" })).toBeChecked();

  const draft = screen.getByTestId("workflow-row-Draft");
  expect(within(draft).getByTestId("workflow-schedule")).toHaveTextContent("Manual only");
  expect(within(draft).getByTestId("workflow-last-run")).toHaveTextContent("never deployed");
  expect(within(draft).getByTestId("workflow-next-run")).toHaveTextContent("not deployed");

  const hourly = screen.getByTestId("workflow-row-Hourly sync");
  expect(within(hourly).getByTestId("workflow-schedule")).toHaveTextContent("Every hour");
  expect(within(hourly).getByRole("switch", { name: "Resume Hourly sync" })).not.toBeChecked();
  expect(within(hourly).getByTestId("workflow-next-run")).toHaveTextContent("paused");
  expect(await within(hourly).findByTestId("workflow-last-run")).toHaveTextContent("no run yet");
});

test("Run deploys a workflow that was never deployed, starts it and opens its monitor", async () => {
  const calls = serveApi([
    ["GET", "/api/workspaces/1", { body: WORKSPACE }],
    ["GET", "/api/workspaces/1/workflows", { body: [workflowOut(8, "Draft", { deployed_version: null })] }],
    ["POST", "/api/workspaces/1/workflows/8/deploy", { body: workflowOut(8, "Draft") }],
    ["POST", "/api/workspaces/1/workflows/8/runs", { status: 201, body: runOut(RUN) }],
  ]);
  renderScreen(<WorkflowsList />, { url: "/w/1/workflows", pattern: "/w/:workspaceId/workflows" });

  await userEvent.click(await screen.findByRole("button", { name: "Run Draft now" }));

  await waitFor(() =>
    expect(screen.getByTestId("location")).toHaveTextContent(`/w/1/workflows/8/runs/${encodeURIComponent(RUN)}`),
  );
  expect(calls.filter((call) => call.method === "POST").map((call) => call.path)).toEqual([
    "/api/workspaces/1/workflows/8/deploy",
    "/api/workspaces/1/workflows/8/runs",
  ]);
});

test("a run refused by the server says why and what to do", async () => {
  serveApi([
    ["GET", "/api/workspaces/1", { body: WORKSPACE }],
    ["GET", "/api/workspaces/1/workflows", { body: [workflowOut(7, "Nightly report")] }],
    ["GET", "/api/workspaces/1/workflows/7/runs", { body: [] }],
    [
      "POST",
      "/api/workspaces/1/workflows/7/runs",
      {
        status: 422,
        body: {
          error: {
            status: 422,
            code: "invalid",
            message: "the run parameters are invalid",
            details: [{ where: "/body/parameters/size", message: "must be > 0" }],
          },
        },
      },
    ],
  ]);
  renderScreen(<WorkflowsList />, { url: "/w/1/workflows", pattern: "/w/:workspaceId/workflows" });

  await userEvent.click(await screen.findByRole("button", { name: "Run Nightly report now" }));

  const alert = await screen.findByRole("alert");
  expect(alert).toHaveTextContent("Nightly report did not start");
  expect(alert).toHaveTextContent("the run parameters are invalid");
  expect(alert).toHaveTextContent("must be > 0");
  expect(alert).toHaveTextContent("Correct what is listed above");
});

test("a long list comes in pages: Show more asks for the next one", async () => {
  const all = Array.from({ length: 130 }, (_, i) => workflowOut(i + 1, `Workflow ${String(i + 1).padStart(3, "0")}`));
  const calls = serveApi([
    ["GET", "/api/workspaces/1", { body: WORKSPACE }],
    [
      "GET",
      "/api/workspaces/1/workflows",
      ({ search }) => {
        const query = new URLSearchParams(search);
        const offset = Number(query.get("offset") ?? 0);
        return { body: all.slice(offset, offset + Number(query.get("limit"))) };
      },
    ],
    ["GET", /^\/api\/workspaces\/1\/workflows\/\d+\/runs$/, { body: [] }],
  ]);
  renderScreen(<WorkflowsList />, { url: "/w/1/workflows", pattern: "/w/:workspaceId/workflows" });

  expect(await screen.findByTestId("workflow-row-Workflow 100")).toBeInTheDocument();
  expect(screen.queryByTestId("workflow-row-Workflow 101")).toBeNull();
  await userEvent.click(screen.getByTestId("workflows-more"));

  expect(await screen.findByTestId("workflow-row-Workflow 130")).toBeInTheDocument();
  expect(screen.getAllByTestId(/^workflow-row-/)).toHaveLength(130);
  expect(screen.queryByTestId("workflows-more")).toBeNull(); // the last page was short
  const pages = calls.filter((call) => call.path === "/api/workspaces/1/workflows").map((call) => call.search);
  expect(pages).toEqual(["?limit=100&offset=0", "?limit=100&offset=100"]);
});
