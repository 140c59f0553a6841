// One operator of the palette: drawn with its style; drag it onto the canvas or click "add".
import { ActionIcon, Box, Group, Loader, Popover, Stack, Text } from "@mantine/core";
import { memo, useEffect, useRef, useState, type DragEvent } from "react";

import { typeLabel } from "./compatibility";
import { operatorStyle, summaryKey, type OperatorSummary } from "./operators";
import { useOperatorDetail } from "./queries";
import { OperatorIcon } from "./OperatorIcon";

export const OPERATOR_MIME = "application/x-flowui-operator";
/** Every item's height in pixels (the palette renders only the visible ones, by offset). */
export const PALETTE_ITEM_HEIGHT = 48;

interface Props {
  operator: OperatorSummary;
  workspaceId: number;
  onAdd(operator: OperatorSummary): void;
  /** Its place in its tag's list: only the rows in view are drawn, so the list tells its size. */
  position: number;
  setSize: number;
}

export const PaletteItem = memo(function PaletteItem({ operator, workspaceId, onAdd, position, setSize }: Props) {
  const look = operatorStyle(operator);
  const card = useLazyHoverCard();
  const onDragStart = (event: DragEvent) => {
    card.close();
    event.dataTransfer.setData(OPERATOR_MIME, summaryKey(operator));
    event.dataTransfer.setData("text/plain", operator.name);
    event.dataTransfer.effectAllowed = "copy";
  };
  return (
    <Group
      data-testid={`palette-item-${operator.name}`}
      draggable
      onDragStart={onDragStart}
      onMouseEnter={card.enter}
      onMouseLeave={card.leave}
      gap={8}
      wrap="nowrap"
      px={6}
      h={PALETTE_ITEM_HEIGHT}
      pos="relative"
      style={{ overflow: "hidden", borderRadius: 6, background: look.background, color: look.color, cursor: "grab" }}
      aria-label={`${look.label} (${operator.name}): drag onto the canvas or press add`}
      role="listitem"
      aria-posinset={position}
      aria-setsize={setSize}
    >
      <OperatorIcon look={look} />
      <Box style={{ flex: 1, minWidth: 0 }}>
        <Text size="sm" fw={600} truncate>
          {look.label}
        </Text>
        <Text size="xs" truncate opacity={0.8}>
          {operator.description}
        </Text>
      </Box>
      <ActionIcon
        variant="subtle"
        size="sm"
        color="dark"
        aria-label={`Add ${look.label}`}
        data-testid={`palette-add-${operator.name}`}
        onClick={() => onAdd(operator)}
      >
        +
      </ActionIcon>
      {/* The hover card exists only while shown: a popover per item would cost with many items. */}
      {card.opened && (
        <Popover opened position="right" width={320} shadow="md" withinPortal onClose={card.close}>
          <Popover.Target>
            <span aria-hidden style={{ position: "absolute", inset: 0, pointerEvents: "none" }} />
          </Popover.Target>
          <Popover.Dropdown onMouseEnter={card.enter} onMouseLeave={card.leave}>
            <OperatorDetails operator={operator} workspaceId={workspaceId} />
          </Popover.Dropdown>
        </Popover>
      )}
    </Group>
  );
});

/** A hover card's state: opens 350 ms after the pointer comes, closes 100 ms after it leaves. */
function useLazyHoverCard() {
  const [opened, setOpened] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const later = (open: boolean, delay: number) => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setOpened(open), delay);
  };
  return {
    opened,
    enter: () => later(true, 350),
    leave: () => later(false, 100),
    close: () => {
      window.clearTimeout(timer.current);
      setOpened(false);
    },
  };
}

function OperatorDetails({ operator, workspaceId }: { operator: OperatorSummary; workspaceId: number }) {
  const detail = useOperatorDetail(workspaceId, operator.id, operator.has_input_schema || operator.has_output_schema);
  return (
    <Stack gap={6}>
      <Text fw={700}>{operatorStyle(operator).label}</Text>
      <Text size="xs" c="dimmed">
        {operator.repository} · {operator.name} {operator.version}
      </Text>
      <Text size="sm">{operator.description || "No description."}</Text>
      {detail.isPending && detail.fetchStatus !== "idle" && <Loader size="xs" />}
      {detail.isError && (
        <Text size="xs" c="red">
          Could not load its inputs and outputs: hover again to retry.
        </Text>
      )}
      {detail.data && (
        <>
          <FieldList title="Inputs" schema={detail.data.input_schema} />
          <FieldList title="Outputs" schema={detail.data.output_schema} />
        </>
      )}
    </Stack>
  );
}

function FieldList({ title, schema }: { title: string; schema: Record<string, unknown> | null | undefined }) {
  const properties = (schema?.properties ?? {}) as Record<string, Record<string, unknown>>;
  const defs = schema?.$defs as Record<string, unknown> | undefined;
  const required = new Set((schema?.required as string[] | undefined) ?? []);
  const names = Object.keys(properties);
  return (
    <Box>
      <Text size="xs" fw={700} tt="uppercase" c="dimmed">
        {title}
      </Text>
      {names.length === 0 && <Text size="xs">none</Text>}
      {names.map((name) => (
        <Text size="xs" key={name}>
          <b>{name}</b>
          {required.has(name) ? "*" : ""}: {typeLabel(properties[name], defs)}
        </Text>
      ))}
    </Box>
  );
}
