// The editor's toolbar: history, layout, import/export, versions, validate, save, run.
import { ActionIcon, Badge, Button, FileButton, Group, Menu, Text, Tooltip } from "@mantine/core";
import { useReactFlow } from "@xyflow/react";
import { Link } from "react-router-dom";

import { exportDocument, parseDocument } from "./actions";
import { ShortcutsHelp } from "./ShortcutsHelp";
import { useDoc, useEditor } from "./store";

interface Props {
  workspaceId: number;
  saving: boolean;
  onSave(): void;
  onValidate(): void;
  onRun(): void;
  onVersions(): void;
  helpOpened: boolean;
  onHelp(opened: boolean): void;
}

export function Toolbar({ workspaceId, saving, onSave, onValidate, onRun, onVersions, helpOpened, onHelp }: Props) {
  const doc = useDoc();
  const dirty = useEditor((s) => s.history.present !== s.savedDoc);
  const isNew = useEditor((s) => s.workflowId === null);
  const canUndo = useEditor((s) => s.history.past.length > 0);
  const canRedo = useEditor((s) => s.history.future.length > 0);
  const { undo, redo, autoLayout, edit, setNotice } = useEditor.getState();
  const { fitView } = useReactFlow();

  const importFile = async (file: File | null) => {
    if (!file) return;
    const parsed = parseDocument(await file.text());
    if ("error" in parsed) {
      setNotice({ kind: "error", text: `Could not import ${file.name}: ${parsed.error}.` });
      return;
    }
    edit(() => parsed.doc);
    autoLayoutIfNeeded();
    setNotice({ kind: "success", text: `Imported ${file.name}: save to keep it (Ctrl+Z undoes the import).` });
    setTimeout(() => void fitView({ duration: 300 }), 50);
  };

  return (
    <Group gap={6} px="sm" py={6} wrap="nowrap" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }}>
      <Button
        component={Link}
        to={`/w/${workspaceId}/workflows`}
        variant="subtle"
        size="xs"
        aria-label="Back to the workflows"
      >
        ← Workflows
      </Button>
      <Text fw={700} truncate maw={260} data-testid="editor-title">
        {doc.name || "Untitled workflow"}
      </Text>
      {(dirty || isNew) && (
        <Badge color="yellow" variant="light" size="sm" data-testid="unsaved-badge">
          {isNew ? "not saved yet" : "unsaved changes"}
        </Badge>
      )}
      <Group gap={4} ml="auto" wrap="nowrap">
        <Tooltip label="Undo (Ctrl+Z)">
          <ActionIcon
            variant="default"
            size="lg"
            aria-label="Undo"
            onClick={undo}
            disabled={!canUndo}
            data-testid="undo-button"
          >
            ↶
          </ActionIcon>
        </Tooltip>
        <Tooltip label="Redo (Ctrl+Shift+Z)">
          <ActionIcon
            variant="default"
            size="lg"
            aria-label="Redo"
            onClick={redo}
            disabled={!canRedo}
            data-testid="redo-button"
          >
            ↷
          </ActionIcon>
        </Tooltip>
        <Menu>
          <Menu.Target>
            <Button variant="default" size="xs" data-testid="layout-button">
              Auto-layout
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            <Menu.Item onClick={() => layout("TB")}>Top to bottom</Menu.Item>
            <Menu.Item onClick={() => layout("LR")}>Left to right</Menu.Item>
          </Menu.Dropdown>
        </Menu>
        <Button variant="default" size="xs" onClick={() => void fitView({ duration: 300 })} data-testid="fit-button">
          Fit
        </Button>
        <FileButton onChange={(file) => void importFile(file)} accept="application/json,.json">
          {(props) => (
            <Button {...props} variant="default" size="xs" data-testid="import-button">
              Import
            </Button>
          )}
        </FileButton>
        <Button variant="default" size="xs" onClick={() => exportDocument(doc)} data-testid="export-button">
          Export
        </Button>
        <Button variant="default" size="xs" onClick={onVersions} disabled={isNew} data-testid="versions-button">
          Versions
        </Button>
        <Button variant="light" size="xs" onClick={onValidate} data-testid="validate-button">
          Validate
        </Button>
        <Button size="xs" onClick={onSave} loading={saving} data-testid="save-button">
          Save
        </Button>
        <Button size="xs" color="green" onClick={onRun} disabled={doc.tasks.length === 0} data-testid="run-button">
          Run now
        </Button>
        <ShortcutsHelp opened={helpOpened} onChange={onHelp} />
      </Group>
    </Group>
  );

  function layout(direction: "TB" | "LR") {
    autoLayout(direction);
    setTimeout(() => void fitView({ duration: 300 }), 50);
  }
}

/** Lays the tasks out when some have no position (e.g. a document written by hand). */
export function autoLayoutIfNeeded() {
  const { history, autoLayout } = useEditor.getState();
  if (history.present.tasks.some((task) => typeof task.ui?.x !== "number" || typeof task.ui?.y !== "number")) {
    autoLayout();
  }
}
