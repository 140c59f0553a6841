// For the screens' component tests: a stand-in API server behind fetch, the objects it answers
// with, and a render with the providers and a router at a given URL.
import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import { vi } from "vitest";

import type { Schemas } from "../api/client";

export interface ApiCall {
  method: string;
  /** The path as sent (percent-encoded). */
  path: string;
  search: string;
  request: Request;
}

type Answer = { status?: number; body?: unknown; text?: string; contentType?: string };
export type ApiRoute = [method: string, path: string | RegExp, answer: Answer | ((call: ApiCall) => Answer)];

/** Answers fetch from `routes` (first match; an unmatched request is a 404); returns the calls. */
export function serveApi(routes: ApiRoute[]): ApiCall[] {
  const calls: ApiCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const call = { method: request.method, path: url.pathname, search: url.search, request };
    calls.push(call);
    const route = routes.find(
      ([method, path]) =>
        method === request.method && (typeof path === "string" ? path === url.pathname : path.test(url.pathname)),
    );
    const answer = route
      ? typeof route[2] === "function"
        ? route[2](call)
        : route[2]
      : { status: 404, body: notFound(url.pathname) };
    const status = answer.status ?? 200;
    if (status === 204) return new Response(null, { status });
    const text = answer.text ?? JSON.stringify(answer.body);
    return new Response(text, { status, headers: { "Content-Type": answer.contentType ?? "application/json" } });
  });
  return calls;
}

/** The API's error shape. */
export function apiError(status: number, message: string, details: { where: string; message: string }[] = []) {
  return { error: { status, code: "error", message, details } };
}

function notFound(path: string) {
  return apiError(404, `no test route for ${path}`);
}

/** A workflow, deployed at version 1, active, without a schedule; then `changes`. */
export function workflowOut(
  id: number,
  name: string,
  changes: Partial<Schemas["WorkflowOut"]> = {},
): Schemas["WorkflowOut"] {
  return {
    id,
    name,
    description: "",
    tags: [],
    schedule: { type: "none" },
    dag_id: `w${id}`,
    current_version: 1,
    deployed_version: 1,
    is_paused: false,
    next_run_at: null,
    created_at: "2024-01-01T00:00:00Z",
    updated_at: "2024-01-01T00:00:00Z",
    ...changes,
  };
}

/** A manual run without parameters, queued; then `changes`. */
export function runOut(runId: string, changes: Partial<Schemas["RunOut"]> = {}): Schemas["RunOut"] {
  return {
    run_id: runId,
    state: "queued",
    run_type: "manual",
    parameters: {},
    queued_at: null,
    started_at: null,
    ended_at: null,
    duration: null,
    ...changes,
  };
}

/** Renders `element` at `url` under the route `pattern`; the current location is shown in
 * the element with data-testid "location". */
export function renderScreen(element: ReactElement, { url, pattern }: { url: string; pattern: string }) {
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <MantineProvider>
      <QueryClientProvider client={queries}>
        <MemoryRouter initialEntries={[url]}>
          <Routes>
            <Route path={pattern} element={element} />
            <Route path="*" element={null} />
          </Routes>
          <ShowLocation />
        </MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );
}

function ShowLocation() {
  const location = useLocation();
  return (
    <div data-testid="location" hidden>
      {location.pathname + location.search}
    </div>
  );
}
