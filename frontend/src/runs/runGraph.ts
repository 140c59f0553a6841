// The run's graph: one node per task of the workflow document, an edge per binding and
// depends_on, laid out left to right with dagre.
import { Graph, layout } from "@dagrejs/dagre";
import type { Edge, Node } from "@xyflow/react";

import type { Schemas } from "../api/client";

export type RunTask = Schemas["RunTask"];

/** What the monitor reads of a workflow document (it is plain JSON in the API's types). */
export interface DocumentTask {
  id: string;
  operator?: { repository?: string; name?: string; version?: string };
  inputs?: Record<string, unknown>;
  depends_on?: string[];
}

export interface RunTaskNodeData extends Record<string, unknown> {
  taskId: string;
  operator: string;
  task: RunTask | undefined;
}

export type RunTaskNode = Node<RunTaskNodeData, "runTask">;

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 64;

/** The tasks of a workflow document, skipping anything that is not a task with an id. */
export function documentTasks(document: unknown): DocumentTask[] {
  const tasks = (document as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return [];
  return tasks.filter(
    (task): task is DocumentTask => typeof task === "object" && task !== null && typeof task.id === "string",
  );
}

/** Upstream task ids of a task: the tasks its inputs are bound to, and its depends_on. */
export function upstreamOf(task: DocumentTask): string[] {
  const upstream = new Set<string>();
  for (const input of Object.values(task.inputs ?? {})) {
    const from = (input as { from?: unknown } | null)?.from;
    if (typeof from === "string") upstream.add(from);
  }
  for (const id of task.depends_on ?? []) if (typeof id === "string") upstream.add(id);
  return [...upstream];
}

/** Nodes (with positions) and edges of the run's graph. Tasks the run has but the document
 * lacks (another version) are shown too, unconnected. */
export function buildRunGraph(document: unknown, runTasks: RunTask[]): { nodes: RunTaskNode[]; edges: Edge[] } {
  const tasks = documentTasks(document);
  const known = new Set(tasks.map((task) => task.id));
  for (const task of runTasks) if (!known.has(task.task_id)) tasks.push({ id: task.task_id });
  const states = new Map(runTasks.map((task) => [task.task_id, task]));
  const ids = new Set(tasks.map((task) => task.id));

  const edges: Edge[] = tasks.flatMap((task) =>
    upstreamOf(task)
      .filter((from) => ids.has(from))
      .map((from) => ({ id: `${from}->${task.id}`, source: from, target: task.id })),
  );

  const graph = new Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const task of tasks) graph.setNode(task.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of edges) graph.setEdge(edge.source, edge.target);
  layout(graph);

  const nodes: RunTaskNode[] = tasks.map((task) => {
    const placed = graph.node(task.id);
    return {
      id: task.id,
      type: "runTask",
      position: { x: placed.x - NODE_WIDTH / 2, y: placed.y - NODE_HEIGHT / 2 },
      data: { taskId: task.id, operator: task.operator?.name ?? "", task: states.get(task.id) },
      draggable: false,
      connectable: false,
      ariaLabel: `Task ${task.id}: ${states.get(task.id)?.state?.replaceAll("_", " ") ?? "not started"}`,
      ariaRole: "button",
    };
  });
  return { nodes, edges };
}
