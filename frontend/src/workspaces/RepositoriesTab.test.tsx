import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { apiError, renderScreen, serveApi } from "../components/screenTestKit";
import { RepositoriesTab } from "./RepositoriesTab";

test("an import refused with 422 lists every problem under its operator, and forgets the token", async () => {
  const calls = serveApi([
    ["GET", "/api/workspaces/1/repositories", { body: [] }],
    [
      "POST",
      "/api/workspaces/1/repositories",
      {
        status: 422,
        body: apiError(422, "the operators repository is invalid (3 problems)", [
          {
            where: "/operators/TrainModelOperator",
            message: "operators/TrainModelOperator/model.py:12: InputModel is missing",
          },
          {
            where: "/operators/TrainModelOperator",
            message: "operators/TrainModelOperator/metadata.json: style.icon is not a string",
          },
          { where: "/operators/Split~1Operator", message: "operators/Split/operator.py: no operator class" },
          { where: "config.toml", message: "config.toml: VERSION is missing" },
        ]),
      },
    ],
  ]);
  renderScreen(<RepositoriesTab workspaceId={1} role="admin" />, {
    url: "/w/1/settings",
    pattern: "/w/:workspaceId/settings",
  });

  await userEvent.type(screen.getByTestId("repo-import-source"), "https://example.org/broken.git");
  await userEvent.type(screen.getByTestId("repo-import-ref"), "v2");
  await userEvent.type(screen.getByTestId("repo-import-token"), "ghp_secret");
  await userEvent.click(screen.getByTestId("repo-import-submit"));

  const error = await screen.findByTestId("repo-import-error");
  expect(error).toHaveTextContent("the operators repository is invalid (3 problems)");
  const train = within(error).getByTestId("import-problem-TrainModelOperator");
  expect(train).toHaveTextContent("Operator TrainModelOperator");
  expect(train).toHaveTextContent("InputModel is missing");
  expect(train).toHaveTextContent("style.icon is not a string");
  expect(within(error).getByTestId("import-problem-Split/Operator")).toHaveTextContent("no operator class");
  expect(within(error).getByTestId("import-problem-repository")).toHaveTextContent("VERSION is missing");

  expect(screen.getByTestId("repo-import-token")).toHaveValue("");
  expect(screen.getByTestId("repo-import-source")).toHaveValue("https://example.org/broken.git");
  const sent = await calls.find((call) => call.method === "POST")!.request.json();
  expect(sent).toEqual({ source: "https://example.org/broken.git", ref: "v2", token: "ghp_secret" });
});

test("removing a repository in use says which workflows use it", async () => {
  serveApi([
    [
      "GET",
      "/api/workspaces/1/repositories",
      {
        body: [
          {
            id: 3,
            name: "flowui_examples",
            source: "/opt/examples",
            current_version: "0.1.0",
            operator_count: 9,
            created_at: "2024-01-01T00:00:00Z",
            updated_at: "2024-01-01T00:00:00Z",
            versions: [
              { version: "0.1.0", ref: null, commit: null, imported_at: "2024-01-01T00:00:00Z", operator_count: 9 },
            ],
          },
        ],
      },
    ],
    [
      "DELETE",
      "/api/workspaces/1/repositories/3",
      {
        status: 409,
        body: apiError(
          409,
          "repository 'flowui_examples' is used by the workflows 'Iris': remove its operators first",
          [{ where: "/workflows/5", message: "workflow 'Iris' uses operators of flowui_examples" }],
        ),
      },
    ],
  ]);
  renderScreen(<RepositoriesTab workspaceId={1} role="owner" />, {
    url: "/w/1/settings",
    pattern: "/w/:workspaceId/settings",
  });

  const row = await screen.findByTestId("repository-row-flowui_examples");
  expect(within(row).getByTestId("repository-operator-count")).toHaveTextContent("9");
  await userEvent.click(within(row).getByRole("button", { name: "Remove flowui_examples" }));
  await userEvent.click(await screen.findByTestId("confirm-ok"));

  expect(await screen.findByRole("alert")).toHaveTextContent("workflow 'Iris' uses operators of flowui_examples");
});
