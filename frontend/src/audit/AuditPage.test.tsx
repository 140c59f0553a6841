import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { tokenStore, type Schemas } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { AuditPage } from "./AuditPage";

const ADMIN = {
  id: 1,
  email: "root@example.org",
  display_name: "Root",
  is_admin: true,
  created_at: "2026-01-01T00:00:00Z",
};

function eventOut(id: number, changes: Partial<Schemas["AuditEventOut"]> = {}): Schemas["AuditEventOut"] {
  return {
    id,
    at: `2026-11-20T10:${String(id % 60).padStart(2, "0")}:00Z`,
    actor: "ana@example.com",
    address: "10.0.0.2",
    user_agent: "Mozilla/5.0",
    token_name: null,
    action: "secret.set",
    workspace_id: 1,
    target: `SECRET_${id}`,
    detail: {},
    ...changes,
  };
}

const screenUrl = { url: "/audit", pattern: "/audit" };

beforeEach(() => tokenStore.set("t"));

test("non-administrators are told the trail is not theirs, and it is not asked for", async () => {
  const calls = serveApi([["GET", "/api/auth/me", { body: { ...ADMIN, is_admin: false } }]]);
  renderScreen(<AuditPage />, screenUrl);

  expect(await screen.findByTestId("audit-not-admin")).toHaveTextContent(
    "Only platform administrators read the audit trail.",
  );
  expect(calls.some((call) => call.path === "/api/admin/audit")).toBe(false);
});

test("the trail is newest first, and Load older asks for the events before the last one shown", async () => {
  const calls = serveApi([
    ["GET", "/api/auth/me", { body: ADMIN }],
    ["GET", "/api/workspaces", { body: [{ id: 1, name: "Lab", role: "owner", created_at: "2026-01-01T00:00:00Z" }] }],
    [
      "GET",
      "/api/admin/audit",
      ({ search }) =>
        new URLSearchParams(search).get("before_id") === "41"
          ? { body: { events: [eventOut(40, { workspace_id: 9 }), eventOut(39)], next_before_id: null } }
          : {
              body: {
                events: [
                  eventOut(42, {
                    action: "token.create",
                    workspace_id: null,
                    target: "nightly export",
                    token_name: "ci",
                    detail: { read_only: true },
                  }),
                  eventOut(41),
                ],
                next_before_id: 41,
              },
            },
    ],
  ]);
  renderScreen(<AuditPage />, screenUrl);

  const newest = await screen.findByTestId("audit-row-42");
  const cells = within(newest)
    .getAllByRole("cell")
    .map((cell) => cell.textContent);
  expect(cells).toEqual([
    new Date("2026-11-20T10:42:00Z").toLocaleString(),
    "ana@example.com",
    "token.create",
    "—",
    'nightly export{"read_only":true}',
    "10.0.0.2",
    "ci",
  ]);
  expect(within(screen.getByTestId("audit-row-41")).getAllByRole("cell")[3]).toHaveTextContent("Lab (1)");

  await userEvent.click(screen.getByRole("button", { name: "Load older" }));

  expect(await screen.findByTestId("audit-row-39")).toBeInTheDocument();
  const rows = within(screen.getByTestId("audit-table")).getAllByRole("row").slice(1);
  expect(rows.map((row) => row.dataset.testid)).toEqual([
    "audit-row-42",
    "audit-row-41",
    "audit-row-40",
    "audit-row-39",
  ]);
  expect(within(screen.getByTestId("audit-row-40")).getAllByRole("cell")[3]).toHaveTextContent(/^9$/);
  expect(screen.queryByRole("button", { name: "Load older" })).toBeNull(); // no older page
  const asked = calls.filter((call) => call.path === "/api/admin/audit").map((call) => call.search);
  expect(asked).toEqual(["?limit=50", "?before_id=41&limit=50"]);
});

test("the filters are sent as the trail's query, and an empty result says so", async () => {
  const calls = serveApi([
    ["GET", "/api/auth/me", { body: ADMIN }],
    ["GET", "/api/workspaces", { body: [] }],
    [
      "GET",
      "/api/admin/audit",
      ({ search }) => ({
        body: { events: search.includes("actor") ? [] : [eventOut(1)], next_before_id: null },
      }),
    ],
  ]);
  renderScreen(<AuditPage />, screenUrl);
  await screen.findByTestId("audit-row-1");

  await userEvent.type(screen.getByLabelText(/^Action/), "secret");
  await userEvent.type(screen.getByLabelText(/^Actor e-mail/), "bob@example.com");
  await userEvent.type(screen.getByLabelText(/^Workspace id/), "3");

  expect(await screen.findByTestId("audit-empty")).toHaveTextContent("No event matches these filters.");
  await waitFor(() => {
    const last = new URLSearchParams(calls.filter((call) => call.path === "/api/admin/audit").at(-1)!.search);
    expect(Object.fromEntries(last)).toEqual({
      action: "secret",
      actor: "bob@example.com",
      workspace_id: "3",
      limit: "50",
    });
  });
});
