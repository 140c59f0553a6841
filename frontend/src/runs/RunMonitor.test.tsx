import { fireEvent, screen, waitFor, within } from "@testing-library/react";

import { renderScreen, runOut, serveApi, workflowOut } from "../components/screenTestKit";
import { RunMonitor } from "./RunMonitor";

const RUN = "manual__2024-05-01T06:00:00+00:00";
const ENCODED = encodeURIComponent(RUN);
const BASE = `/api/workspaces/1/workflows/7/runs/${ENCODED}`;

const DOCUMENT = {
  schema_version: 1,
  name: "Train",
  schedule: { type: "none" },
  tasks: [
    { id: "load", operator: { repository: "ex", name: "LoadSampleDatasetOperator", version: "0.1.0" }, inputs: {} },
    {
      id: "train",
      operator: { repository: "ex", name: "TrainModelOperator", version: "0.1.0" },
      inputs: { train_path: { from: "load", output: "path" } },
    },
  ],
};

function task(task_id: string, state: string | null, started: string | null, ended: string | null) {
  return { task_id, state, try_number: 1, started_at: started, ended_at: ended, duration: started && ended ? 2 : null };
}

beforeAll(() => {
  // xyflow measures nodes and reads transforms, which jsdom does not do.
  globalThis.DOMMatrixReadOnly ??= class {
    m22 = 1;
    constructor() {}
  } as unknown as typeof DOMMatrixReadOnly;
});

test("a failed task is drawn in the failure colour and its log is shown when clicked", async () => {
  const calls = serveApi([
    ["GET", "/api/workspaces/1", { body: { id: 1, name: "Lab", role: "write", created_at: "2024-01-01T00:00:00Z" } }],
    [
      "GET",
      "/api/workspaces/1/workflows/7",
      { body: { ...workflowOut(7, "Train", { current_version: 2, deployed_version: 2 }), document: DOCUMENT } },
    ],
    [
      "GET",
      BASE,
      {
        body: {
          ...runOut(RUN, {
            state: "failed",
            started_at: "2024-05-01T06:00:00Z",
            ended_at: "2024-05-01T06:00:05Z",
            duration: 5,
          }),
          tasks: [
            task("load", "success", "2024-05-01T06:00:00Z", "2024-05-01T06:00:02Z"),
            {
              ...task("train", "failed", "2024-05-01T06:00:02Z", "2024-05-01T06:00:04Z"),
              placement: {
                runtime: "docker",
                host: "worker-1",
                container_id: "4f2a9c1be07d5e3a8b6c0d1e2f3a4b5c",
                image: "localhost/ex:0.1.0-group0",
              },
            },
          ],
        },
      },
    ],
    [
      "GET",
      `${BASE}/tasks/train/log`,
      {
        body: {
          content: "training…\nValueError: the model diverged\n",
          next_offset: 40,
          complete: true,
          state: "failed",
        },
      },
    ],
  ]);
  renderScreen(<RunMonitor />, {
    url: `/w/1/workflows/7/runs/${ENCODED}`,
    pattern: "/w/:workspaceId/workflows/:workflowId/runs/:runId",
  });

  const train = await screen.findByTestId("run-task-train");
  expect(train).toHaveAttribute("data-state", "failed");
  expect(train.style.borderColor).toContain("--mantine-color-red-6");
  expect(screen.getByTestId("run-task-load")).toHaveAttribute("data-state", "success");
  expect(screen.getAllByTestId("run-state")[0]).toHaveTextContent("failed");

  // A plain click: d3-zoom's mousedown handler needs a window that jsdom's events lack.
  fireEvent.click(train);

  const log = await screen.findByTestId("task-log");
  await waitFor(() => expect(log).toHaveTextContent("ValueError: the model diverged"));
  const panel = within(screen.getByTestId("task-panel"));
  expect(panel.getByTestId("task-state")).toHaveTextContent("failed");
  // Where it ran: the runtime, the container's short id (the full one on hover) and the host.
  expect(panel.getByTestId("task-placement-runtime")).toHaveTextContent("docker");
  expect(panel.getByTestId("task-placement-id")).toHaveTextContent("container 4f2a9c1be07d");
  expect(panel.getByTitle("4f2a9c1be07d5e3a8b6c0d1e2f3a4b5c")).toBeInTheDocument();
  expect(panel.getByTestId("task-placement-host")).toHaveTextContent("on worker-1");
  // The run id's ':' and '+' travel encoded in the API's path.
  expect(calls.some((call) => call.path === `${BASE}/tasks/train/log`)).toBe(true);
});

test("the timeline shows a bar per started task", async () => {
  serveApi([
    ["GET", "/api/workspaces/1", { body: { id: 1, name: "Lab", role: "read", created_at: "2024-01-01T00:00:00Z" } }],
    [
      "GET",
      "/api/workspaces/1/workflows/7",
      { status: 404, body: { error: { status: 404, code: "not_found", message: "no workflow 7", details: [] } } },
    ],
    [
      "GET",
      BASE,
      {
        body: {
          ...runOut(RUN, { state: "running", started_at: "2024-05-01T06:00:00Z" }),
          tasks: [
            task("load", "success", "2024-05-01T06:00:00Z", "2024-05-01T06:00:02Z"),
            task("train", null, null, null),
          ],
        },
      },
    ],
  ]);
  renderScreen(<RunMonitor />, {
    url: `/w/1/workflows/7/runs/${ENCODED}?view=timeline`,
    pattern: "/w/:workspaceId/workflows/:workflowId/runs/:runId",
  });

  expect(await screen.findByTestId("timeline-task-load")).toHaveAttribute("data-state", "success");
  expect(screen.getByTestId("timeline-task-train")).toHaveAttribute("data-state", "none");
  expect(screen.queryByTestId("run-cancel")).not.toBeInTheDocument();
});
