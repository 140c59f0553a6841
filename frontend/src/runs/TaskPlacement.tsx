// Where a task's latest try ran: its runtime, and the container, pod or Batch job and the host.
import { Badge, Code, Group, Text } from "@mantine/core";

import type { Schemas } from "../api/client";

type Placement = Schemas["TaskPlacement"];

const SHORT_CONTAINER_ID = 12; // as `docker ps` shows it

/** What identifies the try in its runtime: [what, its id, the full id for a tooltip]. */
function placeOf(placement: Placement): [string, string, string] | null {
  if (placement.runtime === "docker" && placement.container_id) {
    return ["container", placement.container_id.slice(0, SHORT_CONTAINER_ID), placement.container_id];
  }
  if (placement.runtime === "kubernetes" && placement.pod) {
    const pod = placement.namespace ? `${placement.namespace}/${placement.pod}` : placement.pod;
    return ["pod", pod, pod];
  }
  if (placement.runtime === "aws_batch" && placement.job_id) {
    return ["Batch job", placement.job_id, placement.job_id];
  }
  return null;
}

export function TaskPlacement({ placement }: { placement: Placement | null | undefined }) {
  if (!placement) {
    return (
      <Text size="xs" c="dimmed" data-testid="task-placement">
        Where it ran: not recorded yet.
      </Text>
    );
  }
  const place = placeOf(placement);
  return (
    <Group gap={6} data-testid="task-placement" wrap="wrap">
      <Text size="xs" c="dimmed">
        ran in
      </Text>
      <Badge size="sm" variant="light" data-testid="task-placement-runtime">
        {placement.runtime}
      </Badge>
      {place && (
        <Text size="xs" data-testid="task-placement-id">
          {place[0]}{" "}
          <Code title={place[2]} fz="xs">
            {place[1]}
          </Code>
        </Text>
      )}
      {placement.runtime === "aws_batch" && placement.queue && (
        <Text size="xs" c="dimmed">
          queue {placement.queue}
        </Text>
      )}
      {placement.host && (
        <Text size="xs" c="dimmed" data-testid="task-placement-host">
          on {placement.host}
        </Text>
      )}
    </Group>
  );
}
