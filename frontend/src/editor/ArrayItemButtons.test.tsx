import { MantineProvider } from "@mantine/core";
import Form from "@rjsf/mantine";
import type { RJSFSchema } from "@rjsf/utils";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { itemName } from "./ArrayItemButtons";
import { schemaFormTemplates, schemaFormValidator } from "./schemaForm";

const SCHEMA: RJSFSchema = {
  type: "object",
  properties: { conditions: { type: "array", items: { type: "string" } } },
};

test("each item's icon buttons say what they do to which item", async () => {
  const changes: unknown[] = [];
  render(
    <MantineProvider>
      <Form
        schema={SCHEMA}
        formData={{ conditions: ["north", "east", "south"] }}
        validator={schemaFormValidator}
        templates={schemaFormTemplates}
        onChange={(event) => changes.push(event.formData)}
      />
    </MantineProvider>,
  );

  for (const item of ["item 1", "item 2", "item 3"]) {
    expect(screen.getByRole("button", { name: `Remove ${item} of conditions` })).toBeInTheDocument();
  }
  expect(screen.getByRole("button", { name: "Move item 1 of conditions up" })).toBeDisabled();
  await userEvent.click(screen.getByRole("button", { name: "Move item 3 of conditions up" }));

  expect(changes.at(-1)).toEqual({ conditions: ["north", "south", "east"] });
});

test("an item of an array inside an array is named by both", () => {
  expect(itemName(["rules", 2, "values", 0], 0)).toBe("item 1 of rules › item 3 › values");
});
