import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import type { OperatorSummary } from "./operators";
import { Palette } from "./Palette";
import { renderWithProviders, standInServer } from "./testing";

function operator(
  id: number,
  name: string,
  label: string,
  tags: string[],
  extra: Partial<OperatorSummary> = {},
): OperatorSummary {
  return {
    id,
    repository_id: 1,
    repository: "flowui_examples",
    repository_version: "0.1.0",
    is_current: true,
    name,
    version: "0.1.0",
    description: `${label} operator`,
    tags,
    style: { node_label: label, node_style: { backgroundColor: "#e0e7ff", color: "#312e81" } },
    has_input_schema: true,
    has_output_schema: true,
    ...extra,
  };
}

const operators = [
  operator(1, "SplitDatasetOperator", "Train/test split", ["ml"]),
  operator(2, "TrainModelOperator", "Train model", ["ml"]),
  operator(3, "LoadDatasetOperator", "Load dataset", ["dataset"]),
  operator(4, "OldOperator", "Old", ["ml"], { is_current: false }),
];

test("the palette shows current operators by repository and tag, and filters as you type", async () => {
  standInServer([[/GET \/api\/workspaces\/1\/operators$/, () => operators]]);
  const added: string[] = [];
  renderWithProviders(<Palette workspaceId={1} onAdd={(op) => added.push(op.name)} />);

  expect(await screen.findByTestId("palette-item-SplitDatasetOperator")).toHaveTextContent("Train/test split");
  expect(screen.getByTestId("palette-item-LoadDatasetOperator")).toBeInTheDocument();
  expect(screen.queryByTestId("palette-item-OldOperator")).not.toBeInTheDocument();
  expect(screen.getByRole("list", { name: "flowui_examples: ml" })).toBeInTheDocument();

  await userEvent.type(screen.getByLabelText("Search operators"), "train");
  await waitFor(() => expect(screen.queryByTestId("palette-item-LoadDatasetOperator")).not.toBeInTheDocument());
  expect(screen.getByTestId("palette-item-SplitDatasetOperator")).toBeInTheDocument(); // "Train/test split"
  expect(screen.getByTestId("palette-item-TrainModelOperator")).toBeInTheDocument();

  await userEvent.type(screen.getByLabelText("Search operators"), " model");
  await waitFor(() => expect(screen.queryByTestId("palette-item-SplitDatasetOperator")).not.toBeInTheDocument());

  await userEvent.click(screen.getByRole("button", { name: "Add Train model" }));
  expect(added).toEqual(["TrainModelOperator"]);

  await userEvent.clear(screen.getByLabelText("Search operators"));
  await userEvent.type(screen.getByLabelText("Search operators"), "nothing like this");
  expect(await screen.findByText(/No operator matches/)).toBeInTheDocument();
});

test("with a thousand operators only the visible part is rendered, and search and scrolling reach any", async () => {
  const many = Array.from({ length: 1000 }, (_, i) => {
    const n = String(i).padStart(4, "0");
    return operator(100 + i, `Bulk${n}Operator`, `Bulk ${n}`, ["bulk"]);
  });
  standInServer([[/GET \/api\/workspaces\/1\/operators$/, () => many]]);
  renderWithProviders(<Palette workspaceId={1} onAdd={() => undefined} />);

  expect(await screen.findByTestId("palette-item-Bulk0000Operator")).toBeInTheDocument();
  const rendered = screen.getAllByTestId(/^palette-item-/).length;
  expect(rendered).toBeGreaterThan(12);
  expect(rendered).toBeLessThan(100);
  expect(screen.queryByTestId("palette-item-Bulk0999Operator")).not.toBeInTheDocument();

  // Scrolled to the end: the last ones are there, the first ones gone.
  const list = screen.getByTestId("palette-list");
  let scrolled = 1000 * 52; // jsdom lays nothing out: the offset is stood in for
  Object.defineProperty(list, "scrollTop", {
    configurable: true,
    get: () => scrolled,
    set: (v: number) => (scrolled = v),
  });
  fireEvent.scroll(list);
  const last = await screen.findByTestId("palette-item-Bulk0999Operator");
  expect(screen.queryByTestId("palette-item-Bulk0000Operator")).not.toBeInTheDocument();
  // Assistive technology still learns where it is in the whole list.
  expect(last).toHaveAttribute("aria-posinset", "1000");
  expect(last).toHaveAttribute("aria-setsize", "1000");
  expect(screen.getByRole("list", { name: "flowui_examples: bulk" })).toBeInTheDocument();

  await userEvent.type(screen.getByLabelText("Search operators"), "bulk 0500");
  expect(await screen.findByTestId("palette-item-Bulk0500Operator")).toBeInTheDocument();
  expect(screen.getAllByTestId(/^palette-item-/)).toHaveLength(1);
});

test("hovering an operator shows its card with its inputs and outputs", async () => {
  standInServer([
    [/GET \/api\/workspaces\/1\/operators$/, () => operators],
    [
      /GET \/api\/workspaces\/1\/operators\/2$/,
      () => ({
        ...operators[1],
        input_schema: { type: "object", properties: { epochs: { type: "integer" } }, required: ["epochs"] },
        output_schema: { type: "object", properties: {} },
      }),
    ],
  ]);
  renderWithProviders(<Palette workspaceId={1} onAdd={() => undefined} />);

  await userEvent.hover(await screen.findByTestId("palette-item-TrainModelOperator"));
  expect(await screen.findByText("Inputs")).toBeInTheDocument();
  expect(screen.getByText("epochs")).toBeInTheDocument();
  await userEvent.unhover(screen.getByTestId("palette-item-TrainModelOperator"));
  await waitFor(() => expect(screen.queryByText("Inputs")).not.toBeInTheDocument());
});
