// The run's graph, read-only: tasks coloured by state; a click opens the task.
import { Background, Controls, type NodeMouseHandler, ReactFlow, ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useEffect, useMemo } from "react";

import { buildRunGraph, type RunTask, type RunTaskNode } from "./runGraph";
import { RunTaskNodeView } from "./RunTaskNodeView";

const NODE_TYPES = { runTask: RunTaskNodeView };

interface Props {
  document: unknown;
  tasks: RunTask[];
  selectedTaskId: string | null;
  onSelectTask: (taskId: string) => void;
}

export function RunGraphView(props: Props) {
  return (
    <ReactFlowProvider>
      <RunGraphCanvas {...props} />
    </ReactFlowProvider>
  );
}

function RunGraphCanvas({ document, tasks, selectedTaskId, onSelectTask }: Props) {
  // Laid out once per set of tasks; the states change without moving anything.
  const taskIds = tasks.map((task) => task.task_id).join("\n");
  const layout = useMemo(
    () => buildRunGraph(document, taskIds ? taskIds.split("\n").map((task_id) => ({ task_id }) as RunTask) : []),
    [document, taskIds],
  );
  const byId = useMemo(() => new Map(tasks.map((task) => [task.task_id, task])), [tasks]);
  const nodes: RunTaskNode[] = layout.nodes.map((node) => {
    const task = byId.get(node.id);
    return {
      ...node,
      selected: node.id === selectedTaskId,
      ariaLabel: `Task ${node.id}: ${task?.state?.replaceAll("_", " ") ?? "not started"}`,
      data: { ...node.data, task },
    };
  });
  const edges = layout.edges.map((edge) => ({ ...edge, animated: byId.get(edge.target)?.state === "running" }));
  const onNodeClick: NodeMouseHandler<RunTaskNode> = (_, node) => onSelectTask(node.id);

  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={NODE_TYPES}
      onNodeClick={onNodeClick}
      nodesDraggable={false}
      nodesConnectable={false}
      edgesFocusable={false}
      deleteKeyCode={null}
      fitView
      minZoom={0.1}
      proOptions={{ hideAttribution: true }}
    >
      <FitOnChange count={layout.nodes.length} panelOpen={selectedTaskId !== null} />
      <Background />
      <Controls showInteractive={false} />
    </ReactFlow>
  );
}

/** Fits the view again when tasks appear (the document arrives after the run) and when the
 * task panel opens or closes (the canvas changes width). */
function FitOnChange({ count, panelOpen }: { count: number; panelOpen: boolean }) {
  const flow = useReactFlow();
  useEffect(() => {
    // After xyflow has seen the canvas's new size (its ResizeObserver runs after layout).
    const timer = setTimeout(() => void flow.fitView({ padding: 0.2, duration: 150 }), 80);
    return () => clearTimeout(timer);
  }, [count, panelOpen, flow]);
  return null;
}
