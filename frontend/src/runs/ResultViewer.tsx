// A task's result shown for what it is: HTML in a sandboxed frame, images, CSV as a table,
// JSON as a tree, markdown and text as text, PDF in the browser's viewer. Files are fetched
// with the token and shown through srcdoc or blob URLs; no result's markup ever runs here.
import { Alert, Box, Code, Loader, ScrollArea, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { useBlobUrl } from "../components/blobFiles";
import { JsonTree } from "../components/JsonTree";
import { ListTable } from "../components/ListTable";
import { parseCsv } from "./csv";
import { MarkdownText } from "./MarkdownText";
import { type TaskRef, taskPath } from "./useRun";

export const CSV_ROW_LIMIT = 200;

const TEXT_TYPES = new Set(["html", "csv", "json", "md", "txt"]);
const BLOB_TYPES: Record<string, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  svg: "image/svg+xml",
  pdf: "application/pdf",
};

/** The viewer's file type for a path ("report.HTML" → "html"), as the API names them. */
export function fileTypeOf(path: string): string {
  const extension = path.split(".").pop()?.toLowerCase() ?? "";
  const aliases: Record<string, string> = { htm: "html", jpg: "jpeg", markdown: "md", text: "txt", log: "txt" };
  return aliases[extension] ?? extension;
}

export function isViewable(fileType: string): boolean {
  return TEXT_TYPES.has(fileType) || fileType in BLOB_TYPES;
}

/** Fetches a result file with the token: the raw bytes. */
export async function fetchResultFile(task: TaskRef, path: string): Promise<Blob> {
  return unwrap(
    await api.GET(
      "/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/results/{path}",
      {
        params: { path: { ...taskPath(task), path } },
        parseAs: "blob",
      },
    ),
  ) as Blob;
}

interface Props {
  task: TaskRef;
  fileType: string;
  path: string;
}

export function ResultViewer({ task, fileType, path }: Props) {
  const file = useQuery({
    queryKey: ["result", task.workspaceId, task.workflowId, task.runId, task.taskId, path],
    queryFn: async () => {
      const blob = await fetchResultFile(task, path);
      return { blob, text: TEXT_TYPES.has(fileType) ? await blob.text() : null };
    },
    staleTime: Infinity,
  });

  return (
    <Box
      data-testid="result-viewer"
      data-file-type={fileType}
      style={{ flex: 1, minHeight: 0, display: "flex", flexDirection: "column" }}
    >
      {file.isPending && <Loader size="sm" aria-label={`Loading ${path}`} />}
      {file.isError && (
        <ApiErrorAlert error={file.error} title={`${path} cannot be shown`} onRetry={() => file.refetch()} />
      )}
      {file.data && <ResultContent fileType={fileType} path={path} blob={file.data.blob} text={file.data.text} />}
    </Box>
  );
}

function ResultContent({
  fileType,
  path,
  blob,
  text,
}: {
  fileType: string;
  path: string;
  blob: Blob;
  text: string | null;
}) {
  const url = useBlobUrl(fileType in BLOB_TYPES ? blob : undefined, BLOB_TYPES[fileType]);
  if (text !== null) {
    if (fileType === "html") {
      // sandbox="": no scripts, no forms, no same-origin access to FlowUI (and its token).
      return (
        <iframe
          title={`Result ${path}`}
          sandbox=""
          srcDoc={text}
          style={{
            flex: 1,
            minHeight: 420,
            width: "100%",
            border: "1px solid var(--mantine-color-gray-3)",
            background: "white",
          }}
        />
      );
    }
    if (fileType === "csv") return <CsvTable text={text} />;
    if (fileType === "json") return <JsonResult text={text} />;
    if (fileType === "md") return <MarkdownText source={text} />;
    return (
      <Code block style={{ whiteSpace: "pre-wrap" }}>
        {text}
      </Code>
    );
  }
  if (!url) return null;
  if (fileType === "pdf") {
    return <iframe title={`Result ${path}`} src={url} style={{ flex: 1, minHeight: 480, width: "100%", border: 0 }} />;
  }
  if (fileType in BLOB_TYPES) {
    return (
      <img
        src={url}
        alt={`Result ${path}`}
        style={{ maxWidth: "100%", objectFit: "contain", alignSelf: "flex-start" }}
      />
    );
  }
  return (
    <Alert color="gray">
      {path} cannot be shown here ({fileType || "unknown type"}): download it instead.
    </Alert>
  );
}

function CsvTable({ text }: { text: string }) {
  // The header, the rows shown, and one more to know whether there are more.
  const [header, ...body] = parseCsv(text, CSV_ROW_LIMIT + 2);
  if (!header) return <Text c="dimmed">The file is empty.</Text>;
  const shown = body.slice(0, CSV_ROW_LIMIT);
  return (
    <ScrollArea type="auto">
      <ListTable titles={header} striped withTableBorder withColumnBorders fz="xs" data-testid="result-csv-table">
        {shown.map((row, index) => (
          <Table.Tr key={index}>
            {row.map((cell, column) => (
              <Table.Td key={column}>{cell}</Table.Td>
            ))}
          </Table.Tr>
        ))}
      </ListTable>
      {body.length > CSV_ROW_LIMIT && (
        <Text size="xs" c="dimmed" mt={4}>
          The first {CSV_ROW_LIMIT} rows; download the file for all of them.
        </Text>
      )}
    </ScrollArea>
  );
}

function JsonResult({ text }: { text: string }) {
  const parsed = useMemo(() => {
    try {
      return { value: JSON.parse(text) as unknown };
    } catch {
      return null; // not JSON after all: shown as text
    }
  }, [text]);
  if (parsed) return <JsonTree value={parsed.value} />;
  return (
    <Code block style={{ whiteSpace: "pre-wrap" }}>
      {text}
    </Code>
  );
}
