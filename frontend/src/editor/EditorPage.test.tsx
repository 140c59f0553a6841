import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { vi } from "vitest";

import { EditorPage } from "./EditorPage";

test("opening a workflow asks for the operators at once, not after the workflow has arrived", async () => {
  const asked: string[] = [];
  // The workflow never answers: the operators must be asked for all the same.
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const request = input as Request;
    asked.push(`${request.method} ${new URL(request.url).pathname}`);
    return new Promise<Response>(() => undefined);
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <MantineProvider env="test">
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={["/w/1/workflows/7/edit"]}>
          <Routes>
            <Route path="/w/:workspaceId/workflows/:workflowId/edit" element={<EditorPage />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );

  expect(screen.getByLabelText("Loading the workflow")).toBeInTheDocument();
  await waitFor(() =>
    expect(asked).toEqual(
      expect.arrayContaining(["GET /api/workspaces/1/workflows/7", "GET /api/workspaces/1/operators"]),
    ),
  );
});
