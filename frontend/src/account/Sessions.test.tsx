import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { tokenStore, type Schemas } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { Sessions } from "./Sessions";

function sessionOut(id: number, changes: Partial<Schemas["SessionOut"]> = {}): Schemas["SessionOut"] {
  return {
    id,
    address: "10.0.0.2",
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    created_at: "2026-11-20T09:00:00Z",
    last_seen_at: "2026-11-20T09:30:00Z",
    expires_at: "2026-12-20T09:00:00Z",
    current: false,
    ...changes,
  };
}

const HERE = sessionOut(7, { address: "192.0.2.1", current: true, created_at: "2026-11-21T08:00:00Z" });
const PHONE = sessionOut(5, { address: "198.51.100.4", user_agent: "Mozilla/5.0 (iPhone) Safari/604.1" });

const screenUrl = { url: "/account", pattern: "/account" };
const endPhone = `End the session from 198.51.100.4, signed in ${new Date(PHONE.created_at).toLocaleString()}`;

test("the current session is marked, and ending another asks first and sends DELETE", async () => {
  let stored = [HERE, PHONE];
  const calls = serveApi([
    ["GET", "/api/auth/sessions", () => ({ body: stored })],
    [
      "DELETE",
      "/api/auth/sessions/5",
      () => {
        stored = [HERE];
        return { status: 204 };
      },
    ],
  ]);
  renderScreen(<Sessions />, screenUrl);

  const here = await screen.findByTestId("session-row-7");
  expect(within(here).getByTestId("current-session")).toHaveTextContent("this session");
  expect(within(here).getByRole("button", { name: "Sign out here" })).toBeInTheDocument();
  const phone = screen.getByTestId("session-row-5");
  expect(within(phone).queryByTestId("current-session")).toBeNull();
  expect(phone).toHaveTextContent("Safari/604.1");

  await userEvent.click(within(phone).getByRole("button", { name: endPhone }));
  const dialog = await screen.findByRole("dialog", { name: "End the session?" });
  expect(dialog).toHaveTextContent("the browser at 198.51.100.4 must sign in again");
  await userEvent.click(within(dialog).getByRole("button", { name: "End" }));

  await waitFor(() => expect(screen.queryByTestId("session-row-5")).toBeNull());
  expect(screen.getByTestId("session-row-7")).toBeInTheDocument();
  expect(calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual(["/api/auth/sessions/5"]);
});

test("ending the other sessions keeps this one", async () => {
  let stored = [HERE, PHONE, sessionOut(4)];
  const calls = serveApi([
    ["GET", "/api/auth/sessions", () => ({ body: stored })],
    [
      "DELETE",
      /^\/api\/auth\/sessions\/\d+$/,
      ({ path }) => {
        stored = stored.filter((session) => !path.endsWith(`/${session.id}`));
        return { status: 204 };
      },
    ],
  ]);
  renderScreen(<Sessions />, screenUrl);

  await userEvent.click(await screen.findByRole("button", { name: "End the other sessions" }));
  const dialog = await screen.findByRole("dialog", { name: "End the other sessions?" });
  expect(dialog).toHaveTextContent("You stay signed in here; the 2 other sessions end at once.");
  await userEvent.click(within(dialog).getByRole("button", { name: "End" }));

  await waitFor(() => expect(screen.queryByTestId("session-row-5")).toBeNull());
  expect(screen.queryByTestId("session-row-4")).toBeNull();
  expect(screen.getByTestId("session-row-7")).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "End the other sessions" })).toBeNull();
  expect(calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual([
    "/api/auth/sessions/5",
    "/api/auth/sessions/4",
  ]);
});

test("ending this session signs out here", async () => {
  tokenStore.set("access-token-of-session-7");
  const calls = serveApi([
    ["GET", "/api/auth/sessions", { body: [HERE, PHONE] }],
    ["DELETE", "/api/auth/sessions/7", { status: 204 }],
  ]);
  renderScreen(<Sessions />, screenUrl);

  await userEvent.click(await screen.findByRole("button", { name: "Sign out here" }));
  const dialog = await screen.findByRole("dialog", { name: "Sign out here?" });
  expect(dialog).toHaveTextContent("you will be signed out here");
  await userEvent.click(within(dialog).getByRole("button", { name: "Sign out" }));

  await waitFor(() => expect(tokenStore.get()).toBeNull());
  await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/));
  expect(calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual(["/api/auth/sessions/7"]);
});
