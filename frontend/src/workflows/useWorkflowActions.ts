// What the workflows list does to a workflow: run it now, pause or resume it, delete it.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";

import { api, type Schemas, unwrap } from "../api/client";
import { runMonitorPath } from "../runs/runLinks";

type Workflow = Schemas["WorkflowOut"];

function workflowPath(workspaceId: number, workflow: Workflow) {
  return { path: { workspace_id: workspaceId, workflow_id: workflow.id } };
}

/** Deploys the current version when Airflow does not have it yet, starts a run with the
 * default parameters, and opens its monitor. */
export function useRunWorkflowNow(workspaceId: number) {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: async (workflow: Workflow) => {
      const params = workflowPath(workspaceId, workflow);
      if (workflow.deployed_version !== workflow.current_version) {
        unwrap(await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/deploy", { params }));
      }
      return unwrap(
        await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs", {
          params,
          body: { parameters: {} },
        }),
      );
    },
    onSuccess: async (run, workflow) => {
      await client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "workflows"] });
      navigate(runMonitorPath(workspaceId, workflow.id, run.run_id));
    },
  });
}

export function useSetWorkflowPaused(workspaceId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ workflow, paused }: { workflow: Workflow; paused: boolean }) => {
      const params = workflowPath(workspaceId, workflow);
      return unwrap(
        paused
          ? await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/pause", { params })
          : await api.POST("/api/workspaces/{workspace_id}/workflows/{workflow_id}/resume", { params }),
      );
    },
    onSettled: () => client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "workflows"] }),
  });
}

export function useDeleteWorkflow(workspaceId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (workflow: Workflow) =>
      unwrap(
        await api.DELETE("/api/workspaces/{workspace_id}/workflows/{workflow_id}", {
          params: workflowPath(workspaceId, workflow),
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "workflows"] }),
  });
}

/** Uploads a workflow document (a JSON file, as export makes) as a new workflow. */
export function useImportWorkflow(workspaceId: number) {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: async (file: File) =>
      unwrap(
        await api.POST("/api/workspaces/{workspace_id}/workflows/import", {
          params: { path: { workspace_id: workspaceId } },
          // The generated type says string (a binary field); the body is the form with the file.
          body: { file: file.name },
          bodySerializer: () => {
            const form = new FormData();
            form.append("file", file);
            return form;
          },
        }),
      ),
    onSuccess: async (workflow) => {
      await client.invalidateQueries({ queryKey: ["workspaces", workspaceId, "workflows"] });
      navigate(`/w/${workspaceId}/workflows/${workflow.id}/edit`);
    },
  });
}
