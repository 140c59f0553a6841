import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

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
  location: "file_system",
  storage_bucket: "acme-data",
};

const screenUrl = { url: "/w/1/settings", pattern: "/w/:workspaceId/settings" };

/** Holds the requests to `path` until the returned function is called: what the screen shows
 * while the server works. */
function holdRequests(path: string): () => void {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const mocked = vi.mocked(globalThis.fetch);
  const answer = mocked.getMockImplementation()!;
  mocked.mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).pathname === path) await released;
    return answer(input, init);
  });
  return release;
}

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
  renderScreen(<DatasetsTab workspaceId={1} role="write" />, screenUrl);
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
  const view = renderScreen(<DatasetsTab workspaceId={1} role="read" />, screenUrl);
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
  renderScreen(<DatasetsTab workspaceId={1} role="admin" />, screenUrl);
  await userEvent.upload(await screen.findByTestId("dataset-file"), new File(["x"], "sales.csv"));
  await userEvent.click(screen.getByTestId("dataset-upload-submit"));
  await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("a dataset named 'sales' exists"));
});

test("the Where column says where each dataset is, with the bucket's name on hover", async () => {
  serveApi([
    [
      "GET",
      "/api/workspaces/1/datasets",
      {
        body: [
          sales,
          { ...sales, id: 5, name: "archive", storage_id: "upload-a5c", location: "bucket" },
          { ...sales, id: 6, name: "model", storage_id: "upload-6d0", location: "both" },
        ],
      },
    ],
  ]);
  renderScreen(<DatasetsTab workspaceId={1} role="read" />, screenUrl);

  const where = (name: string) => within(screen.getByTestId(`dataset-row-${name}`)).getByTestId("dataset-location");
  await screen.findByTestId("dataset-row-sales");
  expect(within(screen.getByTestId("datasets-table")).getByText("Where")).toBeInTheDocument();
  expect(where("sales")).toHaveTextContent("File system");
  expect(where("archive")).toHaveTextContent("Bucket");
  expect(where("model")).toHaveTextContent("Both");
  await userEvent.hover(where("archive"));
  expect(await screen.findByText("Only in the bucket acme-data: pull it for tasks to read it")).toBeInTheDocument();
});

test("pushing a dataset shows that it runs, then what it copied, and refreshes the list", async () => {
  let stored = [sales];
  const calls = serveApi([
    ["GET", "/api/workspaces/1/datasets", () => ({ body: stored })],
    [
      "POST",
      "/api/workspaces/1/datasets/4/sync",
      () => {
        stored = [{ ...sales, location: "both" }];
        return {
          body: {
            bucket: "acme-data",
            pushed: ["v0001"],
            pulled: [],
            unchanged: [],
            bytes_copied: 2048,
            sha256: { v0001: "0".repeat(64) },
          },
        };
      },
    ],
  ]);
  const release = holdRequests("/api/workspaces/1/datasets/4/sync");
  renderScreen(<DatasetsTab workspaceId={1} role="write" />, screenUrl);

  await userEvent.click(await screen.findByRole("button", { name: "Push sales to bucket" }));

  expect(await screen.findByTestId("dataset-sync-running")).toHaveTextContent("Pushing sales to the bucket acme-data");
  expect(screen.getByRole("button", { name: "Pull sales from bucket" })).toBeDisabled();
  release();
  expect(await screen.findByTestId("dataset-sync-result")).toHaveTextContent(
    "sales: pushed 1 version (v0001) to the bucket acme-data, 2.0 KiB",
  );
  expect(screen.queryByTestId("dataset-sync-running")).toBeNull();
  await waitFor(() => expect(screen.getByTestId("dataset-location")).toHaveTextContent("Both"));
  const sync = calls.find((call) => call.method === "POST")!;
  expect(await sync.request.json()).toEqual({ direction: "push" });
});

test("a refused pull shows the server's message", async () => {
  serveApi([
    ["GET", "/api/workspaces/1/datasets", { body: [{ ...sales, location: "both" }] }],
    [
      "POST",
      "/api/workspaces/1/datasets/4/sync",
      {
        status: 409,
        body: apiError(
          409,
          "dataset upload-5a1e5: v0001 differ between the root and s3://acme-data/dataset/upload-5a1e5/",
        ),
      },
    ],
  ]);
  renderScreen(<DatasetsTab workspaceId={1} role="admin" />, screenUrl);

  await userEvent.click(await screen.findByRole("button", { name: "Pull sales from bucket" }));

  const alert = await screen.findByTestId("dataset-sync-error");
  expect(alert).toHaveTextContent("Syncing sales with the bucket failed");
  expect(alert).toHaveTextContent("v0001 differ between the root and s3://acme-data");
  expect(screen.queryByTestId("dataset-sync-result")).toBeNull();
});

test("readers get no sync actions, nor do writers of a server without a bucket, who learn why", async () => {
  serveApi([["GET", "/api/workspaces/1/datasets", { body: [sales] }]]);
  const view = renderScreen(<DatasetsTab workspaceId={1} role="read" />, screenUrl);
  const row = await screen.findByTestId("dataset-row-sales");
  expect(within(row).queryByRole("button", { name: "Push sales to bucket" })).toBeNull();
  expect(within(row).queryByRole("button", { name: "Pull sales from bucket" })).toBeNull();
  expect(screen.queryByTestId("dataset-sync-unavailable")).toBeNull();
  view.unmount();

  serveApi([["GET", "/api/workspaces/1/datasets", { body: [{ ...sales, storage_bucket: null }] }]]);
  renderScreen(<DatasetsTab workspaceId={1} role="owner" />, screenUrl);
  const own = await screen.findByTestId("dataset-row-sales");
  expect(within(own).getByRole("button", { name: "Delete sales" })).toBeInTheDocument();
  expect(within(own).queryByRole("button", { name: "Push sales to bucket" })).toBeNull();
  expect(screen.getByTestId("dataset-sync-unavailable")).toHaveTextContent("FLOWUI_STORAGE_BUCKET");
  expect(within(own).getByTestId("dataset-location")).toHaveTextContent("File system");
});
