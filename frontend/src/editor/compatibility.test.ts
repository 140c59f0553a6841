import { compatibleOutputs, typeLabel } from "./compatibility";

const upstream = {
  taskId: "split",
  outputSchema: {
    properties: {
      train_path: { type: "string" },
      rows: { type: "integer" },
      ratio: { type: "number" },
      maybe_path: { anyOf: [{ type: "string" }, { type: "null" }] },
      names: { type: "array", items: { type: "string" } },
      counts: { type: "array", items: { type: "integer" } },
      info: { $ref: "#/$defs/Info" },
      anything: {},
    },
    $defs: { Info: { type: "object", properties: {} } },
  },
};

const names = (schema: unknown, defs?: Record<string, unknown>) =>
  compatibleOutputs(schema, defs, [upstream]).map((o) => o.output);

test("only outputs whose type fits the input are offered", () => {
  expect(names({ type: "string" })).toEqual(["train_path", "maybe_path", "anything"]);
  expect(names({ type: "number" })).toEqual(["rows", "ratio", "anything"]); // integer fits number
  expect(names({ type: "integer" })).toEqual(["rows", "anything"]);
  expect(names({ type: "array", items: { type: "number" } })).toEqual(
    ["names", "counts", "anything"].filter((n) => n !== "names"),
  );
  expect(names({ $ref: "#/$defs/Obj" }, { Obj: { type: "object" } })).toEqual(["info", "anything"]);
  expect(names({ type: "string", enum: ["a", "b"] })).toEqual(["train_path", "maybe_path", "anything"]);
  expect(names({})).toHaveLength(8); // an unconstrained input takes anything
  expect(names({ anyOf: [{ type: "string" }, { type: "integer" }] })).toEqual([
    "train_path",
    "rows",
    "maybe_path",
    "anything",
  ]);
});

test("tasks without a known output schema offer nothing", () => {
  expect(compatibleOutputs({ type: "string" }, undefined, [{ taskId: "x", outputSchema: null }])).toEqual([]);
});

test("type labels", () => {
  expect(typeLabel({ anyOf: [{ type: "integer" }, { type: "null" }] }, undefined)).toBe("integer or null");
  expect(typeLabel({ type: "array", items: { type: "string" } }, undefined)).toBe("array of string");
  expect(typeLabel({}, undefined)).toBe("any");
});

test("an optional input's form drops the null alternative", async () => {
  const { withoutNull } = await import("./InputField");
  expect(withoutNull({ anyOf: [{ type: "string" }, { type: "null" }], title: "Table Path", default: null })).toEqual({
    type: "string",
    title: "Table Path",
    default: null,
  });
  expect(withoutNull({ type: "integer" })).toEqual({ type: "integer" });
});
