// "Run now": the run's parameters in a form built from the workflow's parameters schema.
import { Alert, Button, Group, Modal, Stack, Text } from "@mantine/core";
import Form from "@rjsf/mantine";
import type { RJSFSchema } from "@rjsf/utils";
import { useState } from "react";

import type { WorkflowInfo } from "./queries";
import { schemaFormTemplates, schemaFormValidator, schemaFormWidgets, transformSchemaErrors } from "./schemaForm";
import { useDoc, useEditor } from "./store";

interface Props {
  workspaceId: number;
  opened: boolean;
  onClose(): void;
  info: WorkflowInfo | undefined;
  onRun(parameters: Record<string, unknown>): Promise<boolean>;
}

export function RunDialog({ workspaceId, opened, onClose, info, onRun }: Props) {
  const doc = useDoc();
  const unsaved = useEditor((s) => s.workflowId === null || s.history.present !== s.savedDoc);
  const [parameters, setParameters] = useState<Record<string, unknown>>({});
  const [busy, setBusy] = useState(false);
  const schema = { type: "object", properties: {}, ...(doc.parameters ?? {}), title: "" } as RJSFSchema;
  const hasParameters = Object.keys((schema.properties as object) ?? {}).length > 0;
  const steps = [
    unsaved && "save your changes as a new version",
    (unsaved || !info || info.deployed_version !== info.current_version) && "deploy that version to Airflow",
    info?.is_paused && "resume the workflow (it is paused)",
  ].filter(Boolean);

  const submit = async (values: Record<string, unknown>) => {
    setBusy(true);
    const ok = await onRun(values);
    setBusy(false);
    if (ok) onClose();
  };

  return (
    <Modal opened={opened} onClose={onClose} title="Run now" size="lg">
      <Stack gap="sm" data-testid="run-dialog">
        {steps.length > 0 && (
          <Alert color="blue">
            <Text size="sm">Before running, this will {steps.join(", then ")}.</Text>
          </Alert>
        )}
        {!hasParameters && <Text size="sm">This workflow has no run parameters.</Text>}
        <Form
          schema={schema}
          validator={schemaFormValidator}
          widgets={schemaFormWidgets}
          templates={schemaFormTemplates}
          formContext={{ workspaceId }}
          transformErrors={transformSchemaErrors}
          formData={parameters}
          onChange={(event) => setParameters((event.formData ?? {}) as Record<string, unknown>)}
          onSubmit={(event) => void submit((event.formData ?? {}) as Record<string, unknown>)}
          showErrorList={false}
          idPrefix="run-parameters"
        >
          <Group justify="flex-end" mt="md">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy} data-testid="run-submit">
              Start the run
            </Button>
          </Group>
        </Form>
      </Stack>
    </Modal>
  );
}
