// The operators palette: search (client-side) and the operators grouped by repository and tag.
// Only the rows in and near the visible part of the list are rendered (rows have fixed heights),
// so a workspace with a thousand operators opens and filters as fast as one with twenty.
import { Alert, Box, Button, Loader, Stack, Text, TextInput } from "@mantine/core";
import { useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Link } from "react-router-dom";

import { filterOperators, groupOperators, type OperatorGroup, type OperatorSummary } from "./operators";
import { PALETTE_ITEM_HEIGHT, PaletteItem } from "./PaletteItem";
import { useOperators } from "./queries";

interface Props {
  workspaceId: number;
  onAdd(operator: OperatorSummary): void;
}

export function Palette({ workspaceId, onAdd }: Props) {
  const operators = useOperators(workspaceId);
  const [query, setQuery] = useState("");
  // Typing stays responsive: the list follows the query when React has time for it.
  const deferredQuery = useDeferredValue(query);
  const current = useMemo(() => (operators.data ?? []).filter((op) => op.is_current), [operators.data]);
  const groups = useMemo(() => groupOperators(filterOperators(current, deferredQuery)), [current, deferredQuery]);

  return (
    <Stack gap="xs" h="100%" p="xs" data-testid="palette" aria-label="Operators palette">
      <TextInput
        placeholder="Search operators"
        aria-label="Search operators"
        data-testid="palette-search"
        value={query}
        onChange={(event) => setQuery(event.currentTarget.value)}
      />
      {operators.isPending && <Loader size="sm" />}
      {operators.isError && (
        <Alert color="red" title="Could not load the operators">
          {operators.error.message}.{" "}
          <Button size="compact-xs" variant="light" onClick={() => operators.refetch()}>
            Try again
          </Button>
        </Alert>
      )}
      {operators.isSuccess && current.length === 0 && (
        <Text size="sm">
          No operators yet: import a repository in the <Link to="../settings">workspace settings</Link>.
        </Text>
      )}
      {operators.isSuccess && current.length > 0 && groups.length === 0 && (
        <Text size="sm" c="dimmed">
          No operator matches “{query}”: try fewer or other words.
        </Text>
      )}
      <PaletteList groups={groups} resetKey={deferredQuery} workspaceId={workspaceId} onAdd={onAdd} />
    </Stack>
  );
}

const REPOSITORY_ROW = 26;
const TAG_ROW = 22;
const ITEM_GAP = 4;
const ITEM_ROW = PALETTE_ITEM_HEIGHT + ITEM_GAP;
/** Pixels rendered beyond each edge of the visible part (so a short list is rendered whole). */
const OVERSCAN = 300;
/** The visible height assumed before the list is measured (and where nothing is laid out, as in jsdom). */
const UNMEASURED_HEIGHT = 1200;

type Row =
  | { kind: "repository"; top: number; repository: string }
  | { kind: "tag"; top: number; list: string; tag: string }
  | { kind: "item"; top: number; list: string; operator: OperatorSummary; position: number; size: number };

/** The groups as rows, each with its offset from the top of the list; and the list's height. */
function paletteRows(groups: readonly OperatorGroup[]): { rows: Row[]; height: number } {
  const rows: Row[] = [];
  let top = 0;
  for (const group of groups) {
    rows.push({ kind: "repository", top, repository: group.repository });
    top += REPOSITORY_ROW;
    for (const { tag, operators } of group.tags) {
      const list = `${group.repository}: ${tag}`;
      rows.push({ kind: "tag", top, list, tag });
      top += TAG_ROW;
      operators.forEach((operator, index) => {
        rows.push({ kind: "item", top, list, operator, position: index + 1, size: operators.length });
        top += ITEM_ROW;
      });
    }
  }
  return { rows, height: top };
}

function rowHeight(row: Row): number {
  return row.kind === "repository" ? REPOSITORY_ROW : row.kind === "tag" ? TAG_ROW : ITEM_ROW;
}

/** The index of the first row ending below `offset` (rows are sorted by `top`). */
function firstRowBelow(rows: readonly Row[], offset: number): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (rows[middle].top + rowHeight(rows[middle]) <= offset) low = middle + 1;
    else high = middle;
  }
  return low;
}

interface ListProps {
  groups: readonly OperatorGroup[];
  /** Back to the top when it changes (a new search). */
  resetKey: string;
  workspaceId: number;
  onAdd(operator: OperatorSummary): void;
}

function PaletteList({ groups, resetKey, workspaceId, onAdd }: ListProps) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(0);
  const { rows, height } = useMemo(() => paletteRows(groups), [groups]);

  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const measure = () => setViewHeight(element.clientHeight);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (box.current) box.current.scrollTop = 0;
    setScrollTop(0);
  }, [resetKey]);

  const start = firstRowBelow(rows, scrollTop - OVERSCAN);
  const bottom = scrollTop + (viewHeight || UNMEASURED_HEIGHT) + OVERSCAN;
  let end = start;
  while (end < rows.length && rows[end].top < bottom) end += 1;

  // The visible rows; the items of one tag in one element (a list named after the repository
  // and the tag), placed where its first visible row is.
  const children: ReactNode[] = [];
  let index = start;
  while (index < end) {
    const row = rows[index];
    if (row.kind === "repository") {
      children.push(
        <Text
          key={`repository:${row.repository}`}
          size="xs"
          fw={800}
          tt="uppercase"
          c="dimmed"
          role="heading"
          aria-level={3}
          truncate
          style={{ position: "absolute", top: row.top + 6, left: 0, right: 0 }}
        >
          {row.repository}
        </Text>,
      );
      index += 1;
      continue;
    }
    const list = row.list;
    const top = row.top;
    const content: ReactNode[] = [];
    for (; index < end; index += 1) {
      const member = rows[index];
      if (member.kind === "repository" || member.list !== list) break;
      if (member.kind === "tag") {
        content.push(
          <Text key="tag" size="xs" fw={600} c="dimmed" h={TAG_ROW} pt={4} truncate>
            # {member.tag}
          </Text>,
        );
      } else {
        content.push(
          <Box key={member.operator.id} h={ITEM_ROW} pb={ITEM_GAP}>
            <PaletteItem
              operator={member.operator}
              workspaceId={workspaceId}
              onAdd={onAdd}
              position={member.position}
              setSize={member.size}
            />
          </Box>,
        );
      }
    }
    children.push(
      <div key={`list:${list}`} role="list" aria-label={list} style={{ position: "absolute", top, left: 0, right: 0 }}>
        {content}
      </div>,
    );
  }

  return (
    <Box
      ref={box}
      style={{ flex: 1, minHeight: 0, overflowY: "auto", overflowX: "hidden" }}
      onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
      data-testid="palette-list"
    >
      <div style={{ position: "relative", height }}>{children}</div>
    </Box>
  );
}
