// A modal that asks before a destructive action, and shows the server's error if it fails.
import { Button, Group, Modal, Stack, Text } from "@mantine/core";
import { type QueryKey, useMutation, useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";

import { ApiErrorAlert } from "./ApiErrorAlert";

interface Props {
  opened: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
  error?: unknown;
}

export function ConfirmDialog({ opened, title, children, confirmLabel, onConfirm, onCancel, busy, error }: Props) {
  return (
    <Modal opened={opened} onClose={onCancel} title={title} centered>
      <Stack>
        <Text size="sm">{children}</Text>
        {error != null && <ApiErrorAlert error={error} describeWhere={() => ""} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onCancel} data-testid="confirm-cancel">
            Cancel
          </Button>
          <Button color="red" loading={busy} onClick={onConfirm} data-testid="confirm-ok">
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

interface ActionProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** The request the confirmation sends. */
  action: () => Promise<unknown>;
  /** What the action changes: read again before the dialog closes. */
  invalidates: QueryKey;
  onClose: () => void;
}

/** Asks, runs `action`, refreshes what it changed and closes; a failure stays in the dialog. */
export function ConfirmActionDialog({ title, children, confirmLabel, action, invalidates, onClose }: ActionProps) {
  const client = useQueryClient();
  const run = useMutation({
    mutationFn: action,
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: invalidates });
      onClose();
    },
  });
  return (
    <ConfirmDialog
      opened
      title={title}
      confirmLabel={confirmLabel}
      busy={run.isPending}
      error={run.error}
      onCancel={onClose}
      onConfirm={() => run.mutate()}
    >
      {children}
    </ConfirmDialog>
  );
}
