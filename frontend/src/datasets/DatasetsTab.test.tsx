import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { apiError, renderScreen, serveApi } from "../components/screenTestKit";
import { DatasetsTab } from "./DatasetsTab";

const sales = {
  id: 4,
  name: "sales",
  storage_id: "upload-5a1e5",
  filename: "sales.csv",
  content_type: "text/csv",
  size: 2048,
  sha256: "0".repeat(64),
  created_at: "2026-11-20T10:00:00Z",
  created_by: "ana@example.com",
};

test("uploading a file sends its name and bytes as a form, then lists the new dataset with its id", async () => {
  let stored: (typeof sales)[] = [];
  const calls = serveApi([
    ["GET", "/api/workspaces/1/datasets", () => ({ body: stored })],
    [
      "POST",
      "/api/workspaces/1/datasets",
      () => {
        stored = [sales];
        return { status: 201, body: sales };
      },
    ],
  ]);
  renderScreen(<DatasetsTab workspaceId={1} role="write" />, {
    url: "/w/1/settings",
    pattern: "/w/:workspaceId/settings",
  });
  expect(await screen.findByText("No dataset uploaded yet.")).toBeInTheDocument();

  const file = new File(["region,amount\nnorth,3\n"], "sales.csv", { type: "text/csv" });
  await userEvent.upload(screen.getByTestId("dataset-file"), file);
  expect(screen.getByTestId("dataset-name")).toHaveValue("sales"); // named after the file
  await userEvent.click(screen.getByTestId("dataset-upload-submit"));

  const row = await screen.findByTestId("dataset-row-sales");
  expect(within(row).getByTestId("dataset-storage-id")).toHaveTextContent("upload-5a1e5");
  expect(row).toHaveTextContent("2.0 KiB");
  expect(await screen.findByRole("status")).toHaveTextContent("Uploaded sales as dataset upload-5a1e5");
  const form = await calls.find((call) => call.method === "POST")!.request.formData();
  expect(form.get("name")).toBe("sales");
  // The file's bytes: undici (the fetch under jsdom) cannot read jsdom's File; the browser
  // test (tests/test_gui_e2e.py) uploads a real file.
  expect(form.has("file")).toBe(true);
});

test("readers see the datasets but cannot upload or delete, and a refused upload says why", async () => {
  serveApi([["GET", "/api/workspaces/1/datasets", { body: [sales] }]]);
  const view = renderScreen(<DatasetsTab workspaceId={1} role="read" />, {
    url: "/w/1/settings",
    pattern: "/w/:workspaceId/settings",
  });
  const row = await screen.findByTestId("dataset-row-sales");
  expect(within(row).getByRole("button", { name: "Download sales" })).toBeInTheDocument();
  expect(within(row).queryByRole("button", { name: "Delete sales" })).toBeNull();
  expect(screen.queryByTestId("dataset-upload")).toBeNull();
  view.unmount();

  serveApi([
    ["GET", "/api/workspaces/1/datasets", { body: [sales] }],
    [
      "POST",
      "/api/workspaces/1/datasets",
      {
        status: 409,
        body: apiError(409, "a dataset named 'sales' exists in this workspace", [
          { where: "/body/name", message: "taken" },
        ]),
      },
    ],
  ]);
  renderScreen(<DatasetsTab workspaceId={1} role="admin" />, {
    url: "/w/1/settings",
    pattern: "/w/:workspaceId/settings",
  });
  await userEvent.upload(await screen.findByTestId("dataset-file"), new File(["x"], "sales.csv"));
  await userEvent.click(screen.getByTestId("dataset-upload-submit"));
  await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("a dataset named 'sales' exists"));
});
