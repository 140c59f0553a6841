// The toolbar's actions: save, validate, run now (save, deploy, resume if needed, start a run),
// import and export. Outcomes go to the store's notice and problems.
import { useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { useNavigate } from "react-router-dom";

import { ApiError } from "../api/client";
import { problemsFromApiError, problemsFromValidation } from "./problems";
import {
  deployWorkflow,
  editorKeys,
  resumeWorkflow,
  saveWorkflow,
  startRun,
  validateWorkflow,
  type WorkflowInfo,
} from "./queries";
import { useEditor } from "./store";
import type { WorkflowDoc } from "./types";

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Shows an API error's problems on the nodes and fields they point to. */
function report(error: unknown, what: string, doc: WorkflowDoc) {
  const store = useEditor.getState();
  if (error instanceof ApiError) {
    const problems = problemsFromApiError(error.body, doc);
    const located = problems.filter((p) => p.target.path.length > 0);
    if (located.length) store.setProblems(located);
    const next = located.length
      ? "fix the problems listed under the canvas (click one to find it), then try again"
      : error.body.status === 401
        ? "sign in again"
        : "try again, or check the platform's status";
    store.setNotice({ kind: "error", text: `${what} failed: ${error.message}: ${next}.` });
  } else {
    store.setNotice({ kind: "error", text: `${what} failed: ${message(error)}: check your connection and try again.` });
  }
}

export function useEditorActions(workspaceId: number) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  /** Saves the document as a new version; a new workflow's editor then moves to its own URL
   * unless `followNew` is false (the user is leaving the editor). */
  const save = useCallback(
    async (followNew = true): Promise<WorkflowInfo | null> => {
      const store = useEditor.getState();
      const doc = store.history.present;
      store.setNotice({ kind: "info", text: "Saving…" });
      try {
        const saved = await saveWorkflow(workspaceId, store.workflowId, doc);
        const isNew = store.workflowId === null;
        useEditor.getState().markSaved(saved.id, doc);
        useEditor.getState().setProblems([]);
        queryClient.setQueryData(editorKeys.workflow(workspaceId, saved.id), saved);
        void queryClient.invalidateQueries({ queryKey: ["workflows"] });
        useEditor.getState().setNotice({
          kind: "success",
          text: saved.new_version
            ? `Saved as version ${saved.current_version}.`
            : `Nothing changed since version ${saved.current_version}.`,
        });
        if (isNew && followNew) navigate(`/w/${workspaceId}/workflows/${saved.id}/edit`, { replace: true });
        return saved;
      } catch (error) {
        report(error, "Saving", doc);
        return null;
      }
    },
    [navigate, queryClient, workspaceId],
  );

  const validate = useCallback(async () => {
    const store = useEditor.getState();
    const doc = store.history.present;
    try {
      const result = await validateWorkflow(workspaceId, doc);
      useEditor.getState().setProblems(problemsFromValidation(result.problems, doc));
      useEditor.getState().setNotice(
        result.valid
          ? { kind: "success", text: "No problems: the workflow can be saved and run." }
          : {
              kind: "error",
              text: `${result.problems.length} problem${result.problems.length > 1 ? "s" : ""} to fix: click one under the canvas to find its task.`,
            },
      );
    } catch (error) {
      report(error, "Validating", doc);
    }
  }, [workspaceId]);

  /** Saves unsaved changes, deploys the current version and resumes if needed, then starts a run. */
  const run = useCallback(
    async (parameters: Record<string, unknown>, info: WorkflowInfo | undefined): Promise<boolean> => {
      const store = useEditor.getState();
      let current: WorkflowInfo | null | undefined = info;
      if (store.workflowId === null || store.history.present !== store.savedDoc || !current) {
        current = await save();
        if (!current) return false;
      }
      const doc = useEditor.getState().history.present;
      const id = current.id;
      try {
        if (current.deployed_version !== current.current_version) {
          useEditor
            .getState()
            .setNotice({ kind: "info", text: `Deploying version ${current.current_version} to Airflow…` });
          current = await deployWorkflow(workspaceId, id);
        }
        if (current.is_paused) current = await resumeWorkflow(workspaceId, id);
        queryClient.setQueryData(editorKeys.workflow(workspaceId, id), current);
        useEditor.getState().setNotice({ kind: "info", text: "Starting a run…" });
        const started = await startRun(workspaceId, id, parameters);
        useEditor.getState().setNotice({ kind: "success", text: `Run ${started.run_id} started.` });
        navigate(`/w/${workspaceId}/workflows/${id}/runs/${encodeURIComponent(started.run_id)}`);
        return true;
      } catch (error) {
        report(error, "Running", doc);
        return false;
      }
    },
    [navigate, queryClient, save, workspaceId],
  );

  return { save, validate, run };
}

/** Downloads the document as a JSON file. */
export function exportDocument(doc: WorkflowDoc) {
  const blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `${doc.name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") || "workflow"}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A workflow document from a file's text, or the reason it is not one. */
export function parseDocument(text: string): { doc: WorkflowDoc } | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON (${message(error)}): choose a workflow exported as JSON` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { error: "a workflow is a JSON object: choose a workflow exported as JSON" };
  }
  const doc = parsed as Partial<WorkflowDoc>;
  if (!Array.isArray(doc.tasks)) return { error: 'it has no "tasks" list: choose a workflow exported as JSON' };
  return { doc: { ...doc, name: typeof doc.name === "string" ? doc.name : "Imported workflow", tasks: doc.tasks } };
}
