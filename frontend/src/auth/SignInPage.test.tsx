import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import type { Schemas } from "../api/client";
import { apiError, renderScreen, serveApi } from "../components/screenTestKit";
import { SignInPage } from "./SignInPage";

const PASSWORDS: Schemas["SignInMethods"] = {
  password: true,
  registration: true,
  single_sign_on: null,
  sign_in_errors: {},
};
const ACME_ID = { name: "Acme ID", start_url: "/api/auth/oidc/start" };
const EXPIRED = "The sign-in took too long or was started in another browser; try again.";

function renderPage(methods: Schemas["SignInMethods"], url = "/") {
  serveApi([
    ["GET", "/api/auth/providers", { body: methods }],
    ["POST", "/api/auth/login", { status: 401, body: apiError(401, "wrong e-mail or password") }],
  ]);
  return renderScreen(<SignInPage />, { url, pattern: url.split("?")[0] });
}

async function signInWithPassword() {
  await userEvent.type(await screen.findByLabelText(/e-mail/i), "ada@example.org");
  await userEvent.type(screen.getByLabelText(/^password/i, { selector: "input" }), "nope");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

test("a wrong password shows the server's message", async () => {
  renderPage(PASSWORDS);

  await signInWithPassword();

  expect(await screen.findByRole("alert")).toHaveTextContent("wrong e-mail or password");
});

test("too many failed sign-ins show the server's message, which says how long to wait", async () => {
  const message = "too many failed sign-ins for this account: try again in 15 minutes";
  serveApi([
    ["GET", "/api/auth/providers", { body: PASSWORDS }],
    ["POST", "/api/auth/login", { status: 429, body: apiError(429, message) }],
  ]);
  renderScreen(<SignInPage />, { url: "/", pattern: "/" });

  await signInWithPassword();

  expect(await screen.findByRole("alert")).toHaveTextContent(message);
});

test("the single sign-on button is shown beside the password form", async () => {
  renderPage({ ...PASSWORDS, single_sign_on: ACME_ID });

  const button = await screen.findByRole("link", { name: "Sign in with Acme ID" });
  expect(button).toHaveAttribute("href", "/api/auth/oidc/start");
  expect(screen.getByLabelText(/e-mail/i)).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "No account yet? Sign up" })).toBeInTheDocument();
});

test("with passwords off only the single sign-on button is shown, and no sign-up", async () => {
  renderPage({ password: false, registration: false, single_sign_on: ACME_ID, sign_in_errors: {} });

  expect(await screen.findByRole("link", { name: "Sign in with Acme ID" })).toBeInTheDocument();
  expect(screen.queryByLabelText(/e-mail/i)).toBeNull();
  expect(screen.queryByLabelText(/^password/i)).toBeNull();
  expect(screen.queryByRole("button", { name: "Sign in" })).toBeNull();
  expect(screen.queryByText(/sign up/i)).toBeNull();
});

test("with registration off the password form offers no sign-up", async () => {
  renderPage({ ...PASSWORDS, registration: false });

  expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
  expect(screen.queryByText(/sign up/i)).toBeNull();
});

test("a refused single sign-on (?error=<code>) shows the server's message for the code", async () => {
  const methods = { password: false, registration: false, single_sign_on: ACME_ID, sign_in_errors: {} };
  renderPage({ ...methods, sign_in_errors: { sign_in_expired: EXPIRED } }, "/sign-in?error=sign_in_expired");

  expect(await screen.findByRole("alert")).toHaveTextContent(EXPIRED);
  expect(screen.getByRole("link", { name: "Sign in with Acme ID" })).toBeInTheDocument();
});

test("an unknown refusal code is still reported, and a password attempt replaces it", async () => {
  renderPage({ ...PASSWORDS, single_sign_on: ACME_ID }, "/sign-in?error=something_new");

  expect(await screen.findByRole("alert")).toHaveTextContent("did not sign you in (something_new)");
  await signInWithPassword();

  expect(await screen.findByRole("alert")).toHaveTextContent("wrong e-mail or password");
  expect(screen.getByTestId("location")).toHaveTextContent(/^\/sign-in$/);
});
