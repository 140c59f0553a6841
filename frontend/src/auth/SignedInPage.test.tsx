import { screen, waitFor } from "@testing-library/react";

import { tokenStore } from "../api/client";
import { renderScreen, serveApi } from "../components/screenTestKit";
import { SignedInPage } from "./SignedInPage";

const FRAGMENT = "#access_token=sso-access&refresh_token=sso-refresh&token_type=bearer&expires_in=900";

afterEach(() => window.history.replaceState(null, "", "/"));

test("the single sign-on's landing keeps the access token, clears the fragment and goes on", async () => {
  const calls = serveApi([]);
  window.history.replaceState(null, "", `/signed-in${FRAGMENT}`);

  renderScreen(<SignedInPage />, { url: "/signed-in", pattern: "/signed-in" });

  await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/));
  expect(tokenStore.get()).toBe("sso-access");
  expect(window.location.hash).toBe("");
  expect(window.location.href).not.toContain("sso-");
  expect(calls).toEqual([]);
});

test("a landing without a token keeps none and goes on to the sign-in page", async () => {
  window.history.replaceState(null, "", "/signed-in");

  renderScreen(<SignedInPage />, { url: "/signed-in", pattern: "/signed-in" });

  await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/));
  expect(tokenStore.get()).toBeNull();
});
