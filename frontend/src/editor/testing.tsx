// Test helpers: the providers the editor needs and a stand-in server.
import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { ReactFlowProvider } from "@xyflow/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { vi } from "vitest";

// Mantine's autosizing textarea listens to document.fonts, which jsdom lacks.
if (!("fonts" in document)) {
  Object.defineProperty(document, "fonts", {
    value: { addEventListener: () => undefined, removeEventListener: () => undefined },
  });
}

/** Answers fetch calls by path (regular expressions over "METHOD /path"); an answer may be a promise. */
export function standInServer(routes: [RegExp, (request: Request) => unknown][]) {
  return vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
    const request = input as Request;
    const url = new URL(request.url);
    const line = `${request.method} ${url.pathname}`;
    for (const [pattern, answer] of routes) {
      if (pattern.test(line)) {
        return new Response(JSON.stringify(await answer(request)), {
          status: 200,
          headers: { "Content-Type": "application/json" },
        });
      }
    }
    const body = { error: { status: 404, code: "not_found", message: `no route ${line}`, details: [] } };
    return new Response(JSON.stringify(body), { status: 404, headers: { "Content-Type": "application/json" } });
  });
}

export function renderWithProviders(ui: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <MantineProvider env="test">
      <QueryClientProvider client={client}>
        <MemoryRouter>
          <ReactFlowProvider>{ui}</ReactFlowProvider>
        </MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );
}
