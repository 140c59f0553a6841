// A task's log, followed live: read from the last offset every second until it is complete.
import { Badge, Group, ScrollArea, Text } from "@mantine/core";
import { useEffect, useRef, useState } from "react";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { RUN_POLL_MS, type TaskRef, taskPath } from "./useRun";

/** Remount it (key) for a new try: it reads the log again from the start. */
export function TaskLog({ task }: { task: TaskRef }) {
  const [text, setText] = useState("");
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const viewport = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const { workspaceId, workflowId, runId, taskId } = task;

  useEffect(() => {
    let stopped = false;
    let offset = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const path = taskPath({ workspaceId, workflowId, runId, taskId });
    async function follow() {
      try {
        const chunk = unwrap(
          await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/log", {
            params: { path, query: { offset } },
          }),
        );
        if (stopped) return;
        setError(null);
        if (chunk.content) setText((previous) => previous + chunk.content);
        offset = chunk.next_offset;
        if (chunk.complete) {
          setComplete(true);
          return;
        }
      } catch (caught) {
        if (stopped) return;
        setError(caught);
      }
      timer = setTimeout(follow, RUN_POLL_MS);
    }
    void follow();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [workspaceId, workflowId, runId, taskId]);

  // Keep the newest lines in view while following, unless the reader scrolled up.
  useEffect(() => {
    const element = viewport.current;
    if (element && stickToBottom.current) element.scrollTop = element.scrollHeight;
  }, [text]);
  function onScroll({ y }: { y: number }) {
    const element = viewport.current;
    if (element) stickToBottom.current = element.scrollHeight - y - element.clientHeight < 40;
  }

  return (
    <div style={{ display: "flex", flexDirection: "column", minHeight: 0, flex: 1 }}>
      <Group gap="xs" mb={4}>
        {complete ? (
          <Badge size="sm" variant="light" color="gray">
            complete
          </Badge>
        ) : (
          <Badge size="sm" variant="light" color="blue">
            following…
          </Badge>
        )}
      </Group>
      {error != null && <ApiErrorAlert error={error} title="The log cannot be read (still trying)" />}
      <ScrollArea
        viewportRef={viewport}
        onScrollPositionChange={onScroll}
        style={{ flex: 1, minHeight: 200 }}
        type="auto"
      >
        <pre
          data-testid="task-log"
          aria-label={`Log of ${taskId}`}
          style={{
            margin: 0,
            padding: 8,
            fontSize: 12,
            lineHeight: 1.45,
            whiteSpace: "pre-wrap",
            wordBreak: "break-word",
            background: "var(--mantine-color-dark-8)",
            color: "var(--mantine-color-gray-2)",
            minHeight: "100%",
          }}
        >
          {text || (complete ? "The task wrote no log." : "Waiting for the task's log…")}
        </pre>
      </ScrollArea>
      {!complete && text === "" && (
        <Text size="xs" c="dimmed" mt={4}>
          The log appears once the task starts.
        </Text>
      )}
    </div>
  );
}
