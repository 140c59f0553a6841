// The operators palette: search (client-side) and the operators grouped by repository and tag.
import { Alert, Box, Button, Loader, ScrollArea, Stack, Text, TextInput } from "@mantine/core";
import { useDeferredValue, useMemo, useState } from "react";
import { Link } from "react-router-dom";

import { filterOperators, groupOperators, type OperatorSummary } from "./operators";
import { PaletteItem } from "./PaletteItem";
import { useOperators } from "./queries";

interface Props {
  workspaceId: number;
  onAdd(operator: OperatorSummary): void;
}

export function Palette({ workspaceId, onAdd }: Props) {
  const operators = useOperators(workspaceId);
  const [query, setQuery] = useState("");
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
      <ScrollArea style={{ flex: 1 }} type="auto">
        <Stack gap="sm">
          {groups.map((group) => (
            <Box key={group.repository} role="group" aria-label={`Repository ${group.repository}`}>
              <Text size="xs" fw={800} tt="uppercase" c="dimmed">
                {group.repository}
              </Text>
              {group.tags.map(({ tag, operators: list }) => (
                <Stack gap={4} key={tag} mt={4} role="list" aria-label={`${group.repository}: ${tag}`}>
                  <Text size="xs" fw={600} c="dimmed">
                    # {tag}
                  </Text>
                  {list.map((operator) => (
                    <PaletteItem key={operator.id} operator={operator} workspaceId={workspaceId} onAdd={onAdd} />
                  ))}
                </Stack>
              ))}
            </Box>
          ))}
        </Stack>
      </ScrollArea>
    </Stack>
  );
}
