// The editor's one store: the workflow document with its undo/redo history, the selection, the
// clipboard and the problems the server reported.
import { create } from "zustand";

import * as edits from "./document";
import { layoutPositions, type Direction } from "./layout";
import type { EditorProblem } from "./problems";
import type { OperatorRef, TaskInput, WorkflowDoc, WorkflowTask } from "./types";

/** Edits with the same key within this many ms make one undo step (typing in a field). */
const COALESCE_MS = 1000;

export interface EditorState {
  history: edits.History;
  workflowId: number | null;
  /** The document as last loaded or saved (to tell unsaved changes). */
  savedDoc: WorkflowDoc | null;
  selected: string[];
  selectedEdges: string[];
  clipboard: WorkflowTask[];
  problems: EditorProblem[];
  direction: Direction;
  /** An input waiting for a connection: connecting a task to its task binds it. */
  armedInput: { taskId: string; input: string } | null;
  lastEdit: { key: string; at: number } | null;
  dragBase: WorkflowDoc | null;
  /** What the last action did, or what went wrong and what to do next. */
  notice: Notice | null;

  load(doc: WorkflowDoc, workflowId: number | null): void;
  markSaved(workflowId: number, doc: WorkflowDoc): void;
  /** Puts another document (an older version) in the editor as one undo step. */
  replaceDocument(doc: WorkflowDoc, notice: Notice): void;
  /** Applies a pure edit as one undo step (or merged with the previous one of the same key). */
  edit(change: (doc: WorkflowDoc) => WorkflowDoc, coalesceKey?: string): void;
  addTask(operator: OperatorRef, position: { x: number; y: number }): string;
  setInput(taskId: string, name: string, input: TaskInput | undefined): void;
  connect(source: string, target: string): void;
  beginDrag(): void;
  dragTo(positions: Record<string, { x: number; y: number }>): void;
  endDrag(): void;
  undo(): void;
  redo(): void;
  select(ids: string[]): void;
  selectEdges(ids: string[]): void;
  copySelection(): void;
  paste(): void;
  deleteSelection(): void;
  autoLayout(direction?: Direction): void;
  setProblems(problems: EditorProblem[]): void;
  armInput(armed: { taskId: string; input: string } | null): void;
  setNotice(notice: Notice | null): void;
}

export interface Notice {
  kind: "success" | "error" | "info";
  text: string;
}

export const EDGE_SEPARATOR = "->";
export const edgeId = (source: string, target: string) => `${source}${EDGE_SEPARATOR}${target}`;

export const useEditor = create<EditorState>()((set, get) => ({
  history: edits.startHistory(edits.emptyDocument()),
  workflowId: null,
  savedDoc: null,
  selected: [],
  selectedEdges: [],
  clipboard: [],
  problems: [],
  direction: "TB",
  armedInput: null,
  lastEdit: null,
  dragBase: null,
  notice: null,

  load(doc, workflowId) {
    set({
      history: edits.startHistory(doc),
      workflowId,
      savedDoc: doc,
      selected: [],
      selectedEdges: [],
      problems: [],
      armedInput: null,
      lastEdit: null,
      dragBase: null,
      notice: null,
    });
  },

  markSaved(workflowId, doc) {
    set({ workflowId, savedDoc: doc });
  },

  replaceDocument(doc, notice) {
    get().edit(() => doc);
    set({ selected: [], selectedEdges: [], problems: [], armedInput: null, notice });
  },

  edit(change, coalesceKey) {
    const { history, lastEdit } = get();
    const next = change(history.present);
    if (next === history.present) return;
    const now = Date.now();
    const merge = coalesceKey !== undefined && lastEdit?.key === coalesceKey && now - lastEdit.at < COALESCE_MS;
    set({
      history: merge ? edits.amend(history, next) : edits.record(history, next),
      lastEdit: coalesceKey === undefined ? null : { key: coalesceKey, at: now },
    });
  },

  addTask(operator, position) {
    const { doc, id } = edits.addTask(get().history.present, operator, position);
    get().edit(() => doc);
    set({ selected: [id], selectedEdges: [] });
    return id;
  },

  setInput(taskId, name, input) {
    get().edit((doc) => edits.setInput(doc, taskId, name, input), `input:${taskId}:${name}`);
    set((state) => ({
      problems: state.problems.filter((p) => !(p.target.taskId === taskId && p.target.input === name)),
    }));
  },

  connect(source, target) {
    get().edit((doc) => edits.connect(doc, source, target));
  },

  beginDrag() {
    set({ dragBase: get().history.present, lastEdit: null });
  },

  dragTo(positions) {
    set({ history: edits.amend(get().history, edits.moveTasks(get().history.present, positions)) });
  },

  endDrag() {
    const { dragBase, history } = get();
    set({ dragBase: null });
    if (dragBase && dragBase !== history.present) {
      set({ history: edits.record({ ...history, present: dragBase }, history.present) });
    }
  },

  undo() {
    set({ history: edits.undo(get().history), lastEdit: null });
    keepSelectionValid();
  },

  redo() {
    set({ history: edits.redo(get().history), lastEdit: null });
    keepSelectionValid();
  },

  select(ids) {
    const current = get().selected;
    if (current.length === ids.length && current.every((id, i) => id === ids[i])) return;
    set({ selected: ids });
  },

  selectEdges(ids) {
    set({ selectedEdges: ids });
  },

  copySelection() {
    const { selected, history } = get();
    if (selected.length) set({ clipboard: edits.copyTasks(history.present, selected) });
  },

  paste() {
    const { clipboard } = get();
    if (!clipboard.length) return;
    const { doc, ids } = edits.pasteTasks(get().history.present, clipboard);
    get().edit(() => doc);
    // Pasting again offsets the next copies further.
    set({
      selected: ids,
      selectedEdges: [],
      clipboard: clipboard.map((task) => ({
        ...task,
        ui: { ...task.ui, x: (task.ui?.x ?? 0) + 40, y: (task.ui?.y ?? 0) + 40 },
      })),
    });
  },

  deleteSelection() {
    const { selected, selectedEdges } = get();
    get().edit((doc) => {
      let next = edits.removeTasks(doc, selected);
      for (const id of selectedEdges) {
        const [source, target] = id.split(EDGE_SEPARATOR);
        next = edits.disconnect(next, source, target);
      }
      return next;
    });
    set({ selected: [], selectedEdges: [] });
  },

  autoLayout(direction) {
    const chosen = direction ?? get().direction;
    set({ direction: chosen });
    get().edit((doc) => edits.moveTasks(doc, layoutPositions(doc, chosen)));
  },

  setProblems(problems) {
    set({ problems });
  },

  armInput(armed) {
    set({ armedInput: armed });
  },

  setNotice(notice) {
    set({ notice });
  },
}));

function keepSelectionValid() {
  const { history, selected } = useEditor.getState();
  const ids = new Set(history.present.tasks.map((task) => task.id));
  if (selected.some((id) => !ids.has(id))) useEditor.setState({ selected: selected.filter((id) => ids.has(id)) });
}

/** The document being edited. */
export const useDoc = () => useEditor((state) => state.history.present);
