import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

import { SignInPage } from "./SignInPage";

function renderPage() {
  return render(
    <MantineProvider>
      <QueryClientProvider client={new QueryClient()}>
        <SignInPage />
      </QueryClientProvider>
    </MantineProvider>,
  );
}

test("a wrong password shows the server's message", async () => {
  const body = { error: { status: 401, code: "unauthorized", message: "wrong e-mail or password", details: [] } };
  vi.spyOn(globalThis, "fetch").mockResolvedValue(
    new Response(JSON.stringify(body), { status: 401, headers: { "Content-Type": "application/json" } }),
  );
  renderPage();

  await userEvent.type(screen.getByLabelText(/e-mail/i), "ada@example.org");
  await userEvent.type(screen.getByLabelText(/^password/i, { selector: "input" }), "nope");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

  expect(await screen.findByRole("alert")).toHaveTextContent("wrong e-mail or password");
});
