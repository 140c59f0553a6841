import mlExample from "../../../examples/workflows/ml_classification.json";
import { decodePointer, locateProblem, problemCounts, problemsFromApiError, problemsFromValidation } from "./problems";
import type { WorkflowDoc } from "./types";

const ml = mlExample as unknown as WorkflowDoc;

test("a save error's pointer maps to the task (index -> id) and its input", () => {
  expect(locateProblem("/body/document/tasks/1/inputs/test_size/param", ml)).toMatchObject({
    taskIndex: 1,
    taskId: "split",
    input: "test_size",
    field: "inputs",
  });
  expect(locateProblem("/body/document/tasks/2/retries", ml)).toMatchObject({
    taskId: "train",
    field: "retries",
    input: null,
  });
  expect(locateProblem("/body/document/name", ml)).toMatchObject({ taskId: null, field: "name" });
  expect(locateProblem("/body/parameters/dataset", ml)).toMatchObject({ taskId: null, field: null });
});

test("validation and deploy pointers have no /body prefix", () => {
  expect(locateProblem("/tasks/4/inputs/metrics/value/0", ml)).toMatchObject({ taskId: "report", input: "metrics" });
  expect(locateProblem("/document/tasks/0/operator/name", ml)).toMatchObject({ taskId: "load", field: "operator" });
  expect(locateProblem("/schedule/expression", ml)).toMatchObject({
    field: "schedule",
    path: ["schedule", "expression"],
  });
  expect(locateProblem("/tasks/99/id", ml)).toMatchObject({ taskIndex: 99, taskId: null });
  expect(locateProblem("/tasks", ml)).toMatchObject({ field: "tasks", taskIndex: null });
});

test("escaped pointer segments are decoded", () => {
  expect(decodePointer("/tasks/0/inputs/a~1b~0c")).toEqual(["tasks", "0", "inputs", "a/b~c"]);
  expect(locateProblem("/tasks/0/inputs/a~1b", ml).input).toBe("a/b");
});

test("problems of a validation result and of an API error, counted per task", () => {
  const fromValidation = problemsFromValidation(
    [
      { pointer: "/tasks/1/inputs/path/from", message: "no task" },
      { pointer: "/tasks/1/id", message: "bad id" },
      { pointer: "/name", message: "empty" },
    ],
    ml,
  );
  expect(problemCounts(fromValidation)).toEqual(new Map([["split", 2]]));
  const fromError = problemsFromApiError(
    {
      status: 422,
      code: "invalid",
      message: "the workflow document is invalid",
      details: [{ where: "/body/document/tasks/0/inputs/dataset", message: "x" }],
    },
    ml,
  );
  expect(fromError[0]).toMatchObject({
    pointer: "/tasks/0/inputs/dataset",
    target: { taskId: "load", input: "dataset" },
  });
  const plain = problemsFromApiError({ status: 409, code: "conflict", message: "paused", details: [] }, ml);
  expect(plain).toEqual([{ pointer: "", message: "paused", target: expect.objectContaining({ taskId: null }) }]);
});
