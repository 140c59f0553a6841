// The workspace's uploaded datasets (kept in the dataset store, where tasks read them by id), and
// their sync with the platform's bucket.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas, unwrap } from "../api/client";

export type Dataset = Schemas["DatasetOut"];
// The GUI syncs one way at a time ("both" is the API's too), so what moves is always clear.
export type SyncDirection = Exclude<Schemas["SyncRequest"]["direction"], "both">;
export type SyncReport = Schemas["SyncOut"];

export const datasetsKey = (workspaceId: number) => ["workspaces", workspaceId, "datasets"] as const;

export function useDatasets(workspaceId: number, enabled = true) {
  return useQuery({
    queryKey: datasetsKey(workspaceId),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/datasets", { params: { path: { workspace_id: workspaceId } } }),
      ),
    enabled,
    staleTime: 30_000,
  });
}

/** Copies the versions one side lacks between the file system and the bucket; the server answers
 * when the copy is done. The list is refreshed afterwards, failed or not: a copy that stopped
 * half-way may have moved some versions. */
export function useSyncDataset(workspaceId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ dataset, direction }: { dataset: Dataset; direction: SyncDirection }) =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/datasets/{dataset_id}/sync", {
          params: { path: { workspace_id: workspaceId, dataset_id: dataset.id } },
          body: { direction },
        }),
      ),
    onSettled: () => client.invalidateQueries({ queryKey: datasetsKey(workspaceId) }),
  });
}
