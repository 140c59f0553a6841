// Version history: pick two versions to see what changed between them, or open one in the
// editor (one undo step; saving it makes it the current version again).
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Code,
  Group,
  Loader,
  Modal,
  ScrollArea,
  Stack,
  Table,
  Text,
} from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";

import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { prepareLoaded } from "./layout";
import { fetchVersion, useDiff, useVersions } from "./queries";
import { useEditor } from "./store";

interface Props {
  opened: boolean;
  onClose(): void;
  workspaceId: number;
  workflowId: number | null;
}

const show = (value: unknown) => {
  if (value === undefined) return "";
  const text = JSON.stringify(value);
  return text.length > 120 ? text.slice(0, 117) + "…" : text;
};

export function VersionsDialog({ opened, onClose, workspaceId, workflowId }: Props) {
  const versions = useVersions(workspaceId, workflowId, opened);
  const [picked, setPicked] = useState<number[]>([]);
  const [compared, setCompared] = useState<[number, number] | null>(null);
  const diff = useDiff(workspaceId, workflowId, compared);
  const open = useMutation({
    mutationFn: (number: number) => fetchVersion(workspaceId, workflowId!, number),
    onSuccess: (version, number) => {
      const latest = versions.data?.at(-1)?.number;
      useEditor.getState().replaceDocument(prepareLoaded(version.document), {
        kind: "info",
        text:
          number === latest
            ? `Opened version ${number}, the latest.`
            : `Opened version ${number}: save to make it the current version (saved as a new version), or undo (Ctrl+Z) to go back.`,
      });
      onClose();
    },
  });

  const toggle = (number: number) =>
    setPicked((current) =>
      current.includes(number) ? current.filter((n) => n !== number) : [...current, number].slice(-2),
    );

  return (
    <Modal opened={opened} onClose={onClose} title="Versions" size="xl">
      {workflowId === null && <Text size="sm">Save the workflow first: each save makes a version.</Text>}
      {versions.isPending && workflowId !== null && <Loader size="sm" />}
      {versions.isError && (
        <Alert color="red">
          Could not load the versions: {versions.error.message}.{" "}
          <Button size="compact-xs" variant="light" onClick={() => versions.refetch()}>
            Try again
          </Button>
        </Alert>
      )}
      {versions.data && (
        <Stack gap="sm" data-testid="versions-list">
          <Text size="sm" c="dimmed">
            Pick two versions to compare.
          </Text>
          {versions.data.map((v) => (
            <Group key={v.number} justify="space-between" wrap="nowrap" data-testid={`version-${v.number}`}>
              <Checkbox
                checked={picked.includes(v.number)}
                onChange={() => toggle(v.number)}
                label={`Version ${v.number} — ${new Date(v.created_at).toLocaleString()}${v.created_by ? ` by ${v.created_by}` : ""}`}
              />
              <Button
                size="compact-xs"
                variant="light"
                loading={open.isPending && open.variables === v.number}
                onClick={() => open.mutate(v.number)}
                aria-label={`Open version ${v.number} in the editor`}
              >
                Open
              </Button>
            </Group>
          ))}
          {open.isError && <ApiErrorAlert error={open.error} />}
          <Group>
            <Button
              disabled={picked.length !== 2}
              onClick={() => setCompared([Math.min(...picked), Math.max(...picked)] as [number, number])}
              data-testid="versions-compare"
            >
              Compare
            </Button>
          </Group>
          {diff.isFetching && <Loader size="sm" />}
          {diff.isError && (
            <Alert color="red">Could not compare: {diff.error.message}. Pick two other versions or try again.</Alert>
          )}
          {diff.data && compared && (
            <ScrollArea.Autosize mah={360}>
              <Text size="sm" fw={600}>
                From version {compared[0]} to {compared[1]}: {diff.data.length} change
                {diff.data.length === 1 ? "" : "s"}
              </Text>
              <Table striped data-testid="versions-diff">
                <Table.Tbody>
                  {diff.data.map((change, i) => (
                    <Table.Tr key={i}>
                      <Table.Td>
                        <Badge
                          color={change.op === "add" ? "green" : change.op === "remove" ? "red" : "yellow"}
                          size="sm"
                        >
                          {change.op}
                        </Badge>
                      </Table.Td>
                      <Table.Td>
                        <Code>{change.path || "/"}</Code>
                      </Table.Td>
                      <Table.Td>
                        <Text size="xs" ff="monospace">
                          {show(change.old)}
                          {change.op === "replace" ? " → " : ""}
                          {show(change.new)}
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </ScrollArea.Autosize>
          )}
        </Stack>
      )}
    </Modal>
  );
}
