import { screen } from "@testing-library/react";

import { tokenStore } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { WorkspacePicker } from "./WorkspacePicker";

const BOB = {
  id: 3,
  email: "bob@example.com",
  display_name: "Bob",
  is_admin: false,
  created_at: "2026-01-01T00:00:00Z",
};

beforeEach(() => tokenStore.set("access-token"));

test("a user in no workspace is told to ask an administrator for one", async () => {
  serveApi([
    ["GET", "/api/auth/me", { body: BOB }],
    ["GET", "/api/workspaces", { body: [] }],
    ["GET", "/api/invitations", { body: [] }],
  ]);

  renderScreen(<WorkspacePicker />, { url: "/", pattern: "/" });

  const notice = await screen.findByTestId("no-workspace");
  expect(notice).toHaveTextContent(
    "Your account has no workspace yet: ask an administrator to add you to one (or to map your groups to one)",
  );
  expect(screen.getByText("Bob")).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
});

test("a user in a workspace sees it, and no such notice", async () => {
  const analytics = { id: 1, name: "Analytics", role: "write" };
  serveApi([
    ["GET", "/api/auth/me", { body: BOB }],
    ["GET", "/api/workspaces", { body: [analytics] }],
    ["GET", "/api/invitations", { body: [] }],
  ]);

  renderScreen(<WorkspacePicker />, { url: "/", pattern: "/" });

  expect(await screen.findByRole("link", { name: "Open workspace Analytics" })).toBeInTheDocument();
  expect(screen.queryByTestId("no-workspace")).toBeNull();
});
