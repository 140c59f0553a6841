import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { buildLargeWorkflow } from "./fixtures";
import { useEditor } from "./store";
import { renderWithProviders, standInServer } from "./testing";
import { VersionsDialog } from "./VersionsDialog";

const version = (number: number) => ({ number, created_at: "2026-11-20T10:00:00Z", created_by: "ana@example.com" });

test("an older version opens in the editor as one undo step, to be saved as the current one", async () => {
  const first = { ...buildLargeWorkflow(2), name: "Version one" };
  const current = { ...buildLargeWorkflow(3), name: "Version two" };
  standInServer([
    [/GET \/api\/workspaces\/1\/workflows\/9\/versions$/, () => [version(1), version(2)]],
    [/GET \/api\/workspaces\/1\/workflows\/9\/versions\/1$/, () => ({ ...version(1), document: first })],
  ]);
  useEditor.getState().load(current, 9);
  const closed = vi.fn();
  renderWithProviders(<VersionsDialog opened onClose={closed} workspaceId={1} workflowId={9} />);

  await userEvent.click(await screen.findByRole("button", { name: "Open version 1 in the editor" }));

  await waitFor(() => expect(closed).toHaveBeenCalled());
  const state = useEditor.getState();
  expect(state.history.present).toEqual(first);
  expect(state.history.present).not.toBe(state.savedDoc); // unsaved: saving makes version 3
  expect(state.notice?.text).toMatch(/^Opened version 1: save to make it the current version/);
  state.undo();
  expect(useEditor.getState().history.present).toBe(current);
});
