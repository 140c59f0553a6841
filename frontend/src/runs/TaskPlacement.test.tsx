import { MantineProvider } from "@mantine/core";
import { render, screen } from "@testing-library/react";

import type { Schemas } from "../api/client";
import { TaskPlacement } from "./TaskPlacement";

type Placement = Schemas["TaskPlacement"];

function placement(fields: Partial<Placement> & Pick<Placement, "runtime">): Placement {
  return {
    host: null,
    container_id: null,
    image: null,
    pod: null,
    namespace: null,
    job_id: null,
    queue: null,
    ...fields,
  };
}

function show(value: Placement | null) {
  render(
    <MantineProvider env="test">
      <TaskPlacement placement={value} />
    </MantineProvider>,
  );
  return screen.getByTestId("task-placement");
}

test("a pod is shown as namespace/name", () => {
  const shown = show(placement({ runtime: "kubernetes", host: "node-3", pod: "train-x7k2p", namespace: "flowui" }));

  expect(screen.getByTestId("task-placement-runtime")).toHaveTextContent("kubernetes");
  expect(screen.getByTestId("task-placement-id")).toHaveTextContent("pod flowui/train-x7k2p");
  expect(shown).toHaveTextContent("on node-3");
});

test("a Batch job is shown by its id and queue", () => {
  const shown = show(
    placement({ runtime: "aws_batch", host: "airflow-worker", job_id: "8c1f-4e2d-9a7b", queue: "flowui-jobs" }),
  );

  expect(screen.getByTestId("task-placement-id")).toHaveTextContent("Batch job 8c1f-4e2d-9a7b");
  expect(shown).toHaveTextContent("queue flowui-jobs");
});

test("a process shows its host only", () => {
  show(placement({ runtime: "process", host: "laptop" }));
  expect(screen.getByTestId("task-placement-runtime")).toHaveTextContent("process");
  expect(screen.getByTestId("task-placement-host")).toHaveTextContent("on laptop");
  expect(screen.queryByTestId("task-placement-id")).toBeNull();
});

test("a task without a recorded placement says so", () => {
  expect(show(null)).toHaveTextContent("Where it ran: not recorded yet.");
});
