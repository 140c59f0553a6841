// Documents for tests and benchmarks.
import type { WorkflowDoc, WorkflowTask } from "./types";

/**
 * A workflow of `n` tasks in a chain (t0 -> t1 -> ...), each with literal inputs and its
 * position in `ui`, for the editor's tests and the GUI benchmark (a 300-task workflow).
 */
export function buildLargeWorkflow(
  n: number,
  operator = { repository: "bench", name: "StepOperator", version: "1.0.0" },
): WorkflowDoc {
  const tasks: WorkflowTask[] = [];
  for (let i = 0; i < n; i++) {
    tasks.push({
      id: `t${i}`,
      operator: { ...operator },
      inputs: { index: { value: i }, label: { value: `step ${i}` }, enabled: { value: true } },
      ...(i > 0 ? { depends_on: [`t${i - 1}`] } : {}),
      ui: { x: (i % 10) * 220, y: Math.floor(i / 10) * 120 },
    });
  }
  return {
    schema_version: 1,
    name: `Large workflow (${n} tasks)`,
    description: "A chain of tasks with literal inputs.",
    tags: ["benchmark"],
    schedule: { type: "none" },
    parameters: { type: "object", properties: {} },
    tasks,
  };
}
