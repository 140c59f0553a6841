"""End to end in a real browser (Debian's Chromium driven by Playwright) against the running
platform (FlowUI's server serving the built GUI, and Airflow): sign in, create a workspace,
import the example operators repository from git at a tag, build the ML workflow by drag and
drop with a binding and a form value, save, run, watch it succeed and read its HTML report; an
invalid workflow shows its errors on the right node and field; a dataset uploaded in settings
is picked for a dataset input and read by the task. Screenshots of the main screens
go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.airflow_platform import AirflowPlatform
from tests.support.gui_browser import (
    browser_page,
    chromium,
    connect,
    drag_to_canvas,
    require_gui,
    screenshot,
    sign_in,
)
from tests.support.operator_repositories import commit_all, git
from tests.support.paths import EXAMPLES

ADMIN_EMAIL = "admin@example.com"
RUN_TIMEOUT_MS = 240_000
# The ML workflow of examples/workflows/ml_classification.json: each task's operator, where it
# is dropped on the canvas (x, y in the canvas), and the task id the editor gives it.
ML_TASKS = {
    "load": ("LoadSampleDatasetOperator", (140, 60), "load_sample_dataset"),
    "split": ("SplitDatasetOperator", (140, 210), "split_dataset"),
    "train": ("TrainModelOperator", (440, 210), "train_model"),
    "evaluate": ("EvaluateModelOperator", (440, 360), "evaluate_model"),
    "report": ("HtmlReportOperator", (140, 510), "html_report"),
}
ML_EDGES = [("load", "split"), ("split", "train"), ("train", "evaluate"), ("split", "evaluate")]
ML_EDGES += [("evaluate", "report")]
# Bindings chosen in the side panel: (task, input) <- (upstream task, its output).
ML_BINDINGS = {
    ("split", "path"): ("load", "path"),
    ("train", "train_path"): ("split", "train_path"),
    ("evaluate", "model_path"): ("train", "model_path"),
    ("evaluate", "test_path"): ("split", "test_path"),
    ("report", "metrics"): ("evaluate", "metrics"),
    ("report", "image_path"): ("evaluate", "confusion_matrix_path"),
}


@pytest.fixture(scope="module")
def browser(airflow_platform: AirflowPlatform) -> Iterator[Browser]:
    require_gui(airflow_platform.server_url)
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(
    browser: Browser, airflow_platform: AirflowPlatform, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A laptop-sized page in a browser context of its own (nothing shared between tests); a
    screenshot of it is saved when the test fails, and the GUI's uncaught errors fail it."""
    with browser_page(browser, airflow_platform.server_url, request) as opened:
        yield opened


def tagged_examples(directory: Path, tag: str) -> str:
    """A git repository of the example operators with `tag`; its file:// URL."""
    repository = directory / "flowui_examples"
    shutil.copytree(EXAMPLES / "operators_repository", repository)
    git(repository, "init", "--quiet", "--initial-branch=main")
    commit_all(repository, "example operators")
    git(repository, "tag", tag)
    return f"file://{repository}"


def create_workspace(page: Page, name: str) -> None:
    """Creates a workspace in the picker; the GUI opens it."""
    page.get_by_test_id("new-workspace-name").fill(name)
    page.get_by_test_id("create-workspace").click()
    expect(page).to_have_url(re.compile(r"/w/\d+/workflows$"))


def import_repository(page: Page, source: str, ref: str) -> None:
    """Settings → Repositories: imports `source` at `ref` and waits for its row."""
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("settings-tab-repositories").click()
    page.get_by_test_id("repo-import-source").fill(source)
    page.get_by_test_id("repo-import-ref").fill(ref)
    page.get_by_test_id("repo-import-submit").click()
    expect(page.get_by_test_id("repo-import-success")).to_be_visible(timeout=120_000)
    row = page.get_by_test_id("repository-row-flowui_examples")
    expect(row.get_by_test_id("repository-operator-count")).to_have_text("12")


def test_the_ml_workflow_built_by_drag_and_drop_runs_and_shows_its_report(
    page: Page, airflow_platform: AirflowPlatform, tmp_path: Path
) -> None:
    page.goto("/")
    page.get_by_label("E-mail").wait_for()
    screenshot(page, "01-sign-in")
    sign_in(page, ADMIN_EMAIL, airflow_platform.password)
    expect(page.get_by_test_id("workspace-Default workspace")).to_be_visible()

    workspace = f"GUI end to end {secrets.token_hex(3)}"
    create_workspace(page, workspace)
    page.goto("/")
    expect(page.get_by_test_id(f"workspace-{workspace}")).to_be_visible()
    screenshot(page, "02-workspaces")
    page.get_by_test_id(f"workspace-{workspace}").click()

    import_repository(page, tagged_examples(tmp_path, "v1"), "v1")
    screenshot(page, "03-settings-repositories")

    page.get_by_test_id("nav-workflows").click()
    page.get_by_test_id("new-workflow").click()
    title = f"Iris report {secrets.token_hex(3)}"
    build_ml_workflow(page, "Iris classification (GUI)", title)
    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("editor-notice")).to_have_text(re.compile("Saved as version 1"))
    expect(page).to_have_url(re.compile(r"/workflows/\d+/edit$"))
    page.get_by_test_id("fit-button").click()
    screenshot(page, "04-editor")

    page.get_by_test_id("run-button").click()
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/workflows/\d+/runs/[^/]+$"), timeout=120_000)
    run_state = page.get_by_test_id("run-state")
    expect(run_state).to_have_attribute(
        "data-state", re.compile("^(success|failed)$"), timeout=RUN_TIMEOUT_MS
    )
    states = {
        task: page.get_by_test_id(f"run-task-{task}").get_attribute("data-state")
        for _, _, task in ML_TASKS.values()
    }
    assert run_state.get_attribute("data-state") == "success", states
    assert set(states.values()) == {"success"}, states

    page.get_by_test_id(f"run-task-{ML_TASKS['report'][2]}").click()
    page.get_by_test_id("task-tab-results").click()
    viewer = page.get_by_test_id("result-viewer")
    expect(viewer).to_have_attribute("data-file-type", "html")
    report = viewer.frame_locator("iframe")
    expect(report.get_by_role("heading", name=title)).to_be_visible()
    screenshot(page, "05-run-monitor-report")

    page.get_by_test_id("nav-workflows").click()
    row = page.get_by_test_id("workflow-row-Iris classification (GUI)")
    expect(row.get_by_test_id("workflow-last-run")).to_contain_text("success")


def test_an_invalid_workflow_shows_the_servers_errors_on_its_node_and_fields(
    page: Page, airflow_platform: AirflowPlatform
) -> None:
    page.goto("/")
    sign_in(page, ADMIN_EMAIL, airflow_platform.password)
    page.get_by_test_id("workspace-Default workspace").click()
    page.get_by_test_id("new-workflow").click()
    canvas = page.get_by_test_id("canvas")
    for task in ("load", "split"):
        operator, (x, y), _ = ML_TASKS[task]
        drag_to_canvas(page.get_by_test_id(f"palette-item-{operator}"), canvas, x, y)
    connect(
        page,
        node(page, "load").locator(".react-flow__handle.source"),
        node(page, "split").locator(".react-flow__handle.target"),
    )
    # split's required input `path` stays unset; its test_size is out of its bounds (0, 1).
    node(page, "split").click()
    type_into(page.get_by_test_id("input-test_size").get_by_role("textbox"), "1.5")
    canvas.locator(".react-flow__pane").click(position={"x": 20, "y": 20})
    settings = page.get_by_test_id("workflow-settings")
    settings.get_by_text("cron", exact=True).click()
    type_into(page.get_by_test_id("cron-input"), "61 * * * *")

    page.get_by_test_id("validate-button").click()

    problems = page.get_by_test_id("problems-list")
    expect(problems.locator('[data-testid^="problem-"]')).to_have_count(3)
    split, load = (ML_TASKS[task][2] for task in ("split", "load"))
    expect(page.get_by_test_id(f"task-problems-{split}")).to_have_text("2")
    expect(page.get_by_test_id(f"task-problems-{load}")).to_have_count(0)
    expect(settings).to_contain_text('invalid cron expression "61 * * * *"')
    screenshot(page, "06-editor-problems")

    problems.get_by_role("button", name=re.compile(f"^{split} \u203a test_size")).click()
    panel = page.get_by_test_id("side-panel")
    expect(panel.get_by_test_id("input-problem-test_size")).to_have_text(
        "test_size: 1.5 must be less than 1"
    )
    expect(panel.get_by_test_id("input-problem-path")).to_contain_text('input "path"')
    expect(panel.get_by_test_id("input-problem-path")).to_contain_text("is required")

    # Leaving with unsaved changes asks first; staying keeps the work.
    page.get_by_test_id("nav-workflows").click()
    page.get_by_test_id("leave-stay").click()
    expect(node(page, "split")).to_be_visible()
    page.get_by_test_id("nav-workflows").click()
    page.get_by_test_id("leave-discard").click()
    expect(page).to_have_url(re.compile(r"/w/\d+/workflows$"))


def test_a_dataset_uploaded_in_settings_is_picked_by_name_for_a_dataset_input_and_read_by_the_task(
    page: Page, airflow_platform: AirflowPlatform, tmp_path: Path
) -> None:
    page.goto("/")
    sign_in(page, ADMIN_EMAIL, airflow_platform.password)
    page.get_by_test_id("workspace-Default workspace").click()
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("settings-tab-datasets").click()
    name = f"regions-{secrets.token_hex(3)}"
    table = tmp_path / "regions.csv"
    table.write_text("region,amount\nnorth,3\nsouth,5\n")
    page.get_by_test_id("dataset-file").set_input_files(table)
    page.get_by_test_id("dataset-name").fill(name)
    page.get_by_test_id("dataset-upload-submit").click()
    row = page.get_by_test_id(f"dataset-row-{name}")
    storage_id = row.get_by_test_id("dataset-storage-id").inner_text()
    assert re.fullmatch(r"upload-[0-9a-f]+", storage_id), storage_id
    screenshot(page, "07-settings-datasets")

    page.get_by_test_id("nav-workflows").click()
    page.get_by_test_id("new-workflow").click()
    page.get_by_test_id("workflow-name").fill(f"Read {name}")
    drag_to_canvas(
        page.get_by_test_id("palette-item-GetDatasetVersionOperator"),
        page.get_by_test_id("canvas"),
        200,
        120,
    )
    page.get_by_test_id("task-node-get_dataset_version").click()
    picker = page.get_by_test_id("side-panel").get_by_test_id("dataset-picker")
    picker.click()
    picker.press_sequentially(name[:9])  # found by its name, not its id
    page.get_by_role("option", name=re.compile(f"^{name}")).click()
    expect(picker).to_have_value(storage_id)
    screenshot(page, "08-editor-dataset-picker")

    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("editor-notice")).to_have_text(re.compile("Saved as version 1"))
    page.get_by_test_id("run-button").click()
    page.get_by_test_id("run-submit").click()
    run_state = page.get_by_test_id("run-state")
    expect(run_state).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("run-task-get_dataset_version").click()
    page.get_by_test_id("task-tab-outputs").click()
    outputs = page.get_by_test_id("task-outputs")
    expect(outputs).to_contain_text(storage_id)
    expect(outputs).to_contain_text("v0001")


def build_ml_workflow(page: Page, name: str, report_title: str) -> None:
    """In a new workflow's editor: drops the five operators from the palette onto the canvas,
    draws the edges with the mouse, binds inputs to upstream outputs in the side panel and sets
    the report's title in its form."""
    canvas = page.get_by_test_id("canvas")
    expect(page.get_by_test_id("palette-item-LoadSampleDatasetOperator")).to_be_visible()
    # Drawn with metadata's icon (Font Awesome, bundled with the GUI).
    icon = page.get_by_test_id("palette-item-HtmlReportOperator").locator("i.fa-file-lines")
    expect(icon).to_be_visible()
    assert page.evaluate(
        """async () => {
            await document.fonts.ready;
            return [...document.fonts].some(
                (font) => font.family.includes("Font Awesome") && font.status === "loaded");
        }"""
    ), "the icon font did not load"
    page.get_by_test_id("workflow-name").fill(name)
    for operator, (x, y), task_id in ML_TASKS.values():
        drag_to_canvas(page.get_by_test_id(f"palette-item-{operator}"), canvas, x, y)
        expect(page.get_by_test_id(f"task-node-{task_id}")).to_be_visible()
    for source, target in ML_EDGES:
        connect(
            page,
            node(page, source).locator(".react-flow__handle.source"),
            node(page, target).locator(".react-flow__handle.target"),
        )
    expect(page.locator(".react-flow__edge")).to_have_count(len(ML_EDGES))
    for (task, field), (upstream, output) in ML_BINDINGS.items():
        bind(page, task, field, ML_TASKS[upstream][2], output)
    node(page, "report").click()
    type_into(page.get_by_test_id("input-title").get_by_role("textbox"), report_title)


def type_into(field: Locator, text: str) -> None:
    """Replaces a field's text as a person does: click, select all, type."""
    field.click()
    field.press("Control+a")
    field.press_sequentially(text)


def node(page: Page, task: str) -> Locator:
    return page.get_by_test_id(f"task-node-{ML_TASKS[task][2]}")


def bind(page: Page, task: str, field: str, upstream: str, output: str) -> None:
    """Selects the task, switches its input to "upstream" and picks the upstream output."""
    node(page, task).click()
    panel = page.get_by_test_id("side-panel")
    panel.get_by_test_id(f"input-{field}").get_by_text("upstream", exact=True).click()
    panel.get_by_test_id(f"upstream-select-{field}").click()
    page.get_by_role("option", name=re.compile(f"^{upstream} → {output} ")).click()
    expect(panel.get_by_test_id(f"upstream-select-{field}")).to_have_value(
        re.compile(f"^{upstream} → {output} ")
    )
