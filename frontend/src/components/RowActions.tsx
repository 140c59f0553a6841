// The buttons at the end of a table's row: what can be done to the row's item.
import { Button, Group } from "@mantine/core";
import type { QueryKey } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";

import { ConfirmActionDialog } from "./ConfirmDialog";

/** Keeps the row's buttons on one line, at the row's end. */
export function RowActions({ children }: { children: ReactNode }) {
  return (
    <Group gap={4} justify="flex-end" wrap="nowrap">
      {children}
    </Group>
  );
}

interface ActionProps {
  /** The button's text, e.g. "Delete". */
  label: string;
  /** The row's item as the user knows it (a name, an e-mail): "{label} {target}" is the button's
   * accessible name, which tells the buttons of one row from another's. */
  target: string;
  onClick: () => void;
  /** Deletes or removes the item: red, and quieter than the other actions. */
  destructive?: boolean;
  loading?: boolean;
  "data-testid"?: string;
}

export function RowAction({ label, target, onClick, destructive, loading, ...rest }: ActionProps) {
  return (
    <Button
      size="xs"
      variant={destructive ? "subtle" : "light"}
      color={destructive ? "red" : undefined}
      loading={loading}
      onClick={onClick}
      aria-label={`${label} ${target}`}
      {...rest}
    >
      {label}
    </Button>
  );
}

interface DeleteProps {
  /** "Delete" (the default) or "Remove": the button's text and the dialog's confirm button. */
  label?: string;
  target: string;
  /** The dialog's title (default: "{label} {target}?"). */
  title?: string;
  /** The request that deletes the item. */
  action: () => Promise<unknown>;
  /** What the deletion changes: read again before the dialog closes. */
  invalidates: QueryKey;
  /** What the deletion does, said in the dialog. */
  children: ReactNode;
  "data-testid"?: string;
}

/** A destructive row action that asks first, in a ConfirmActionDialog. */
export function DeleteRowAction({
  label = "Delete",
  target,
  title,
  action,
  invalidates,
  children,
  ...rest
}: DeleteProps) {
  const [asking, setAsking] = useState(false);
  return (
    <>
      <RowAction label={label} target={target} destructive onClick={() => setAsking(true)} {...rest} />
      {asking && (
        <ConfirmActionDialog
          title={title ?? `${label} ${target}?`}
          confirmLabel={label}
          action={action}
          invalidates={invalidates}
          onClose={() => setAsking(false)}
        >
          {children}
        </ConfirmActionDialog>
      )}
    </>
  );
}
