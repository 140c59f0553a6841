// A failed import or upgrade: the server's message and every problem, grouped per operator.
import { Alert, List, Stack, Text } from "@mantine/core";

import { ApiError } from "../api/client";
import { explainError } from "../components/ApiErrorAlert";
import { pointerSegments } from "../components/jsonPointer";

/** The operator a detail is about ("/operators/<name>"), or null for the repository itself. */
function operatorOf(where: string): string | null {
  const [first, second] = pointerSegments(where);
  return first === "operators" && second ? second : null;
}

const FIELD_LABELS: Record<string, string> = {
  "/body/source": "The source",
  "/body/ref": "The ref",
  "/body/token": "The access token",
};

export function RepositoryImportProblems({ error }: { error: unknown }) {
  const { message, next } = explainError(error);
  const details = error instanceof ApiError ? error.body.details : [];
  // Keyed by operator name, or by the label of the request field / the repository.
  const groups = new Map<string, { operator: string | null; label: string; messages: string[] }>();
  for (const detail of details) {
    const operator = operatorOf(detail.where);
    const label = operator ? `Operator ${operator}` : (FIELD_LABELS[detail.where] ?? "The repository");
    const group = groups.get(label) ?? { operator, label, messages: [] };
    group.messages.push(detail.message);
    groups.set(label, group);
  }
  return (
    <Alert color="red" role="alert" title="The repository was not imported" data-testid="repo-import-error">
      <Stack gap="xs">
        <Text size="sm" fw={500}>
          {message}
        </Text>
        {[...groups.values()].map(({ operator, label, messages }) => (
          <div key={label} data-testid={operator ? `import-problem-${operator}` : "import-problem-repository"}>
            <Text size="sm" fw={600}>
              {label}
            </Text>
            <List size="sm">
              {messages.map((text, index) => (
                <List.Item key={index}>{text}</List.Item>
              ))}
            </List>
          </div>
        ))}
        <Text size="sm" c="dimmed">
          {error instanceof ApiError && error.body.status === 422
            ? "Fix these problems in the repository (or choose another source or ref), then import again."
            : next}
        </Text>
      </Stack>
    </Alert>
  );
}
