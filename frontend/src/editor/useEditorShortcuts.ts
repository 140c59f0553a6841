// The editor's keyboard shortcuts (Delete and multi-select are xyflow's own).
import { useReactFlow } from "@xyflow/react";
import { useEffect, useRef } from "react";

import { useEditor } from "./store";

function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function useEditorShortcuts(handlers: { onSave(): void; onHelp(): void }) {
  const { fitView } = useReactFlow();
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const store = useEditor.getState();
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "s") {
        event.preventDefault();
        latest.current.onSave();
        return;
      }
      // In a text field the browser's own undo, copy and paste apply.
      if (typingIn(event.target)) return;
      if (mod && key === "z") {
        event.preventDefault();
        if (event.shiftKey) store.redo();
        else store.undo();
      } else if (mod && key === "y") {
        event.preventDefault();
        store.redo();
      } else if (mod && key === "c") {
        store.copySelection();
      } else if (mod && key === "v") {
        event.preventDefault();
        store.paste();
      } else if (mod && key === "a") {
        event.preventDefault();
        store.select(store.history.present.tasks.map((task) => task.id));
      } else if (!mod && !event.altKey && key === "l") {
        store.autoLayout();
        setTimeout(() => void fitView({ duration: 300 }), 50);
      } else if (!mod && !event.altKey && key === "f") {
        void fitView({ duration: 300 });
      } else if (key === "escape") {
        store.select([]);
        store.selectEdges([]);
      } else if (event.key === "?") {
        latest.current.onHelp();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [fitView]);
}
