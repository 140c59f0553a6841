// The right panel: the selected task, several selected tasks, or the workflow's settings.
import { Button, ScrollArea, Stack, Text } from "@mantine/core";

import { useEditor } from "./store";
import { TaskPanel } from "./TaskPanel";
import { WorkflowSettings } from "./WorkflowSettings";

export function SidePanel({ workspaceId }: { workspaceId: number }) {
  const selected = useEditor((s) => s.selected);
  const deleteSelection = useEditor((s) => s.deleteSelection);
  return (
    <ScrollArea h="100%" type="auto" data-testid="side-panel" aria-label="Side panel">
      <Stack p="sm" gap="sm">
        {selected.length === 1 && <TaskPanel workspaceId={workspaceId} taskId={selected[0]} />}
        {selected.length > 1 && (
          <>
            <Text fw={700}>{selected.length} tasks selected</Text>
            <Text size="sm" c="dimmed">
              Ctrl+C copies them, Delete removes them; select one task to edit it.
            </Text>
            <Button color="red" variant="light" onClick={deleteSelection}>
              Delete {selected.length} tasks
            </Button>
          </>
        )}
        {selected.length === 0 && <WorkflowSettings />}
      </Stack>
    </ScrollArea>
  );
}
