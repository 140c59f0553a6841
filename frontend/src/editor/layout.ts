// Auto-layout with dagre: top-to-bottom or left-to-right.
import dagre from "@dagrejs/dagre";

import { documentEdges, moveTasks } from "./document";
import type { WorkflowDoc } from "./types";

export type Direction = "TB" | "LR";

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 64;

/** New top-left positions of every task, by id. */
export function layoutPositions(doc: WorkflowDoc, direction: Direction): Record<string, { x: number; y: number }> {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: direction, nodesep: 40, ranksep: 70, marginx: 20, marginy: 20 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const task of doc.tasks) graph.setNode(task.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const ids = new Set(doc.tasks.map((task) => task.id));
  for (const edge of documentEdges(doc)) {
    if (ids.has(edge.source) && ids.has(edge.target)) graph.setEdge(edge.source, edge.target);
  }
  dagre.layout(graph);
  const positions: Record<string, { x: number; y: number }> = {};
  for (const task of doc.tasks) {
    const node = graph.node(task.id);
    positions[task.id] = { x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 };
  }
  return positions;
}

/** A document as loaded: tasks without a position are laid out (no undo step). */
export function prepareLoaded(raw: Record<string, unknown>): WorkflowDoc {
  const doc = { ...raw, tasks: Array.isArray(raw.tasks) ? raw.tasks : [] } as WorkflowDoc;
  const placed = doc.tasks.every((t) => typeof t.ui?.x === "number" && typeof t.ui?.y === "number");
  return placed ? doc : moveTasks(doc, layoutPositions(doc, "TB"));
}
