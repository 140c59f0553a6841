// The server's message for a failed request, every detail it gave, and what to do next.
import { Alert, Button, List, Text } from "@mantine/core";

import { ApiError } from "../api/client";

export interface ErrorExplanation {
  message: string;
  details: { where: string; message: string }[];
  next: string;
}

/** What went wrong (the server's words when it answered) and what the user can do about it. */
export function explainError(error: unknown): ErrorExplanation {
  if (!(error instanceof ApiError)) {
    return {
      message: error instanceof Error && error.message ? error.message : "Something went wrong.",
      details: [],
      next: "The server did not answer: check that FlowUI is running (`make up`), then try again.",
    };
  }
  const { status, message, details } = error.body;
  return { message, details, next: nextStep(status) };
}

function nextStep(status: number): string {
  if (status === 401) return "Your session has ended: sign out and sign in again.";
  if (status === 403) return "Ask an admin or owner of this workspace for a role that allows it.";
  if (status === 404) return "It may have been deleted meanwhile: reload the page.";
  if (status === 409) return "Resolve the conflict described above, then try again.";
  if (status === 413) return "Choose a smaller file.";
  if (status === 422) return "Correct what is listed above, then try again.";
  if (status >= 500) return "The server failed: try again; if it persists, check the server's log.";
  return "Correct the request and try again.";
}

interface Props {
  error: unknown;
  title?: string;
  onRetry?: () => void;
  onClose?: () => void;
  /** How to label a detail's `where` pointer (default: as is; "" hides it). */
  describeWhere?: (where: string) => string;
  "data-testid"?: string;
}

export function ApiErrorAlert({ error, title, onRetry, onClose, describeWhere, ...rest }: Props) {
  const { message, details, next } = explainError(error);
  return (
    <Alert
      color="red"
      role="alert"
      title={title}
      withCloseButton={!!onClose}
      onClose={onClose}
      closeButtonLabel="Dismiss"
      data-testid={rest["data-testid"] ?? "api-error"}
    >
      <Text size="sm" fw={500}>
        {message}
      </Text>
      {details.length > 0 && (
        <List size="sm" mt={4} data-testid="api-error-details">
          {details.map((detail, index) => {
            const where = describeWhere ? describeWhere(detail.where) : detail.where;
            return (
              <List.Item key={index}>
                {where && (
                  <Text span ff="monospace" size="xs">
                    {where}:{" "}
                  </Text>
                )}
                {detail.message}
              </List.Item>
            );
          })}
        </List>
      )}
      <Text size="sm" c="dimmed" mt={4}>
        {next}
      </Text>
      {onRetry && (
        <Button size="xs" variant="light" color="red" mt="xs" onClick={onRetry}>
          Try again
        </Button>
      )}
    </Alert>
  );
}
