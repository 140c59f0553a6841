import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

import { tokenStore } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { UserMenu } from "./UserMenu";

const ADA = {
  id: 2,
  email: "ada@example.org",
  display_name: "Ada",
  is_admin: false,
  created_at: "2026-01-01T00:00:00Z",
};

const screenUrl = { url: "/w/1/workflows", pattern: "/w/:workspaceId/workflows" };

beforeEach(() => tokenStore.set("access-token"));

test("the Audit link is shown to platform administrators only; Account to everyone", async () => {
  serveApi([["GET", "/api/auth/me", { body: ADA }]]);
  const view = renderScreen(<UserMenu />, screenUrl);
  expect(await screen.findByText("Ada")).toHaveAttribute("data-testid", "signed-in-user");
  expect(screen.getByRole("link", { name: "Account" })).toHaveAttribute("href", "/account");
  expect(screen.queryByRole("link", { name: "Audit" })).toBeNull();
  view.unmount();

  serveApi([["GET", "/api/auth/me", { body: { ...ADA, is_admin: true } }]]);
  renderScreen(<UserMenu />, screenUrl);
  expect(await screen.findByRole("link", { name: "Audit" })).toHaveAttribute("href", "/audit");
});

test("signing out ends the session on the server before the token is forgotten", async () => {
  let storedWhileAsking: string | null = null;
  const calls = serveApi([
    ["GET", "/api/auth/me", { body: ADA }],
    [
      "POST",
      "/api/auth/logout",
      () => {
        storedWhileAsking = tokenStore.get();
        return { status: 204 };
      },
    ],
  ]);
  renderScreen(<UserMenu />, screenUrl);

  await userEvent.click(await screen.findByRole("button", { name: "Sign out" }));

  await waitFor(() => expect(tokenStore.get()).toBeNull());
  const logout = calls.filter((call) => call.method === "POST");
  expect(logout.map((call) => call.path)).toEqual(["/api/auth/logout"]);
  expect(logout[0].request.headers.get("Authorization")).toBe("Bearer access-token");
  expect(storedWhileAsking).toBe("access-token");
  await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/));
});

test("a failed sign-out on the server still signs out here", async () => {
  serveApi([
    ["GET", "/api/auth/me", { body: ADA }],
    ["POST", "/api/auth/logout", { status: 503, body: { detail: "unavailable" } }],
  ]);
  renderScreen(<UserMenu />, screenUrl);
  await userEvent.click(await screen.findByRole("button", { name: "Sign out" }));
  await waitFor(() => expect(tokenStore.get()).toBeNull());
});

test("an unreachable server still signs out here", async () => {
  serveApi([["GET", "/api/auth/me", { body: ADA }]]);
  renderScreen(<UserMenu />, screenUrl);
  await screen.findByText("Ada");
  vi.mocked(globalThis.fetch).mockRejectedValue(new TypeError("Failed to fetch"));

  await userEvent.click(screen.getByRole("button", { name: "Sign out" }));

  await waitFor(() => expect(tokenStore.get()).toBeNull());
});
