// The workflow editor: palette | canvas | side panel, under a toolbar.
import { Alert, Box, Button, Center, CloseButton, Group, Loader, Modal, Stack, Text } from "@mantine/core";
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useEffect, useRef, useState } from "react";
import { Link, useBlocker, useParams } from "react-router-dom";

import { useEditorActions } from "./actions";
import { Canvas } from "./Canvas";
import { emptyDocument } from "./document";
import { prepareLoaded } from "./layout";
import { operatorRefOf, type OperatorSummary } from "./operators";
import { Palette } from "./Palette";
import { ProblemsList } from "./ProblemsList";
import { useOperators, useWorkflow } from "./queries";
import { RunDialog } from "./RunDialog";
import { SidePanel } from "./SidePanel";
import { useEditor } from "./store";
import { Toolbar } from "./Toolbar";
import { VersionsDialog } from "./VersionsDialog";
import { useEditorShortcuts } from "./useEditorShortcuts";

export function EditorPage() {
  const params = useParams();
  const workspaceId = Number(params.workspaceId);
  const workflowId = params.workflowId ? Number(params.workflowId) : null;
  return (
    <ReactFlowProvider>
      <Editor workspaceId={workspaceId} workflowId={workflowId} />
    </ReactFlowProvider>
  );
}

function Editor({ workspaceId, workflowId }: { workspaceId: number; workflowId: number | null }) {
  const workflow = useWorkflow(workspaceId, workflowId);
  // Asked for together with the workflow, not once the editor has mounted: the palette and the
  // nodes' looks need it, and it is the slower answer of the two.
  useOperators(workspaceId);
  const [readyKey, setReadyKey] = useState<string | null>(null);
  const key = `${workspaceId}:${workflowId ?? "new"}`;

  useEffect(() => {
    if (readyKey === key) return;
    const store = useEditor.getState();
    if (workflowId === null) {
      store.load(emptyDocument(), null);
      setReadyKey(key);
    } else if (readyKey !== null && store.workflowId === workflowId) {
      setReadyKey(key); // a new workflow just saved: keep editing it, history included
    } else if (workflow.data) {
      store.load(prepareLoaded(workflow.data.document), workflowId);
      setReadyKey(key);
    }
  }, [key, readyKey, workflow.data, workflowId]);

  if (workflow.isError && readyKey !== key) {
    return (
      <Center h="60vh">
        <Alert color="red" title="Could not open the workflow" maw={480}>
          <Text size="sm">{workflow.error.message}.</Text>
          <Group mt="sm">
            <Button size="xs" onClick={() => workflow.refetch()}>
              Try again
            </Button>
            <Button size="xs" variant="default" component={Link} to={`/w/${workspaceId}/workflows`}>
              Back to the workflows
            </Button>
          </Group>
        </Alert>
      </Center>
    );
  }
  if (readyKey !== key) {
    return (
      <Center h="60vh">
        <Loader aria-label="Loading the workflow" />
      </Center>
    );
  }
  return <EditorScreen workspaceId={workspaceId} info={workflow.data} />;
}

function EditorScreen({ workspaceId, info }: { workspaceId: number; info: ReturnType<typeof useWorkflow>["data"] }) {
  const { save, validate, run } = useEditorActions(workspaceId);
  const [saving, setSaving] = useState(false);
  const [runOpened, setRunOpened] = useState(false);
  const [versionsOpened, setVersionsOpened] = useState(false);
  const [helpOpened, setHelpOpened] = useState(false);
  const workflowId = useEditor((s) => s.workflowId);
  const notice = useEditor((s) => s.notice);
  const setNotice = useEditor((s) => s.setNotice);
  const dirty = useEditor((s) => s.history.present !== s.savedDoc);
  const canvasBox = useRef<HTMLDivElement>(null);
  const { screenToFlowPosition } = useReactFlow();

  const doSave = async () => {
    setSaving(true);
    await save();
    setSaving(false);
  };
  useEditorShortcuts({ onSave: doSave, onHelp: () => setHelpOpened((o) => !o) });

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);
  // Leaving the editor inside the app asks first; read from the store at the moment of leaving
  // (a save that navigates has just marked the document saved).
  const leaving = useBlocker(({ currentLocation, nextLocation }) => {
    const { history, savedDoc } = useEditor.getState();
    return history.present !== savedDoc && currentLocation.pathname !== nextLocation.pathname;
  });

  const addAtCenter = (operator: OperatorSummary) => {
    const rect = canvasBox.current?.getBoundingClientRect();
    const count = useEditor.getState().history.present.tasks.length;
    const center = rect
      ? screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 })
      : { x: 0, y: 0 };
    useEditor.getState().addTask(operatorRefOf(operator), {
      x: center.x - 100 + (count % 5) * 24,
      y: center.y - 32 + (count % 5) * 24,
    });
  };

  return (
    <Stack gap={0} h="calc(100dvh - var(--app-shell-header-height, 0px))" style={{ overflow: "hidden" }}>
      <Toolbar
        workspaceId={workspaceId}
        saving={saving}
        onSave={() => void doSave()}
        onValidate={() => void validate()}
        onRun={() => setRunOpened(true)}
        onVersions={() => setVersionsOpened(true)}
        helpOpened={helpOpened}
        onHelp={setHelpOpened}
      />
      {notice && (
        <Alert
          color={notice.kind === "error" ? "red" : notice.kind === "success" ? "green" : "blue"}
          py={4}
          radius={0}
          data-testid="editor-notice"
          role={notice.kind === "error" ? "alert" : "status"}
        >
          <Group justify="space-between" wrap="nowrap">
            <Text size="sm">{notice.text}</Text>
            <CloseButton size="sm" aria-label="Dismiss" onClick={() => setNotice(null)} />
          </Group>
        </Alert>
      )}
      <Box style={{ flex: 1, display: "flex", minHeight: 0 }}>
        <Box w={270} style={{ flex: "none", borderRight: "1px solid var(--mantine-color-gray-3)", minHeight: 0 }}>
          <Palette workspaceId={workspaceId} onAdd={addAtCenter} />
        </Box>
        <Box style={{ flex: 1, display: "flex", flexDirection: "column", minWidth: 0 }}>
          <Box ref={canvasBox} style={{ flex: 1, minHeight: 0 }}>
            <Canvas workspaceId={workspaceId} />
          </Box>
          <ProblemsList />
        </Box>
        <Box w={360} style={{ flex: "none", borderLeft: "1px solid var(--mantine-color-gray-3)", minHeight: 0 }}>
          <SidePanel workspaceId={workspaceId} />
        </Box>
      </Box>
      <RunDialog
        workspaceId={workspaceId}
        opened={runOpened}
        onClose={() => setRunOpened(false)}
        info={workflowId !== null ? info : undefined}
        onRun={(parameters) => run(parameters, workflowId !== null ? info : undefined)}
      />
      <LeaveDialog
        opened={leaving.state === "blocked"}
        onStay={() => leaving.reset?.()}
        onLeave={() => leaving.proceed?.()}
        onSaveAndLeave={async () => {
          if (await save(false)) leaving.proceed?.();
          else leaving.reset?.();
        }}
      />
      <VersionsDialog
        opened={versionsOpened}
        onClose={() => setVersionsOpened(false)}
        workspaceId={workspaceId}
        workflowId={workflowId}
      />
    </Stack>
  );
}

interface LeaveProps {
  opened: boolean;
  onStay(): void;
  onLeave(): void;
  onSaveAndLeave(): Promise<void>;
}

function LeaveDialog({ opened, onStay, onLeave, onSaveAndLeave }: LeaveProps) {
  const [saving, setSaving] = useState(false);
  return (
    <Modal opened={opened} onClose={onStay} title="Leave with unsaved changes?" centered>
      <Stack data-testid="leave-dialog">
        <Text size="sm">The changes since the last save would be lost.</Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={onStay} data-testid="leave-stay">
            Stay
          </Button>
          <Button color="red" variant="light" onClick={onLeave} data-testid="leave-discard">
            Leave without saving
          </Button>
          <Button
            loading={saving}
            onClick={async () => {
              setSaving(true);
              await onSaveAndLeave();
              setSaving(false);
            }}
            data-testid="leave-save"
          >
            Save and leave
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
