import { fontAwesomeClass, filterOperators, groupOperators, operatorStyle, type OperatorSummary } from "./operators";

export function makeOperator(i: number, extra: Partial<OperatorSummary> = {}): OperatorSummary {
  return {
    id: i,
    repository_id: i % 3,
    repository: `repo_${i % 3}`,
    repository_version: "1.0.0",
    is_current: true,
    name: `Operator${i}`,
    version: "1.0.0",
    description: `Does thing number ${i}`,
    tags: [i % 2 ? "odd" : "even"],
    style: { node_label: `Step ${i}`, node_style: { backgroundColor: "#fff", color: "#000" } },
    has_input_schema: true,
    has_output_schema: true,
    ...extra,
  };
}

const thousand = Array.from({ length: 1000 }, (_, i) => makeOperator(i));

test("filters 1,000 operators by every word of the query, case-insensitively", () => {
  expect(filterOperators(thousand, "")).toHaveLength(1000);
  expect(filterOperators(thousand, "  ")).toHaveLength(1000);
  expect(filterOperators(thousand, "OPERATOR999").map((o) => o.name)).toEqual(["Operator999"]);
  // label, description, repository and tags are searched too
  // each word on its own: "12" matches 12, 112, 120..129, 212, ..., 912
  expect(filterOperators(thousand, "step 12")).toHaveLength(20);
  expect(filterOperators(thousand, "ODD step 12")).toHaveLength(5);
  expect(filterOperators(thousand, "repo_1 odd").every((o) => o.repository === "repo_1" && o.tags[0] === "odd")).toBe(
    true,
  );
  expect(filterOperators(thousand, "number 5 even")).toHaveLength(
    filterOperators(thousand, "number 5").filter((o) => o.id % 2 === 0).length,
  );
  expect(filterOperators(thousand, "nothing-matches")).toEqual([]);
});

test("groups by repository then first tag", () => {
  const groups = groupOperators([makeOperator(1), makeOperator(4), makeOperator(2, { tags: [] })]);
  expect(groups.map((g) => g.repository)).toEqual(["repo_1", "repo_2"]);
  expect(groups[0].tags.map((t) => t.tag)).toEqual(["even", "odd"]);
  expect(groups[1].tags[0].tag).toBe("other");
});

test("the style gives the label, colours, the Font Awesome icon and initials standing in for it", () => {
  const look = operatorStyle({
    name: "SplitDatasetOperator",
    style: {
      node_label: "Train/test split",
      node_style: { backgroundColor: "#e0e7ff", color: "#312e81" },
      icon_class_name: "fa-solid fa-code-branch",
    },
  });
  expect(look).toEqual({
    label: "Train/test split",
    background: "#e0e7ff",
    color: "#312e81",
    icon: "CB",
    iconClass: "fa-solid fa-code-branch",
  });
  expect(operatorStyle({ name: "Plain", style: {} })).toMatchObject({ label: "Plain", iconClass: null, icon: "PL" });
});

test("only Font Awesome class names become the icon's classes", () => {
  expect(fontAwesomeClass("fas fa-database")).toBe("fas fa-database"); // the original layout's
  expect(fontAwesomeClass("  fa-solid   fa-table ")).toBe("fa-solid fa-table");
  expect(fontAwesomeClass("fa-solid")).toBeNull(); // a style without an icon
  expect(fontAwesomeClass("fa-solid fa-table extra")).toBeNull();
  expect(fontAwesomeClass('fa-solid" onmouseover="x')).toBeNull();
  expect(fontAwesomeClass("material-icons table")).toBeNull();
});
