// A task's result files: the one it asked to display, shown; every file to view or download.
import { Button, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { baseName, formatSize, saveBlobAs } from "../components/blobFiles";
import { RowActions } from "../components/RowActions";
import { fetchResultFile, fileTypeOf, isViewable, ResultViewer } from "./ResultViewer";
import { type TaskRef, taskPath } from "./useRun";

/** `state` is part of the query: the list is read again when the task's state changes. */
export function TaskResults({ task, state }: { task: TaskRef; state: string | null }) {
  const [chosen, setChosen] = useState<string | null>(null);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const results = useQuery({
    queryKey: ["results", task.workspaceId, task.workflowId, task.runId, task.taskId, state],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/results", {
          params: { path: taskPath(task) },
        }),
      ),
  });

  async function download(path: string) {
    setDownloadError(null);
    try {
      saveBlobAs(await fetchResultFile(task, path), baseName(path));
    } catch (caught) {
      setDownloadError(caught);
    }
  }

  if (results.isError) return <ApiErrorAlert error={results.error} onRetry={() => results.refetch()} />;
  if (!results.data) return null;
  const { files, display_result: display } = results.data;
  const shown = chosen ?? display?.path ?? null;
  const shownType = shown === display?.path && display ? display.file_type : shown ? fileTypeOf(shown) : "";

  return (
    <Stack gap="sm" style={{ flex: 1, minHeight: 0 }}>
      {files.length === 0 && (
        <Text size="sm" c="dimmed">
          No result files
          {state === "success" || state === "failed" ? "." : " yet: they appear when the task writes them."}
        </Text>
      )}
      {downloadError != null && <ApiErrorAlert error={downloadError} onClose={() => setDownloadError(null)} />}
      {files.length > 0 && (
        <Table fz="sm" verticalSpacing={4} data-testid="result-files">
          <Table.Tbody>
            {files.map((file) => (
              <Table.Tr key={file.path} data-testid={`result-file-${file.path}`}>
                <Table.Td style={{ wordBreak: "break-all" }}>
                  {file.path}
                  {file.path === display?.path && (
                    <Text span size="xs" c="dimmed">
                      {" "}
                      (displayed)
                    </Text>
                  )}
                </Table.Td>
                <Table.Td c="dimmed" style={{ whiteSpace: "nowrap" }}>
                  {formatSize(file.size)}
                </Table.Td>
                <Table.Td>
                  <RowActions>
                    {isViewable(fileTypeOf(file.path)) && file.path !== shown && (
                      <Button
                        size="compact-xs"
                        variant="subtle"
                        onClick={() => setChosen(file.path)}
                        aria-label={`View ${file.path}`}
                      >
                        View
                      </Button>
                    )}
                    <Button
                      size="compact-xs"
                      variant="light"
                      onClick={() => void download(file.path)}
                      aria-label={`Download ${file.path}`}
                      data-testid={`result-download-${file.path}`}
                    >
                      Download
                    </Button>
                  </RowActions>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {shown && <ResultViewer key={shown} task={task} fileType={shownType} path={shown} />}
    </Stack>
  );
}
