import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import type { OperatorSummary } from "./operators";
import { Palette } from "./Palette";
import { renderWithProviders, standInServer } from "./testing";

function operator(id: number, name: string, label: string, tags: string[], extra: Partial<OperatorSummary> = {}): OperatorSummary {
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
