import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router-dom";

import { EditorPage } from "./EditorPage";
import { useEditor } from "./store";
import { standInServer } from "./testing";

function openNewWorkflowEditor() {
  const router = createMemoryRouter(
    [
      { path: "/w/:workspaceId/workflows/new", element: <EditorPage /> },
      { path: "/w/:workspaceId/workflows", element: <p>The workflows list</p> },
    ],
    { initialEntries: ["/w/1/workflows/new"] },
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <MantineProvider env="test">
      <QueryClientProvider client={client}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>,
  );
  return router;
}

async function renameAndLeave(name: string) {
  await screen.findByTestId("save-button");
  act(() => useEditor.getState().edit((doc) => ({ ...doc, name })));
  await userEvent.click(screen.getByRole("link", { name: "Back to the workflows" }));
}

test("leaving the editor with unsaved changes asks first: stay, or leave without saving", async () => {
  standInServer([[/GET \/api\/workspaces\/1\/operators$/, () => []]]);
  const router = openNewWorkflowEditor();

  await renameAndLeave("Nightly");
  expect(await screen.findByTestId("leave-dialog")).toBeInTheDocument();
  await userEvent.click(screen.getByTestId("leave-stay"));
  await waitFor(() => expect(screen.queryByTestId("leave-dialog")).toBeNull());
  expect(router.state.location.pathname).toBe("/w/1/workflows/new");
  expect(useEditor.getState().history.present.name).toBe("Nightly");

  await userEvent.click(screen.getByRole("link", { name: "Back to the workflows" }));
  await userEvent.click(await screen.findByTestId("leave-discard"));
  expect(await screen.findByText("The workflows list")).toBeInTheDocument();
});

test("save and leave saves the changes, then goes where the user was going", async () => {
  const saved: unknown[] = [];
  standInServer([
    [/GET \/api\/workspaces\/1\/operators$/, () => []],
    [
      /POST \/api\/workspaces\/1\/workflows$/,
      async (request) => {
        const { document } = await request.clone().json();
        saved.push(document);
        return { id: 5, current_version: 1, new_version: true, document };
      },
    ],
  ]);
  const router = openNewWorkflowEditor();

  await renameAndLeave("Weekly");
  await userEvent.click(await screen.findByTestId("leave-save"));

  expect(await screen.findByText("The workflows list")).toBeInTheDocument();
  expect(router.state.location.pathname).toBe("/w/1/workflows");
  expect(saved).toEqual([expect.objectContaining({ name: "Weekly" })]);
  expect(useEditor.getState().workflowId).toBe(5);
});
