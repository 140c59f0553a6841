import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { buildLargeWorkflow } from "./fixtures";
import { SidePanel } from "./SidePanel";
import { useEditor } from "./store";
import { renderWithProviders, standInServer } from "./testing";

const ref = { repository: "bench", name: "StepOperator", version: "1.0.0" };
const summary = {
  id: 7,
  repository_id: 1,
  repository: ref.repository,
  repository_version: "1.0.0",
  is_current: true,
  name: ref.name,
  version: ref.version,
  description: "One step",
  tags: [],
  style: { node_label: "Step" },
  has_input_schema: true,
  has_output_schema: true,
};
const detail = {
  ...summary,
  metadata: {},
  secrets: [],
  secrets_schema: null,
  container_resources: null,
  dependency_group: null,
  input_schema: {
    type: "object",
    properties: {
      index: { type: "integer", title: "Index", minimum: 0 },
      label: { type: "string", title: "Label" },
      enabled: { type: "boolean", title: "Enabled" },
      mode: { type: "string", title: "Mode", enum: ["fast", "slow"] },
      source: { type: "string", title: "Source", format: "flowui-dataset" },
    },
    required: ["index"],
  },
  output_schema: { type: "object", properties: { count: { type: "integer" }, note: { type: "string" } } },
};

const dataset = (id: number, name: string, storage_id: string) => ({
  id,
  name,
  storage_id,
  filename: `${name}.csv`,
  content_type: "text/csv",
  size: 120,
  sha256: "0".repeat(64),
  created_at: "2026-11-20T10:00:00Z",
  created_by: "ana@example.com",
});
const datasets = [dataset(1, "sales", "upload-5a1e5"), dataset(2, "customers", "upload-c0570")];
const workspace = {
  id: 1,
  name: "Lab",
  role: "write",
  default_runtime: "docker",
  effective_default_runtime: "docker",
  platform_default_runtime: "process",
  created_at: "2026-11-20T10:00:00Z",
};

beforeEach(() => {
  standInServer([
    [/GET \/api\/workspaces\/1\/operators$/, () => [summary]],
    [/GET \/api\/workspaces\/1\/operators\/7$/, () => detail],
    [/GET \/api\/workspaces\/1\/datasets$/, () => datasets],
    [/GET \/api\/workspaces\/1$/, () => workspace],
  ]);
  useEditor.getState().load(buildLargeWorkflow(3, ref), 5);
});

test("the selected task's form edits its inputs in the document, one undo step per field", async () => {
  useEditor.getState().select(["t2"]);
  renderWithProviders(<SidePanel workspaceId={1} />);

  const label = await screen.findByLabelText("Label");
  expect(label).toHaveValue("step 2");
  await userEvent.clear(label);
  await userEvent.type(label, "renamed");
  await waitFor(() =>
    expect(useEditor.getState().history.present.tasks[2].inputs!.label).toEqual({ value: "renamed" }),
  );
  expect(useEditor.getState().history.past).toHaveLength(1); // typing coalesces into one step

  useEditor.getState().undo();
  await waitFor(() => expect(screen.getByLabelText("Label")).toHaveValue("step 2"));
});

test("an input bound to an upstream output offers only outputs of a fitting type", async () => {
  useEditor.getState().select(["t2"]);
  renderWithProviders(<SidePanel workspaceId={1} />);

  const index = await screen.findByTestId("input-index");
  await userEvent.click(within(index).getByLabelText("upstream"));
  await userEvent.click(await within(index).findByRole("combobox", { name: "Upstream output for index" }));
  // t0 and t1 are upstream of t2; "note" is a string and cannot feed an integer.
  const options = (await screen.findAllByRole("option")).map((option) => option.textContent);
  expect(options).toEqual(["t0 → count (integer)", "t1 → count (integer)"]);
  await userEvent.click(screen.getByRole("option", { name: "t0 → count (integer)" }));
  expect(useEditor.getState().history.present.tasks[2].inputs!.index).toEqual({ from: "t0", output: "count" });
});

test("with nothing selected, the panel edits the workflow's settings", async () => {
  renderWithProviders(<SidePanel workspaceId={1} />);
  const name = screen.getByLabelText(/^Name/);
  await userEvent.clear(name);
  expect(await screen.findByText("Give the workflow a name")).toBeInTheDocument();
  await userEvent.type(name, "Nightly");
  expect(useEditor.getState().history.present.name).toBe("Nightly");

  await userEvent.click(screen.getByLabelText("cron"));
  const cron = screen.getByLabelText("Cron expression");
  expect(screen.getByText(/At 06:00/)).toBeInTheDocument();
  await userEvent.clear(cron);
  await userEvent.type(cron, "61 * * * *");
  expect(await screen.findByText(/Not a valid cron expression/)).toBeInTheDocument();
  expect(useEditor.getState().history.present.schedule).toEqual({ type: "cron", expression: "61 * * * *" });
});

test("a dataset input offers the workspace's datasets by name and keeps the picked one's id", async () => {
  useEditor.getState().select(["t1"]);
  renderWithProviders(<SidePanel workspaceId={1} />);

  const source = await screen.findByRole("combobox", { name: "Source" });
  await userEvent.type(source, "cust");
  const options = await screen.findAllByRole("option");
  expect(options.map((option) => option.textContent)).toEqual(["customersupload-c0570"]);
  await userEvent.click(options[0]);
  await waitFor(() =>
    expect(useEditor.getState().history.present.tasks[1].inputs!.source).toEqual({ value: "upload-c0570" }),
  );
  expect(screen.getByText("customers (customers.csv)")).toBeInTheDocument();

  await userEvent.clear(source);
  await userEvent.type(source, "../etc");
  expect(await screen.findByText(/must be a dataset id/, { selector: `#${source.id}-error` })).toBeInTheDocument();
  expect(source).toHaveAttribute("aria-invalid", "true");
});

test("a task's runtime is the workspace's default until one is picked, and back", async () => {
  useEditor.getState().select(["t1"]);
  renderWithProviders(<SidePanel workspaceId={1} />);
  await userEvent.click(await screen.findByRole("tab", { name: "Settings" }));

  const runtime = await screen.findByRole("combobox", { name: "Runtime" });
  await waitFor(() => expect(runtime).toHaveValue("Workspace default (docker)"));
  await userEvent.click(runtime);
  const options = (await screen.findAllByRole("option")).map((option) => option.textContent);
  expect(options).toEqual([
    "Workspace default (docker)",
    "process (a process on the platform's machine)",
    "docker (a container of the operator's image)",
    "kubernetes (a pod in the cluster)",
    "aws_batch (an AWS Batch job)",
  ]);
  await userEvent.click(screen.getByRole("option", { name: /^kubernetes/ }));
  expect(useEditor.getState().history.present.tasks[1].runtime).toBe("kubernetes");
  expect(runtime).toHaveValue("kubernetes (a pod in the cluster)");

  await userEvent.click(runtime);
  await userEvent.click(await screen.findByRole("option", { name: "Workspace default (docker)" }));
  // The default is stored as no runtime at all: the workspace's default can change later.
  expect("runtime" in useEditor.getState().history.present.tasks[1]).toBe(false);
});
