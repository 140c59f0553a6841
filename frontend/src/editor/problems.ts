// Where a server-reported problem is: its JSON pointer mapped to a task (by index -> id) and a
// field of the task or of the workflow.
import type { ApiErrorBody } from "../api/client";
import type { WorkflowDoc } from "./types";

export interface ProblemTarget {
  /** The task's index in the document, when the pointer is inside /tasks/<i>. */
  taskIndex: number | null;
  /** That task's id (null if the index is out of range or the pointer is not in a task). */
  taskId: string | null;
  /** The input's name, for /tasks/<i>/inputs/<name>/... */
  input: string | null;
  /** The task's field (inputs, retries, id, ...) or the workflow's (name, schedule, ...). */
  field: string | null;
  /** The pointer's segments (decoded) after the document's root. */
  path: string[];
}

export interface EditorProblem {
  pointer: string;
  message: string;
  target: ProblemTarget;
}

const DOCUMENT_PREFIXES = ["/body/document", "/document"];

/** RFC 6901 segments of a pointer ("" is the root: no segment). */
export function decodePointer(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return pointer === "/" ? [""] : [];
  return pointer
    .replace(/^\//, "")
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The pointer relative to the document, or null when it points outside it (e.g. /body/parameters). */
export function documentPointer(where: string): string | null {
  for (const prefix of DOCUMENT_PREFIXES) {
    if (where === prefix) return "";
    if (where.startsWith(prefix + "/")) return where.slice(prefix.length);
  }
  return where.startsWith("/body") ? null : where;
}

/**
 * Maps a pointer into a workflow document ("/tasks/1/inputs/path/from", "/name"; with or
 * without the API's "/body/document" prefix) to the task and field it names.
 */
export function locateProblem(pointer: string, doc: WorkflowDoc): ProblemTarget {
  const relative = documentPointer(pointer);
  const path = relative === null ? [] : decodePointer(relative);
  const target: ProblemTarget = { taskIndex: null, taskId: null, input: null, field: null, path };
  if (relative === null || path.length === 0) return target;
  if (path[0] !== "tasks") return { ...target, field: path[0] };
  if (path.length < 2 || !/^\d+$/.test(path[1])) return { ...target, field: "tasks" };
  const taskIndex = Number(path[1]);
  const task = doc.tasks[taskIndex];
  return {
    ...target,
    taskIndex,
    taskId: task && typeof task.id === "string" ? task.id : null,
    field: path[2] ?? null,
    input: path[2] === "inputs" && path.length > 3 ? path[3] : null,
  };
}

export function problemsFromValidation(
  problems: readonly { pointer: string; message: string }[],
  doc: WorkflowDoc,
): EditorProblem[] {
  return problems.map(({ pointer, message }) => ({ pointer, message, target: locateProblem(pointer, doc) }));
}

/** The problems of an API error: one per detail, or the error's message alone. */
export function problemsFromApiError(error: ApiErrorBody, doc: WorkflowDoc): EditorProblem[] {
  if (!error.details?.length) {
    return [{ pointer: "", message: error.message, target: locateProblem("/body", doc) }];
  }
  return error.details.map(({ where, message }) => ({
    pointer: documentPointer(where) ?? where,
    message,
    target: locateProblem(where, doc),
  }));
}

/** How many problems each task has, by task id. */
export function problemCounts(problems: readonly EditorProblem[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { target } of problems) {
    if (target.taskId !== null) counts.set(target.taskId, (counts.get(target.taskId) ?? 0) + 1);
  }
  return counts;
}
