import { screen, within } from "@testing-library/react";

import { renderScreen, serveApi } from "../components/screenTestKit";
import { ResultViewer } from "./ResultViewer";

const TASK = { workspaceId: 1, workflowId: 7, runId: "manual__2024-05-01T06:00:00+00:00", taskId: "report" };
const RESULTS = `/api/workspaces/1/workflows/7/runs/${encodeURIComponent(TASK.runId)}/tasks/report/results`;

function show(fileType: string, path: string, text: string, contentType = "application/octet-stream") {
  const calls = serveApi([["GET", `${RESULTS}/${encodeURIComponent(path)}`, { text, contentType }]]);
  renderScreen(<ResultViewer task={TASK} fileType={fileType} path={path} />, { url: "/", pattern: "/" });
  return calls;
}

test("a CSV result is shown as a table with its header", async () => {
  show("csv", "tables/metrics.csv", 'metric,value\naccuracy,0.93\n"f1, macro","0.9"\n');

  const table = await screen.findByTestId("result-csv-table");
  expect(
    within(table)
      .getAllByRole("columnheader")
      .map((cell) => cell.textContent),
  ).toEqual(["metric", "value"]);
  expect(within(table).getAllByRole("row")).toHaveLength(3);
  expect(within(table).getByText("f1, macro")).toBeInTheDocument();
});

test("a CSV result shows its first 200 rows only", async () => {
  const rows = Array.from({ length: 250 }, (_, index) => `${index},x`).join("\n");
  show("csv", "big.csv", `n,label\n${rows}\n`);

  const table = await screen.findByTestId("result-csv-table");
  expect(within(table).getAllByRole("row")).toHaveLength(201);
  expect(screen.getByText(/The first 200 rows/)).toBeInTheDocument();
});

test("markdown is rendered without ever injecting its HTML", async () => {
  show(
    "md",
    "notes.md",
    '# Findings\n\n<img src=x onerror="alert(1)">\n\n- **good** model\n- <script>alert(2)</script>\n',
  );

  const viewer = await screen.findByTestId("result-viewer");
  expect(await within(viewer).findByRole("heading", { name: "Findings" })).toBeInTheDocument();
  expect(within(viewer).getByText("good").tagName).toBe("STRONG");
  expect(viewer.querySelector("img, script")).toBeNull();
  expect(viewer).toHaveTextContent('<img src=x onerror="alert(1)">');
  expect(viewer).toHaveTextContent("<script>alert(2)</script>");
});

test("an HTML result is shown in a sandboxed frame with no permissions", async () => {
  show("html", "report.html", "<h1>Report</h1><script>parent.alert(1)</script>");

  const frame = await screen.findByTitle("Result report.html");
  expect(frame.tagName).toBe("IFRAME");
  expect(frame).toHaveAttribute("sandbox", "");
  expect(frame).toHaveAttribute("srcdoc", "<h1>Report</h1><script>parent.alert(1)</script>");
});
