// The "?" popover listing the editor's keyboard shortcuts.
import { ActionIcon, Kbd, Popover, Table, Text } from "@mantine/core";

export const SHORTCUTS: [string, string][] = [
  ["Ctrl+S", "Save (a new version)"],
  ["Ctrl+Z", "Undo"],
  ["Ctrl+Shift+Z / Ctrl+Y", "Redo"],
  ["Ctrl+C / Ctrl+V", "Copy / paste the selected tasks"],
  ["Ctrl+A", "Select every task"],
  ["Delete / Backspace", "Delete the selection"],
  ["Shift+drag / Ctrl+click", "Select several tasks"],
  ["L", "Auto-layout"],
  ["F", "Fit the workflow in view"],
  ["Escape", "Clear the selection"],
  ["?", "Show this help"],
];

export function ShortcutsHelp({ opened, onChange }: { opened: boolean; onChange(opened: boolean): void }) {
  return (
    <Popover opened={opened} onChange={onChange} position="bottom-end" withArrow shadow="md">
      <Popover.Target>
        <ActionIcon
          variant="default"
          size="lg"
          aria-label="Keyboard shortcuts"
          onClick={() => onChange(!opened)}
          data-testid="shortcuts-button"
        >
          ?
        </ActionIcon>
      </Popover.Target>
      <Popover.Dropdown>
        <Text fw={700} size="sm" mb={4}>
          Keyboard shortcuts
        </Text>
        <Table withRowBorders={false} verticalSpacing={2}>
          <Table.Tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <Table.Tr key={keys}>
                <Table.Td>
                  <Kbd size="xs">{keys}</Kbd>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{what}</Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        <Text size="xs" c="dimmed" mt={4}>
          On a Mac, Cmd works as Ctrl.
        </Text>
      </Popover.Dropdown>
    </Popover>
  );
}
