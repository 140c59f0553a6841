// Pure edits of a workflow document: each returns a new document (untouched tasks keep their
// identity, so the canvas redraws only what changed) and never mutates its argument.
import { isBinding, type OperatorRef, type TaskInput, type WorkflowDoc, type WorkflowTask } from "./types";

export const TASK_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;

export function emptyDocument(name = "Untitled workflow"): WorkflowDoc {
  return {
    schema_version: 1,
    name,
    description: "",
    tags: [],
    schedule: { type: "none" },
    parameters: { type: "object", properties: {} },
    tasks: [],
  };
}

/** A task id from an operator's name: "SplitDatasetOperator" -> "split_dataset". */
export function taskIdBase(operatorName: string): string {
  const words = operatorName
    .replace(/Operator$/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9_-]+/g, "_")
    .replace(/^[^A-Za-z]+/, "")
    .toLowerCase()
    .slice(0, 90);
  return words || "task";
}

/** `base` if free, else base_2, base_3, ... */
export function uniqueTaskId(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  const stem = base.replace(/_\d+$/, "");
  for (let n = 2; ; n++) {
    const candidate = `${stem}_${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

function taskIds(doc: WorkflowDoc): Set<string> {
  return new Set(doc.tasks.map((task) => task.id));
}

function mapTask(doc: WorkflowDoc, id: string, change: (task: WorkflowTask) => WorkflowTask): WorkflowDoc {
  let changed = false;
  const tasks = doc.tasks.map((task) => {
    if (task.id !== id) return task;
    const next = change(task);
    if (next !== task) changed = true;
    return next;
  });
  return changed ? { ...doc, tasks } : doc;
}

export function findTask(doc: WorkflowDoc, id: string): WorkflowTask | undefined {
  return doc.tasks.find((task) => task.id === id);
}

export function addTask(
  doc: WorkflowDoc,
  operator: OperatorRef,
  position: { x: number; y: number },
): { doc: WorkflowDoc; id: string } {
  const id = uniqueTaskId(taskIdBase(operator.name), taskIds(doc));
  const task: WorkflowTask = {
    id,
    operator: { repository: operator.repository, name: operator.name, version: operator.version },
    inputs: {},
    ui: { x: Math.round(position.x), y: Math.round(position.y) },
  };
  return { doc: { ...doc, tasks: [...doc.tasks, task] }, id };
}

/** Removes tasks, and the bindings and depends_on entries that point to them. */
export function removeTasks(doc: WorkflowDoc, ids: Iterable<string>): WorkflowDoc {
  const gone = new Set(ids);
  if (gone.size === 0 || !doc.tasks.some((task) => gone.has(task.id))) return doc;
  const tasks = doc.tasks
    .filter((task) => !gone.has(task.id))
    .map((task) => dropReferences(task, (source) => gone.has(source)));
  return { ...doc, tasks };
}

function dropReferences(task: WorkflowTask, drop: (source: string) => boolean): WorkflowTask {
  let next = task;
  if (task.inputs && Object.values(task.inputs).some((input) => isBinding(input) && drop(input.from))) {
    const inputs = Object.fromEntries(
      Object.entries(task.inputs).filter(([, input]) => !(isBinding(input) && drop(input.from))),
    );
    next = { ...next, inputs };
  }
  if (task.depends_on?.some(drop)) {
    next = withDependsOn(
      next,
      task.depends_on.filter((source) => !drop(source)),
    );
  }
  return next;
}

function withDependsOn(task: WorkflowTask, dependsOn: string[]): WorkflowTask {
  const { depends_on: _dropped, ...rest } = task;
  return dependsOn.length === 0 ? rest : { ...rest, depends_on: dependsOn };
}

/** The direct upstream task ids of a task: its bindings' sources and its depends_on. */
export function directUpstream(task: WorkflowTask): Set<string> {
  const found = new Set<string>(task.depends_on ?? []);
  for (const input of Object.values(task.inputs ?? {})) if (isBinding(input)) found.add(input.from);
  return found;
}

/** Every task the given one (transitively) depends on. */
export function ancestors(doc: WorkflowDoc, id: string): Set<string> {
  const byId = new Map(doc.tasks.map((task) => [task.id, task]));
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length) {
    const task = byId.get(stack.pop()!);
    if (!task) continue;
    for (const up of directUpstream(task)) {
      if (!seen.has(up)) {
        seen.add(up);
        stack.push(up);
      }
    }
  }
  seen.delete(id);
  return seen;
}

export interface DocEdge {
  source: string;
  target: string;
  /** The target's inputs bound to the source's outputs. */
  inputs: string[];
  /** Whether the target also lists the source in depends_on. */
  explicit: boolean;
}

/** One edge per (upstream, downstream) pair, whether from bindings or depends_on. */
export function documentEdges(doc: WorkflowDoc): DocEdge[] {
  const edges: DocEdge[] = [];
  for (const task of doc.tasks) {
    const pairs = new Map<string, DocEdge>();
    const edgeFrom = (source: string) => {
      let edge = pairs.get(source);
      if (!edge) {
        edge = { source, target: task.id, inputs: [], explicit: false };
        pairs.set(source, edge);
        edges.push(edge);
      }
      return edge;
    };
    for (const [name, input] of Object.entries(task.inputs ?? {})) {
      if (isBinding(input)) edgeFrom(input.from).inputs.push(name);
    }
    for (const source of task.depends_on ?? []) edgeFrom(source).explicit = true;
  }
  return edges;
}

/** An explicit dependency source -> target; unchanged if it exists, is a loop or makes a cycle. */
export function connect(doc: WorkflowDoc, source: string, target: string): WorkflowDoc {
  const task = findTask(doc, target);
  if (!task || source === target || !findTask(doc, source)) return doc;
  if (directUpstream(task).has(source)) return doc;
  if (ancestors(doc, source).has(target)) return doc;
  return mapTask(doc, target, (t) => withDependsOn(t, [...(t.depends_on ?? []), source]));
}

/** Removes every binding and depends_on from source in target. */
export function disconnect(doc: WorkflowDoc, source: string, target: string): WorkflowDoc {
  return mapTask(doc, target, (task) => dropReferences(task, (from) => from === source));
}

/**
 * Sets (or with undefined clears) an input. Binding an input to an upstream task makes an
 * explicit depends_on on it redundant, so it goes; unbinding the last input from a task keeps
 * the edge as an explicit dependency, so the graph does not change under the user's eyes.
 */
export function setInput(doc: WorkflowDoc, taskId: string, name: string, input: TaskInput | undefined): WorkflowDoc {
  return mapTask(doc, taskId, (task) => {
    const before = task.inputs?.[name];
    if (JSON.stringify(before) === JSON.stringify(input)) return task;
    const inputs = { ...(task.inputs ?? {}) };
    if (input === undefined) delete inputs[name];
    else inputs[name] = input;
    let next: WorkflowTask = { ...task, inputs };
    if (isBinding(input) && next.depends_on?.includes(input.from)) {
      next = withDependsOn(
        next,
        next.depends_on.filter((source) => source !== input.from),
      );
    }
    if (isBinding(before) && !(isBinding(input) && input.from === before.from)) {
      const stillBound = Object.values(inputs).some((i) => isBinding(i) && i.from === before.from);
      if (!stillBound && !next.depends_on?.includes(before.from)) {
        next = withDependsOn(next, [...(next.depends_on ?? []), before.from]);
      }
    }
    return next;
  });
}

/** Shallow changes of a task's settings; a key set to undefined is removed. */
export function updateTask(
  doc: WorkflowDoc,
  taskId: string,
  patch: Partial<Omit<WorkflowTask, "id" | "operator" | "inputs">>,
): WorkflowDoc {
  return mapTask(doc, taskId, (task) => withPatch(task, patch));
}

export function updateWorkflow(doc: WorkflowDoc, patch: Partial<Omit<WorkflowDoc, "tasks">>): WorkflowDoc {
  return withPatch(doc, patch);
}

function withPatch<T extends object>(target: T, patch: object): T {
  const next = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key as keyof T];
    else next[key as keyof T] = value as T[keyof T];
  }
  return next;
}

/** Renames a task and every reference to it; unchanged if the new id is taken or invalid. */
export function renameTask(doc: WorkflowDoc, from: string, to: string): WorkflowDoc {
  if (from === to || !TASK_ID_PATTERN.test(to) || findTask(doc, to) || !findTask(doc, from)) return doc;
  return { ...doc, tasks: doc.tasks.map((task) => renameReferences(task, { [from]: to })) };
}

function renameReferences(task: WorkflowTask, ids: Record<string, string>): WorkflowTask {
  const rename = (id: string) => (Object.hasOwn(ids, id) ? ids[id] : id);
  let next = task;
  if (Object.hasOwn(ids, task.id)) next = { ...next, id: ids[task.id] };
  if (task.inputs && Object.values(task.inputs).some((i) => isBinding(i) && Object.hasOwn(ids, i.from))) {
    const inputs = Object.fromEntries(
      Object.entries(task.inputs).map(([name, input]) => [
        name,
        isBinding(input) ? { ...input, from: rename(input.from) } : input,
      ]),
    );
    next = { ...next, inputs };
  }
  if (task.depends_on?.some((id) => Object.hasOwn(ids, id))) {
    next = { ...next, depends_on: task.depends_on.map(rename) };
  }
  return next;
}

export function moveTasks(doc: WorkflowDoc, positions: Record<string, { x: number; y: number }>): WorkflowDoc {
  if (Object.keys(positions).length === 0) return doc;
  let changed = false;
  const tasks = doc.tasks.map((task) => {
    const at = positions[task.id];
    if (!at) return task;
    const x = Math.round(at.x);
    const y = Math.round(at.y);
    if (task.ui?.x === x && task.ui?.y === y) return task;
    changed = true;
    return { ...task, ui: { ...(task.ui ?? {}), x, y } };
  });
  return changed ? { ...doc, tasks } : doc;
}

/** Deep copies of the given tasks, for the clipboard. */
export function copyTasks(doc: WorkflowDoc, ids: Iterable<string>): WorkflowTask[] {
  const wanted = new Set(ids);
  return doc.tasks.filter((task) => wanted.has(task.id)).map((task) => structuredClone(task));
}

/**
 * Pastes copies of tasks with new unique ids, moved by `offset`. References among the pasted
 * tasks point to the copies; references to tasks of the document stay; others are dropped.
 */
export function pasteTasks(
  doc: WorkflowDoc,
  clipboard: WorkflowTask[],
  offset = { x: 40, y: 40 },
): { doc: WorkflowDoc; ids: string[] } {
  const taken = taskIds(doc);
  const existing = new Set(taken);
  const renamed: Record<string, string> = {};
  for (const task of clipboard) {
    const id = uniqueTaskId(task.id, taken);
    taken.add(id);
    renamed[task.id] = id;
  }
  const pasted = clipboard.map((original) => {
    let task = renameReferences(structuredClone(original), renamed);
    const ids = new Set(Object.values(renamed));
    task = dropReferences(task, (source) => !ids.has(source) && !existing.has(source));
    const ui = task.ui ?? {};
    return { ...task, ui: { ...ui, x: (ui.x ?? 0) + offset.x, y: (ui.y ?? 0) + offset.y } };
  });
  return { doc: { ...doc, tasks: [...doc.tasks, ...pasted] }, ids: pasted.map((task) => task.id) };
}

// --- history ---------------------------------------------------------------------------------

export interface History {
  past: WorkflowDoc[];
  present: WorkflowDoc;
  future: WorkflowDoc[];
}

export const HISTORY_LIMIT = 200;

export function startHistory(doc: WorkflowDoc): History {
  return { past: [], present: doc, future: [] };
}

/** A new present; the old one goes to the undo stack and the redo stack is emptied. */
export function record(history: History, next: WorkflowDoc): History {
  if (next === history.present) return history;
  return {
    past: [...history.past, history.present].slice(-HISTORY_LIMIT),
    present: next,
    future: [],
  };
}

/** Replaces the present without an undo step (e.g. while a node is being dragged). */
export function amend(history: History, next: WorkflowDoc): History {
  return next === history.present ? history : { ...history, present: next };
}

export function undo(history: History): History {
  if (history.past.length === 0) return history;
  return {
    past: history.past.slice(0, -1),
    present: history.past[history.past.length - 1],
    future: [history.present, ...history.future],
  };
}

export function redo(history: History): History {
  if (history.future.length === 0) return history;
  return {
    past: [...history.past, history.present],
    present: history.future[0],
    future: history.future.slice(1),
  };
}
