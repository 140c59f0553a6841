import mlExample from "../../../examples/workflows/ml_classification.json";
import {
  addTask,
  ancestors,
  connect,
  copyTasks,
  disconnect,
  documentEdges,
  emptyDocument,
  moveTasks,
  pasteTasks,
  record,
  redo,
  removeTasks,
  renameTask,
  setInput,
  startHistory,
  taskIdBase,
  undo,
  uniqueTaskId,
} from "./document";
import { buildLargeWorkflow } from "./fixtures";
import type { WorkflowDoc } from "./types";

const ml = mlExample as unknown as WorkflowDoc;
const op = { repository: "r", name: "SplitDatasetOperator", version: "1" };

test("task ids come from the operator's name and are unique", () => {
  expect(taskIdBase("SplitDatasetOperator")).toBe("split_dataset");
  expect(taskIdBase("HTMLReport")).toBe("htmlreport");
  expect(uniqueTaskId("load", new Set(["load", "load_2"]))).toBe("load_3");
  let doc = emptyDocument();
  doc = addTask(doc, op, { x: 10.4, y: 20 }).doc;
  const second = addTask(doc, op, { x: 0, y: 0 });
  expect(second.id).toBe("split_dataset_2");
  expect(second.doc.tasks[0].ui).toEqual({ x: 10, y: 20 });
});

test("removing a task removes the bindings and depends_on pointing to it", () => {
  const doc = removeTasks(ml, ["split"]);
  expect(doc.tasks.map((t) => t.id)).toEqual(["load", "train", "evaluate", "report"]);
  const train = doc.tasks.find((t) => t.id === "train")!;
  expect(Object.keys(train.inputs!)).toEqual(["model_type", "hyperparameters"]);
  const evaluate = doc.tasks.find((t) => t.id === "evaluate")!;
  expect(evaluate.inputs).toEqual({ model_path: { from: "train", output: "model_path" } });
  const chain = removeTasks(buildLargeWorkflow(3), ["t1"]);
  expect(chain.tasks[1]).not.toHaveProperty("depends_on");
  expect(ml.tasks).toHaveLength(5); // not mutated
});

test("connect adds an explicit dependency but never a duplicate or a cycle", () => {
  const doc = connect(ml, "load", "report");
  expect(doc.tasks[4].depends_on).toEqual(["load"]);
  expect(connect(doc, "load", "report")).toBe(doc);
  expect(connect(ml, "load", "split")).toBe(ml); // already bound
  expect(connect(ml, "report", "load")).toBe(ml); // would be a cycle
  expect(connect(ml, "load", "load")).toBe(ml);
  expect(disconnect(doc, "load", "report").tasks[4]).not.toHaveProperty("depends_on");
});

test("edges are bindings and explicit dependencies, one per task pair", () => {
  const edges = documentEdges(connect(ml, "load", "report"));
  expect(edges).toContainEqual({
    source: "split",
    target: "train",
    inputs: ["train_path", "target_column"],
    explicit: false,
  });
  expect(edges).toContainEqual({ source: "load", target: "report", inputs: [], explicit: true });
  expect(edges).toHaveLength(6);
  expect([...ancestors(ml, "evaluate")].sort()).toEqual(["load", "split", "train"]);
});

test("binding an input replaces the explicit dependency; unbinding keeps the edge", () => {
  let doc = connect(ml, "load", "report");
  doc = setInput(doc, "report", "title", { from: "load", output: "path" });
  expect(doc.tasks[4]).not.toHaveProperty("depends_on");
  doc = setInput(doc, "report", "title", { value: "Report" });
  expect(doc.tasks[4].depends_on).toEqual(["load"]);
  expect(doc.tasks[4].inputs!.title).toEqual({ value: "Report" });
  expect(setInput(doc, "report", "title", { value: "Report" })).toBe(doc);
  expect(setInput(doc, "report", "title", undefined).tasks[4].inputs).not.toHaveProperty("title");
});

test("renaming a task renames every reference to it", () => {
  const doc = renameTask(ml, "split", "split_data");
  expect(doc.tasks[1].id).toBe("split_data");
  expect(doc.tasks[2].inputs!.train_path).toEqual({ from: "split_data", output: "train_path" });
  expect(renameTask(ml, "split", "load")).toBe(ml); // taken
  expect(renameTask(ml, "split", "9bad")).toBe(ml); // invalid
});

test("copy and paste duplicate tasks with new unique ids and inner references remapped", () => {
  const clipboard = copyTasks(ml, ["split", "train"]);
  const { doc, ids } = pasteTasks(ml, clipboard);
  expect(ids).toEqual(["split_2", "train_2"]);
  const [split2, train2] = doc.tasks.slice(5);
  expect(split2.inputs!.path).toEqual({ from: "load", output: "path" }); // outside: kept
  expect(train2.inputs!.train_path).toEqual({ from: "split_2", output: "train_path" }); // inside: remapped
  expect(train2.ui).toEqual({ x: 40, y: 40 });
  expect(new Set(doc.tasks.map((t) => t.id)).size).toBe(doc.tasks.length);
  // References to tasks that are gone since the copy are dropped.
  const again = pasteTasks(removeTasks(ml, ["load"]), clipboard);
  expect(again.doc.tasks.at(-2)!.inputs).not.toHaveProperty("path");
});

test("undo and redo walk the history; a new edit clears the redo stack", () => {
  const a = emptyDocument("a");
  const b = addTask(a, op, { x: 0, y: 0 }).doc;
  const c = moveTasks(b, { split_dataset: { x: 5, y: 5 } });
  let history = record(record(startHistory(a), b), c);
  history = undo(history);
  expect(history.present).toBe(b);
  history = undo(history);
  expect(history.present).toBe(a);
  expect(undo(history)).toBe(history);
  history = redo(history);
  expect(history.present).toBe(b);
  history = record(history, emptyDocument("d"));
  expect(history.future).toEqual([]);
  expect(redo(history)).toBe(history);
  expect(record(history, history.present)).toBe(history);
});

test("a task names its operator by repository, name and version only", () => {
  const summary = { ...op, id: 3, description: "d", tags: [] };
  expect(addTask(emptyDocument(), summary, { x: 0, y: 0 }).doc.tasks[0].operator).toEqual(op);
});
