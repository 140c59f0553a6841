import { Table } from "@mantine/core";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { DeleteRowAction, RowAction, RowActions } from "./RowActions";
import { renderScreen } from "./screenTestKit";
import { ListTable } from "./ListTable";

const screenUrl = { url: "/", pattern: "/" };

function Rows({
  names,
  onOpen,
  remove,
}: {
  names: string[];
  onOpen: (name: string) => void;
  remove: () => Promise<unknown>;
}) {
  return (
    <ListTable titles={["Name"]} withActions>
      {names.map((name) => (
        <Table.Tr key={name} data-testid={`row-${name}`}>
          <Table.Td>{name}</Table.Td>
          <Table.Td>
            <RowActions>
              <RowAction label="Open" target={name} onClick={() => onOpen(name)} />
              <DeleteRowAction label="Remove" target={name} action={remove} invalidates={["rows"]}>
                {name} goes for good.
              </DeleteRowAction>
            </RowActions>
          </Table.Td>
        </Table.Tr>
      ))}
    </ListTable>
  );
}

test("each row's buttons show the verb and are named after the row's item", async () => {
  const opened: string[] = [];
  renderScreen(
    <Rows names={["north", "south"]} onOpen={(name) => opened.push(name)} remove={async () => null} />,
    screenUrl,
  );

  expect(screen.getAllByRole("columnheader").map((header) => header.textContent)).toEqual(["Name", ""]);
  const south = within(screen.getByTestId("row-south"));
  expect(south.getByRole("button", { name: "Open south" })).toHaveTextContent("Open");
  expect(south.getByRole("button", { name: "Remove south" })).toHaveTextContent("Remove");
  expect(south.queryByRole("button", { name: "Open north" })).toBeNull();

  await userEvent.click(south.getByRole("button", { name: "Open south" }));
  expect(opened).toEqual(["south"]);
});

test("a delete asks first, sends the request on confirmation and keeps a refusal in the dialog", async () => {
  let sent = 0;
  const remove = async () => {
    sent += 1;
    throw new Error("south is in use");
  };
  renderScreen(<Rows names={["south"]} onOpen={() => undefined} remove={remove} />, screenUrl);

  await userEvent.click(screen.getByRole("button", { name: "Remove south" }));
  const dialog = await screen.findByRole("dialog", { name: "Remove south?" });
  expect(dialog).toHaveTextContent("south goes for good.");
  expect(sent).toBe(0);

  await userEvent.click(within(dialog).getByTestId("confirm-ok"));
  expect(await within(dialog).findByRole("alert")).toHaveTextContent("south is in use");
  expect(sent).toBe(1);

  await userEvent.click(within(dialog).getByTestId("confirm-cancel"));
  await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
});

test("a confirmed delete closes the dialog once done", async () => {
  let sent = 0;
  const remove = async () => {
    sent += 1;
    return null;
  };
  renderScreen(<Rows names={["south"]} onOpen={() => undefined} remove={remove} />, screenUrl);

  await userEvent.click(screen.getByRole("button", { name: "Remove south" }));
  await userEvent.click(within(await screen.findByRole("dialog")).getByTestId("confirm-ok"));

  await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  expect(sent).toBe(1);
});
