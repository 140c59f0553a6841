// The canvas: tasks as nodes, bindings and depends_on as edges; drag, connect, select, delete.
import {
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type OnDelete,
} from "@xyflow/react";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo, useRef, useState, type DragEvent } from "react";

import { compatibleOutputs } from "./compatibility";
import { ancestors, disconnect, documentEdges, findTask, removeTasks } from "./document";
import { operatorStyle, type OperatorDetail, type OperatorSummary } from "./operators";
import { OPERATOR_MIME } from "./PaletteItem";
import { problemCounts } from "./problems";
import { operatorDetailQuery, useOperatorIndex } from "./queries";
import { EDGE_SEPARATOR, edgeId, useDoc, useEditor } from "./store";
import { TaskNode, type TaskFlowNode } from "./TaskNode";
import { operatorKey, type JsonSchema } from "./types";

const nodeTypes = { task: TaskNode };
const UNKNOWN_LOOK_BG = "#fff5f5";

interface Props {
  workspaceId: number;
}

export function Canvas({ workspaceId }: Props) {
  const doc = useDoc();
  const selected = useEditor((s) => s.selected);
  const selectedEdges = useEditor((s) => s.selectedEdges);
  const problems = useEditor((s) => s.problems);
  const direction = useEditor((s) => s.direction);
  const index = useOperatorIndex(workspaceId);
  const queryClient = useQueryClient();
  const { screenToFlowPosition } = useReactFlow();
  // Fit the view on opening a workflow, not when the first task lands on an empty canvas.
  const [fitOnOpen] = useState(() => doc.tasks.length > 0);

  // Sizes measured by xyflow, kept on our node objects (it reads them there).
  const measured = useRef(new Map<string, { width: number; height: number }>());
  const [measureVersion, setMeasureVersion] = useState(0);
  const nodeCache = useRef(new Map<string, { key: unknown[]; node: TaskFlowNode }>());
  const edgeCache = useRef(new Map<string, { key: string; edge: Edge }>());

  const counts = useMemo(() => problemCounts(problems), [problems]);
  const nodes = useMemo(() => {
    const selectedSet = new Set(selected);
    const cache = nodeCache.current;
    const next = new Map<string, { key: unknown[]; node: TaskFlowNode }>();
    const list = doc.tasks.map((task, i) => {
      const summary = index.get(operatorKey(task.operator));
      const size = measured.current.get(task.id);
      const key = [task, summary, selectedSet.has(task.id), counts.get(task.id) ?? 0, direction, size];
      const cached = cache.get(task.id);
      if (cached && cached.key.every((part, j) => part === key[j])) {
        next.set(task.id, cached);
        return cached.node;
      }
      const look = summary
        ? operatorStyle(summary)
        : { label: task.operator.name, background: UNKNOWN_LOOK_BG, color: "#862e2e", icon: "?", iconClass: null };
      const node: TaskFlowNode = {
        id: task.id,
        type: "task",
        position: { x: task.ui?.x ?? (i % 6) * 240, y: task.ui?.y ?? Math.floor(i / 6) * 120 },
        data: {
          taskId: task.id,
          look,
          problems: counts.get(task.id) ?? 0,
          direction,
          known: !!summary || index.size === 0,
          operatorName: task.operator.name,
        },
        selected: selectedSet.has(task.id),
        ...(size ? { measured: size } : {}),
      };
      next.set(task.id, { key, node });
      return node;
    });
    nodeCache.current = next;
    return list;
    // measureVersion: rebuild when xyflow measured nodes
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc.tasks, selected, counts, direction, index, measureVersion]);

  const edges = useMemo(() => {
    const selectedSet = new Set(selectedEdges);
    const cache = edgeCache.current;
    const next = new Map<string, { key: string; edge: Edge }>();
    const list = documentEdges(doc).map((e) => {
      const id = edgeId(e.source, e.target);
      const label = e.inputs.join(", ");
      const isSelected = selectedSet.has(id);
      const key = `${label}|${e.explicit}|${isSelected}`;
      const cached = cache.get(id);
      if (cached && cached.key === key) {
        next.set(id, cached);
        return cached.edge;
      }
      const edge: Edge = {
        id,
        source: e.source,
        target: e.target,
        label: label || undefined,
        selected: isSelected,
        markerEnd: { type: MarkerType.ArrowClosed },
        style: e.inputs.length === 0 ? { strokeDasharray: "6 4" } : undefined,
        ariaLabel: `${e.source} to ${e.target}${label ? `: ${label}` : " (dependency)"}`,
      };
      next.set(id, { key, edge });
      return edge;
    });
    edgeCache.current = next;
    return list;
  }, [doc, selectedEdges]);

  const onNodesChange = useCallback((changes: NodeChange<TaskFlowNode>[]) => {
    const store = useEditor.getState();
    let selection: Set<string> | null = null;
    const positions: Record<string, { x: number; y: number }> = {};
    let remeasured = false;
    for (const change of changes) {
      if (change.type === "select") {
        selection ??= new Set(store.selected);
        if (change.selected) selection.add(change.id);
        else selection.delete(change.id);
      } else if (change.type === "position" && change.position) {
        positions[change.id] = change.position;
      } else if (change.type === "dimensions" && change.dimensions) {
        measured.current.set(change.id, change.dimensions);
        remeasured = true;
      }
    }
    if (selection) store.select([...selection]);
    if (Object.keys(positions).length) store.dragTo(positions);
    if (remeasured) setMeasureVersion((v) => v + 1);
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const store = useEditor.getState();
    let selection: Set<string> | null = null;
    for (const change of changes) {
      if (change.type === "select") {
        selection ??= new Set(store.selectedEdges);
        if (change.selected) selection.add(change.id);
        else selection.delete(change.id);
      }
    }
    if (selection) store.selectEdges([...selection]);
  }, []);

  const onDelete: OnDelete = useCallback(({ nodes: gone, edges: cut }) => {
    const store = useEditor.getState();
    store.edit((current) => {
      let next = removeTasks(
        current,
        gone.map((n) => n.id),
      );
      for (const edge of cut) {
        const [source, target] = edge.id.split(EDGE_SEPARATOR);
        next = disconnect(next, source, target);
      }
      return next;
    });
    store.select([]);
    store.selectEdges([]);
  }, []);

  const detailOf = useCallback(
    async (operator: OperatorSummary | undefined): Promise<OperatorDetail | undefined> => {
      if (!operator) return undefined;
      try {
        return await queryClient.fetchQuery(operatorDetailQuery(workspaceId, operator.id));
      } catch {
        return undefined;
      }
    },
    [queryClient, workspaceId],
  );

  const onConnect = useCallback(
    async ({ source, target }: Connection) => {
      const store = useEditor.getState();
      const armed = store.armedInput;
      const current = store.history.present;
      if (armed && armed.taskId === target) {
        const sourceTask = findTask(current, source);
        const targetTask = findTask(current, target);
        const [sourceDetail, targetDetail] = await Promise.all([
          detailOf(sourceTask && index.get(operatorKey(sourceTask.operator))),
          detailOf(targetTask && index.get(operatorKey(targetTask.operator))),
        ]);
        const inputSchema = targetDetail?.input_schema as JsonSchema | undefined;
        const property = (inputSchema?.properties as Record<string, unknown> | undefined)?.[armed.input];
        const options = compatibleOutputs(property, inputSchema?.$defs as Record<string, unknown> | undefined, [
          { taskId: source, outputSchema: sourceDetail?.output_schema },
        ]);
        const best = options.find((o) => o.output === armed.input) ?? options[0];
        if (best) {
          store.setInput(target, armed.input, { from: source, output: best.output });
          store.armInput(null);
          return;
        }
      }
      store.connect(source, target);
    },
    [detailOf, index],
  );

  const isValidConnection = useCallback((connection: Connection | Edge) => {
    if (connection.source === connection.target) return false;
    return !ancestors(useEditor.getState().history.present, connection.source).has(connection.target);
  }, []);

  const onDragOver = useCallback((event: DragEvent) => {
    if (event.dataTransfer.types.includes(OPERATOR_MIME)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const key = event.dataTransfer.getData(OPERATOR_MIME);
      const operator = key ? index.get(key) : undefined;
      if (!operator) return;
      event.preventDefault();
      const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      useEditor.getState().addTask(operator, { x: at.x - 100, y: at.y - 32 });
    },
    [index, screenToFlowPosition],
  );

  return (
    <ReactFlow<TaskFlowNode, Edge>
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onEdgesChange={onEdgesChange}
      onDelete={onDelete}
      onConnect={onConnect}
      isValidConnection={isValidConnection}
      onNodeDragStart={() => useEditor.getState().beginDrag()}
      onNodeDragStop={() => useEditor.getState().endDrag()}
      onSelectionDragStart={() => useEditor.getState().beginDrag()}
      onSelectionDragStop={() => useEditor.getState().endDrag()}
      onPaneClick={() => {
        useEditor.getState().select([]);
        useEditor.getState().selectEdges([]);
      }}
      onDragOver={onDragOver}
      onDrop={onDrop}
      deleteKeyCode={["Delete", "Backspace"]}
      multiSelectionKeyCode={["Control", "Meta", "Shift"]}
      selectionKeyCode="Shift"
      fitView={fitOnOpen}
      fitViewOptions={{ maxZoom: 1 }}
      minZoom={0.05}
      onlyRenderVisibleElements={doc.tasks.length > 150}
      aria-label="Workflow canvas"
      data-testid="canvas"
    >
      <Background />
      <Controls aria-label="Zoom and fit" />
      <MiniMap
        pannable
        zoomable
        ariaLabel="Mini map"
        nodeColor={(node) => (node as TaskFlowNode).data.look.background}
      />
    </ReactFlow>
  );
}
