// The workspace's uploaded datasets (kept in the dataset store, where tasks read them by id).
import { useQuery } from "@tanstack/react-query";

import { api, type Schemas, unwrap } from "../api/client";

export type Dataset = Schemas["DatasetOut"];

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
