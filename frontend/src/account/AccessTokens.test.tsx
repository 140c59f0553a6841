import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import type { Schemas } from "../api/client";
import { apiError, renderScreen, serveApi } from "../components/screenTestKit";
import { AccessTokens } from "./AccessTokens";

const SECRET = "flowui_pat_9f8e7d6c5b4a39281706f5e4d3c2b1a0";

const WORKSPACES = [
  { id: 1, name: "Lab", role: "owner", created_at: "2026-01-01T00:00:00Z" },
  { id: 2, name: "Reports", role: "write", created_at: "2026-01-01T00:00:00Z" },
];

function tokenOut(id: number, name: string, changes: Partial<Schemas["TokenOut"]> = {}): Schemas["TokenOut"] {
  return {
    id,
    name,
    shown_prefix: "flowui_pat_9f8e",
    workspace_ids: null,
    read_only: false,
    created_at: "2026-11-01T10:00:00Z",
    expires_at: "2099-12-01T10:00:00Z",
    last_used_at: null,
    ...changes,
  };
}

const screenUrl = { url: "/account", pattern: "/account" };

test("a new token is shown once with a copy button, and is gone once the dialog is closed", async () => {
  const user = userEvent.setup();
  let stored: Schemas["TokenOut"][] = [];
  const created = tokenOut(3, "nightly export", { workspace_ids: [2], read_only: true });
  const calls = serveApi([
    ["GET", "/api/workspaces", { body: WORKSPACES }],
    ["GET", "/api/auth/tokens", () => ({ body: stored })],
    [
      "POST",
      "/api/auth/tokens",
      () => {
        stored = [created];
        return { status: 201, body: { ...created, token: SECRET } };
      },
    ],
  ]);
  renderScreen(<AccessTokens />, screenUrl);
  expect(await screen.findByTestId("tokens-empty")).toHaveTextContent("No access token yet.");

  await user.type(screen.getByLabelText(/^Name/), "nightly export");
  await user.clear(screen.getByLabelText(/^Expires in/));
  await user.type(screen.getByLabelText(/^Expires in/), "7");
  // As a keyboard user does: search, go down to the match, pick it.
  await user.type(screen.getByRole("combobox", { name: "Workspaces" }), "Rep{ArrowDown}{Enter}");
  expect(screen.getByTestId("token-create")).toHaveTextContent("Reports");
  await user.click(screen.getByRole("checkbox", { name: /Read only/ }));
  await user.click(screen.getByRole("button", { name: "Create token" }));

  const dialog = await screen.findByRole("dialog", { name: "Token nightly export created" });
  expect(within(dialog).getByTestId("new-token")).toHaveTextContent(SECRET);
  expect(within(dialog).getByTestId("token-once-warning")).toHaveTextContent("you will not see it again");
  await user.click(within(dialog).getByRole("button", { name: "Copy token" }));
  expect(await navigator.clipboard.readText()).toBe(SECRET);
  expect(await within(dialog).findByRole("button", { name: "Copied" })).toBeInTheDocument();
  const sent = await calls.find((call) => call.method === "POST")!.request.json();
  expect(sent).toEqual({ name: "nightly export", expires_in_days: 7, workspace_ids: [2], read_only: true });

  await user.click(within(dialog).getByRole("button", { name: "Done" }));

  await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  expect(document.body).not.toHaveTextContent(SECRET);
  const row = await screen.findByTestId("token-row-nightly export");
  expect(row).toHaveTextContent("flowui_pat_9f8e…");
  expect(within(row).getByTestId("token-scope")).toHaveTextContent("Reports");
  expect(row).toHaveTextContent("never"); // not used yet
  expect(screen.getByLabelText(/^Name/)).toHaveValue(""); // the form is ready for another one
}, 30_000); // a long walk through the form: more than the default 5 s on a busy machine

test("revoking a token asks first, then sends DELETE and drops it from the list", async () => {
  let stored = [tokenOut(3, "nightly export"), tokenOut(4, "ci", { last_used_at: "2026-11-20T08:00:00Z" })];
  const calls = serveApi([
    ["GET", "/api/workspaces", { body: WORKSPACES }],
    ["GET", "/api/auth/tokens", () => ({ body: stored })],
    [
      "DELETE",
      "/api/auth/tokens/3",
      () => {
        stored = stored.filter((token) => token.id !== 3);
        return { status: 204 };
      },
    ],
  ]);
  renderScreen(<AccessTokens />, screenUrl);
  const row = await screen.findByTestId("token-row-nightly export");
  expect(within(row).getByTestId("token-scope")).toHaveTextContent("All your workspaces");

  await userEvent.click(within(row).getByRole("button", { name: "Revoke nightly export" }));
  const dialog = await screen.findByRole("dialog", { name: "Revoke the token nightly export?" });
  expect(dialog).toHaveTextContent("Programs that use it are refused from now on");
  await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
  await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  expect(calls.some((call) => call.method === "DELETE")).toBe(false);

  await userEvent.click(within(row).getByRole("button", { name: "Revoke nightly export" }));
  await userEvent.click(await screen.findByRole("button", { name: "Revoke" }));

  await waitFor(() => expect(screen.queryByTestId("token-row-nightly export")).toBeNull());
  expect(screen.getByTestId("token-row-ci")).toBeInTheDocument();
  expect(calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual(["/api/auth/tokens/3"]);
});

test("a refused token says why, and no token dialog opens", async () => {
  serveApi([
    ["GET", "/api/workspaces", { body: WORKSPACES }],
    ["GET", "/api/auth/tokens", { body: [] }],
    [
      "POST",
      "/api/auth/tokens",
      {
        status: 422,
        body: apiError(422, "tokens expire within 365 days on this platform", [
          { where: "/body/expires_in_days", message: "at most 365" },
        ]),
      },
    ],
  ]);
  renderScreen(<AccessTokens />, screenUrl);

  await userEvent.type(await screen.findByLabelText(/^Name/), "forever");
  await userEvent.clear(screen.getByLabelText(/^Expires in/));
  await userEvent.type(screen.getByLabelText(/^Expires in/), "3000");
  await userEvent.click(screen.getByRole("button", { name: "Create token" }));

  const alert = await screen.findByRole("alert");
  expect(alert).toHaveTextContent("tokens expire within 365 days on this platform");
  expect(alert).toHaveTextContent("expires_in_days: at most 365");
  expect(screen.queryByRole("dialog")).toBeNull();
});
