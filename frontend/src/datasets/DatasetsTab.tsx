// The workspace's datasets: upload a file as a new dataset, download or delete one, see where each
// one is and sync it with the platform's bucket. Tasks read a dataset by its id from the file
// system (dataset inputs of the editor offer these).
import {
  Badge,
  Button,
  Code,
  CopyButton,
  FileInput,
  Group,
  Loader,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
} from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, unwrap } from "../api/client";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { formatSize, saveBlobAs } from "../components/blobFiles";
import { RoleNotice } from "../components/RoleNotice";
import { DeleteRowAction, RowAction, RowActions } from "../components/RowActions";
import { ListTable } from "../components/ListTable";
import { roleAllows, type SettingsTabProps } from "../workspaces/useWorkspace";
import { type Dataset, datasetsKey, type SyncDirection, type SyncReport, useDatasets, useSyncDataset } from "./queries";

const LOCATION_LABELS: Record<Dataset["location"], string> = {
  file_system: "File system",
  bucket: "Bucket",
  both: "Both",
};

const SYNC_ACTIONS: Record<SyncDirection, { label: string; verb: string; preposition: string }> = {
  push: { label: "Push to bucket", verb: "Push", preposition: "to" },
  pull: { label: "Pull from bucket", verb: "Pull", preposition: "from" },
};

export function DatasetsTab({ workspaceId, role }: SettingsTabProps) {
  const datasets = useDatasets(workspaceId);
  const canWrite = roleAllows(role, "write");
  const sync = useSyncDataset(workspaceId);
  // The workspace's own bucket, the same on each of its datasets; null without one.
  const bucket = datasets.data?.[0]?.storage_bucket ?? null;
  const syncing = (dataset: Dataset, direction: SyncDirection) =>
    sync.isPending && sync.variables.dataset.id === dataset.id && sync.variables.direction === direction;
  const download = useMutation({
    mutationFn: async (dataset: Dataset) => {
      const blob = unwrap(
        await api.GET("/api/workspaces/{workspace_id}/datasets/{dataset_id}/download", {
          params: { path: { workspace_id: workspaceId, dataset_id: dataset.id } },
          parseAs: "blob",
        }),
      ) as Blob;
      saveBlobAs(blob, dataset.filename);
    },
  });

  return (
    <Stack>
      <Text size="sm" c="dimmed">
        An uploaded file becomes a dataset of the dataset store; an operator's dataset input takes its id (the editor
        offers this list).
      </Text>
      {canWrite && <UploadForm workspaceId={workspaceId} />}
      <RoleNotice role={role} needs="write">
        members with the write role or above upload datasets.
      </RoleNotice>
      {datasets.isError && <ApiErrorAlert error={datasets.error} onRetry={() => datasets.refetch()} />}
      {download.isError && <ApiErrorAlert error={download.error} />}
      {canWrite && !!datasets.data?.length && !bucket && (
        <Text size="sm" c="dimmed" data-testid="dataset-sync-unavailable">
          This server has no bucket (FLOWUI_STORAGE_BUCKET): datasets stay on its file system and cannot be pushed or
          pulled.
        </Text>
      )}
      {sync.isPending && (
        <Group gap="xs" data-testid="dataset-sync-running">
          <Loader size="xs" />
          <Text size="sm">
            {SYNC_ACTIONS[sync.variables.direction].verb}ing {sync.variables.dataset.name}{" "}
            {SYNC_ACTIONS[sync.variables.direction].preposition} the bucket {bucket}…
          </Text>
        </Group>
      )}
      {sync.isSuccess && (
        <Text size="sm" c="green" role="status" data-testid="dataset-sync-result">
          {describeSync(sync.variables.dataset.name, sync.data)}
        </Text>
      )}
      {sync.isError && (
        <ApiErrorAlert
          error={sync.error}
          title={`Syncing ${sync.variables.dataset.name} with the bucket failed`}
          onClose={() => sync.reset()}
          data-testid="dataset-sync-error"
        />
      )}
      {datasets.data?.length === 0 && <Text c="dimmed">No dataset uploaded yet.</Text>}
      {!!datasets.data?.length && (
        <ListTable
          titles={["Name", "Dataset id", "File", "Uploaded", "Where"]}
          withActions
          data-testid="datasets-table"
        >
          {datasets.data.map((dataset) => (
            <Table.Tr key={dataset.id} data-testid={`dataset-row-${dataset.name}`}>
              <Table.Td>{dataset.name}</Table.Td>
              <Table.Td>
                <CopyButton value={dataset.storage_id}>
                  {({ copied, copy }) => (
                    <Tooltip label={copied ? "Copied" : "Copy the id"}>
                      <Code style={{ cursor: "pointer" }} onClick={copy} data-testid="dataset-storage-id">
                        {dataset.storage_id}
                      </Code>
                    </Tooltip>
                  )}
                </CopyButton>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  {dataset.filename}{" "}
                  <Text span size="xs" c="dimmed">
                    {formatSize(dataset.size)}
                  </Text>
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  {new Date(dataset.created_at).toLocaleString()}
                  {dataset.created_by ? ` by ${dataset.created_by}` : ""}
                </Text>
              </Table.Td>
              <Table.Td>
                <Tooltip label={describeLocation(dataset)}>
                  <Badge
                    variant="light"
                    color={dataset.location === "bucket" ? "orange" : "blue"}
                    data-testid="dataset-location"
                  >
                    {LOCATION_LABELS[dataset.location]}
                  </Badge>
                </Tooltip>
              </Table.Td>
              <Table.Td>
                <RowActions>
                  <RowAction
                    label="Download"
                    target={dataset.name}
                    loading={download.isPending && download.variables?.id === dataset.id}
                    onClick={() => download.mutate(dataset)}
                  />
                  {canWrite &&
                    bucket &&
                    (["push", "pull"] as const).map((direction) => (
                      <Button
                        key={direction}
                        size="xs"
                        variant="light"
                        loading={syncing(dataset, direction)}
                        disabled={sync.isPending && !syncing(dataset, direction)}
                        onClick={() => sync.mutate({ dataset, direction })}
                        aria-label={`${SYNC_ACTIONS[direction].verb} ${dataset.name} ${SYNC_ACTIONS[direction].preposition} bucket`}
                      >
                        {SYNC_ACTIONS[direction].label}
                      </Button>
                    ))}
                  {canWrite && (
                    <DeleteRowAction
                      target={dataset.name}
                      action={async () =>
                        unwrap(
                          await api.DELETE("/api/workspaces/{workspace_id}/datasets/{dataset_id}", {
                            params: { path: { workspace_id: workspaceId, dataset_id: dataset.id } },
                          }),
                        )
                      }
                      invalidates={datasetsKey(workspaceId)}
                    >
                      Its files leave the dataset store: tasks that read {dataset.storage_id} will fail.
                    </DeleteRowAction>
                  )}
                </RowActions>
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
    </Stack>
  );
}

function UploadForm({ workspaceId }: { workspaceId: number }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const upload = useMutation({
    mutationFn: async ({ name, file }: { name: string; file: File }) =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/datasets", {
          params: { path: { workspace_id: workspaceId } },
          // The generated type says string for the binary part; the form carries the File.
          body: { name, file: file as unknown as string },
          bodySerializer: (body) => {
            const form = new FormData();
            form.append("name", body.name);
            form.append("file", body.file as unknown as File);
            return form;
          },
        }),
      ),
    onSuccess: async () => {
      setName("");
      setFile(null);
      await client.invalidateQueries({ queryKey: datasetsKey(workspaceId) });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file) upload.mutate({ name: name.trim(), file });
  };
  return (
    <form onSubmit={submit} data-testid="dataset-upload">
      <Stack gap="xs">
        <Group align="flex-end">
          <FileInput
            label="File"
            placeholder="Pick a file"
            value={file}
            onChange={(picked) => {
              setFile(picked);
              if (picked && !name) setName(picked.name.replace(/\.[^.]+$/, ""));
            }}
            fileInputProps={{ "data-testid": "dataset-file" } as React.ComponentProps<"input">}
            w={260}
          />
          <TextInput
            label="Name"
            description="Unique in the workspace"
            value={name}
            maxLength={200}
            onChange={(event) => setName(event.currentTarget.value)}
            data-testid="dataset-name"
          />
          <Button
            type="submit"
            disabled={!file || !name.trim()}
            loading={upload.isPending}
            data-testid="dataset-upload-submit"
          >
            Upload
          </Button>
        </Group>
        {upload.isError && <ApiErrorAlert error={upload.error} />}
        {upload.isSuccess && (
          <Text size="sm" c="green" role="status">
            Uploaded {upload.data.name} as dataset <Code>{upload.data.storage_id}</Code>.
          </Text>
        )}
      </Stack>
    </form>
  );
}

function describeLocation({ location, storage_bucket: bucket }: Dataset): string {
  if (!bucket) return "On the file system; this server has no bucket (FLOWUI_STORAGE_BUCKET)";
  if (location === "both") return `On the file system and in the bucket ${bucket}`;
  if (location === "bucket") return `Only in the bucket ${bucket}: pull it for tasks to read it`;
  return `Only on the file system, not in the bucket ${bucket}`;
}

function versions(names: string[]): string {
  return `${names.length} version${names.length === 1 ? "" : "s"} (${names.join(", ")})`;
}

/** What a sync copied, in a sentence. */
function describeSync(name: string, report: SyncReport): string {
  const copied = [
    report.pushed.length > 0 && `pushed ${versions(report.pushed)} to the bucket ${report.bucket}`,
    report.pulled.length > 0 && `pulled ${versions(report.pulled)} from the bucket ${report.bucket}`,
  ].filter(Boolean);
  if (copied.length === 0) {
    return report.unchanged.length > 0
      ? `${name}: nothing to copy, ${versions(report.unchanged)} already on both sides.`
      : `${name}: nothing to copy.`;
  }
  return `${name}: ${copied.join(" and ")}, ${formatSize(report.bytes_copied)}; every sha256 checked.`;
}
