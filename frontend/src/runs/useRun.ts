// The server state of a run's screens: the run (polled while it is not finished) and the
// workflow document its graph is drawn from.
import { useQuery } from "@tanstack/react-query";

import { api, unwrap } from "../api/client";
import { isRunFinished } from "../components/RunStateBadge";

export interface RunRef {
  workspaceId: number;
  workflowId: number;
  runId: string;
}

export interface TaskRef extends RunRef {
  taskId: string;
}

export function runPath(ref: RunRef) {
  return { workspace_id: ref.workspaceId, workflow_id: ref.workflowId, run_id: ref.runId };
}

export function taskPath(ref: TaskRef) {
  return { ...runPath(ref), task_id: ref.taskId };
}

export function runQueryKey(ref: RunRef) {
  return ["workspaces", ref.workspaceId, "workflows", ref.workflowId, "run", ref.runId] as const;
}

export const RUN_POLL_MS = 1000;

export function useRunDetail(ref: RunRef) {
  return useQuery({
    queryKey: runQueryKey(ref),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs/{run_id}", {
          params: { path: runPath(ref) },
        }),
      ),
    refetchInterval: (query) => (query.state.data && isRunFinished(query.state.data.state) ? false : RUN_POLL_MS),
    staleTime: 0,
  });
}

export function useWorkflow(workspaceId: number, workflowId: number) {
  return useQuery({
    queryKey: ["workspaces", workspaceId, "workflows", workflowId],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId } },
        }),
      ),
  });
}

/** The document of the version Airflow runs (the deployed one), else the current one. */
export function useDeployedDocument(workspaceId: number, workflowId: number) {
  const workflow = useWorkflow(workspaceId, workflowId);
  const deployed = workflow.data?.deployed_version;
  const current = workflow.data?.current_version;
  const version = useQuery({
    queryKey: ["workspaces", workspaceId, "workflows", workflowId, "versions", deployed],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/workspaces/{workspace_id}/workflows/{workflow_id}/versions/{number}", {
          params: { path: { workspace_id: workspaceId, workflow_id: workflowId, number: deployed ?? 0 } },
        }),
      ),
    enabled: deployed != null && deployed !== current,
    staleTime: Infinity,
  });
  const document = deployed != null && deployed !== current ? version.data?.document : workflow.data?.document;
  return { workflow, document };
}
