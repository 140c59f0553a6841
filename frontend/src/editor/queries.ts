// Server state of the editor, through TanStack Query and the generated client.
import { useQueries, useQuery } from "@tanstack/react-query";
import { useMemo } from "react";

import { api, unwrap, type Schemas } from "../api/client";
import type { OperatorDetail, OperatorSummary } from "./operators";
import { operatorKey, type OperatorRef, type WorkflowDoc } from "./types";

export const editorKeys = {
  operators: (workspaceId: number) => ["operators", workspaceId, "all-versions"] as const,
  operator: (workspaceId: number, operatorId: number) => ["operator", workspaceId, operatorId] as const,
  workflow: (workspaceId: number, workflowId: number) => ["workflows", workspaceId, workflowId] as const,
  versions: (workspaceId: number, workflowId: number) => ["workflows", workspaceId, workflowId, "versions"] as const,
  diff: (workspaceId: number, workflowId: number, from: number, to: number) =>
    ["workflows", workspaceId, workflowId, "diff", from, to] as const,
};

/** Every imported operator of the workspace (all versions: saved workflows may name old ones). */
export function useOperators(workspaceId: number) {
  return useQuery({
    queryKey: editorKeys.operators(workspaceId),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/operators", {
          params: { path: { workspace_id: workspaceId }, query: { all_versions: true } },
        }),
      ),
    staleTime: 60_000,
  });
}

/** Operators by "repository/name@version". */
export function useOperatorIndex(workspaceId: number): Map<string, OperatorSummary> {
  const { data } = useOperators(workspaceId);
  return useMemo(() => new Map((data ?? []).map((op) => [operatorKey(op), op])), [data]);
}

async function fetchOperator(workspaceId: number, operatorId: number): Promise<OperatorDetail> {
  return unwrap(
    await api.GET("/api/workspaces/{workspace_id}/operators/{operator_id}", {
      params: { path: { workspace_id: workspaceId, operator_id: operatorId } },
    }),
  );
}

export function operatorDetailQuery(workspaceId: number, operatorId: number) {
  return {
    queryKey: editorKeys.operator(workspaceId, operatorId),
    queryFn: () => fetchOperator(workspaceId, operatorId),
    staleTime: 5 * 60_000,
  };
}

/** An operator's detail (its schemas), fetched only when `enabled`. */
export function useOperatorDetail(workspaceId: number, operatorId: number | undefined, enabled = true) {
  return useQuery({
    ...operatorDetailQuery(workspaceId, operatorId ?? -1),
    enabled: enabled && operatorId !== undefined,
  });
}

/** The details of several operators (by reference), as a map by operator key. */
export function useOperatorDetails(workspaceId: number, refs: readonly OperatorRef[]): Map<string, OperatorDetail> {
  const index = useOperatorIndex(workspaceId);
  const ids = [
    ...new Set(refs.map((ref) => index.get(operatorKey(ref))?.id).filter((id): id is number => id !== undefined)),
  ];
  const results = useQueries({ queries: ids.map((id) => operatorDetailQuery(workspaceId, id)) });
  const data = results.map((result) => result.data);
  const dataKey = data.map((d) => d?.id ?? "").join(",");
  return useMemo(
    () => new Map(data.filter((d): d is OperatorDetail => !!d).map((d) => [operatorKey(d), d])),
    // The map changes when the set of loaded details does, not with each new results array.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [dataKey],
  );
}

export function useWorkflow(workspaceId: number, workflowId: number | null) {
  return useQuery({
    queryKey: editorKeys.workflow(workspaceId, workflowId ?? -1),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId! } },
        }),
      ),
    enabled: workflowId !== null,
    staleTime: 0,
  });
}

export type WorkflowInfo = Schemas["WorkflowDetail"] | Schemas["WorkflowSaved"];

export async function saveWorkflow(workspaceId: number, workflowId: number | null, doc: WorkflowDoc) {
  const body = { document: doc as unknown as Record<string, unknown> };
  if (workflowId === null) {
    return unwrap(
      await api.POST("/api/workspaces/{workspace_id}/workflows", {
        params: { path: { workspace_id: workspaceId } },
        body,
      }),
    );
  }
  return unwrap(
    await api.PUT("/api/workspaces/{workspace_id}/workflows/{workflow_id}", {
      params: { path: { workspace_id: workspaceId, workflow_id: workflowId } },
      body,
    }),
  );
}

export async function validateWorkflow(workspaceId: number, doc: WorkflowDoc) {
  return unwrap(
    await api.POST("/api/workspaces/{workspace_id}/workflows/validate", {
      params: { path: { workspace_id: workspaceId } },
      body: { document: doc as unknown as Record<string, unknown> },
    }),
  );
}

export async function deployWorkflow(workspaceId: number, workflowId: number) {
  return unwrap(
    await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/deploy", {
      params: { path: { workspace_id: workspaceId, workflow_id: workflowId } },
    }),
  );
}

export async function resumeWorkflow(workspaceId: number, workflowId: number) {
  return unwrap(
    await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/resume", {
      params: { path: { workspace_id: workspaceId, workflow_id: workflowId } },
    }),
  );
}

export async function startRun(workspaceId: number, workflowId: number, parameters: Record<string, unknown>) {
  return unwrap(
    await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs", {
      params: { path: { workspace_id: workspaceId, workflow_id: workflowId } },
      body: { parameters },
    }),
  );
}

export async function fetchVersion(workspaceId: number, workflowId: number, number: number) {
  return unwrap(
    await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/versions/{number}", {
      params: { path: { workspace_id: workspaceId, workflow_id: workflowId, number } },
    }),
  );
}

export function useVersions(workspaceId: number, workflowId: number | null, enabled: boolean) {
  return useQuery({
    queryKey: editorKeys.versions(workspaceId, workflowId ?? -1),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/versions", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId! } },
        }),
      ),
    enabled: enabled && workflowId !== null,
  });
}

export function useDiff(workspaceId: number, workflowId: number | null, pair: [number, number] | null) {
  const [from, to] = pair ?? [0, 0];
  return useQuery({
    queryKey: editorKeys.diff(workspaceId, workflowId ?? -1, from, to),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/diff", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId! }, query: { from, to } },
        }),
      ),
    enabled: workflowId !== null && pair !== null,
  });
}
