"""Workflows on a real Airflow 3 (api-server, scheduler, dag-processor): compile, run, follow."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowui.operators.install import install_repository
from flowui.server.airflow_client import DagRun
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow, dag_paths, remove_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.airflow_platform import (
    E2E_SECRET_NAME,
    AirflowPlatform,
    example_inputs,
    path_without_uv,
)
from tests.support.operator_repositories import make_repository, metadata, write_operator
from tests.support.paths import EXAMPLES, FLOWUI
from tests.support.processes import process_environ

ECHO_MODEL = f"""
from pydantic import BaseModel


class InputModel(BaseModel):
    text: str = "hello"
    fail: bool = False


class OutputModel(BaseModel):
    text: str
    secret_length: int = 0


class SecretsModel(BaseModel):
    {E2E_SECRET_NAME}: str = ""
"""

ECHO_OPERATOR = f"""
from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class EchoOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        token = self.secrets.{E2E_SECRET_NAME}
        self.logger.info("echo %s with token %s", input_model.text, token)
        print("printed token", token)
        if input_model.fail:
            raise RuntimeError("asked to fail, token " + token)
        return OutputModel(text=input_model.text, secret_length=len(token))
"""


@pytest.fixture(scope="module")
def echo_repository(airflow_platform: AirflowPlatform, tmp_path_factory: pytest.TempPathFactory):
    source = make_repository(tmp_path_factory.mktemp("echo") / "repo", ())
    write_operator(
        source,
        "EchoOperator",
        model=ECHO_MODEL,
        operator=ECHO_OPERATOR,
        meta=metadata("EchoOperator"),
    )
    return install_repository(source, airflow_platform.root)


def echo_workflow(text: Any, **task: Any) -> dict[str, Any]:
    return {
        "name": "echo",
        "parameters": {
            "type": "object",
            "properties": {"greeting": {"type": "string", "default": "hello"}},
        },
        "tasks": [
            {
                "id": "echo",
                "operator": {"repository": "demo", "name": "EchoOperator", "version": "0.1.0"},
                "inputs": {"text": text},
                **task,
            },
            {
                "id": "again",
                "operator": {"repository": "demo", "name": "EchoOperator", "version": "0.1.0"},
                "inputs": {"text": {"from": "echo", "output": "text"}},
            },
        ],
    }


def deploy(platform: AirflowPlatform, document: dict[str, Any], dag_id: str) -> None:
    catalog = catalog_from_root(platform.root)
    workflow, errors = parse_workflow(document, catalog)
    assert workflow is not None and not errors, errors
    since = datetime.now(UTC)
    compile_workflow(workflow, dag_id, catalog, platform.root)
    platform.client.wait_for_dag(dag_id, timeout=60, parsed_since=since)


def run_dag(platform: AirflowPlatform, dag_id: str, conf: dict[str, Any] | None = None) -> DagRun:
    started = platform.client.trigger_run(dag_id, conf or {})
    return platform.client.wait_for_run(dag_id, started.run_id, timeout=600)


def output_of(platform: AirflowPlatform, run: DagRun, task_id: str) -> dict[str, Any]:
    paths = platform.root.task_run(run.dag_id, run.run_id, task_id)
    data: dict[str, Any] = json.loads(paths.output.read_text())
    return data


def test_the_example_ml_workflow_runs_and_its_report_lands_in_the_run_directory(
    airflow_platform: AirflowPlatform,
) -> None:
    # Its tasks build a dependency group's environment with uv, found on no PATH of theirs.
    environ = process_environ(airflow_platform.platform.component_pids["scheduler"])
    assert "UV" not in environ
    assert path_without_uv(environ["PATH"]) == environ["PATH"]
    install_repository(EXAMPLES / "operators_repository", airflow_platform.root)
    document = json.loads((EXAMPLES / "workflows" / "ml_classification.json").read_text())
    deploy(airflow_platform, document, "e2e_ml")

    run = run_dag(airflow_platform, "e2e_ml", {"model_type": "logistic_regression"})

    assert run.state == "success"
    states = {
        ti.task_id: ti.state for ti in airflow_platform.client.task_instances("e2e_ml", run.run_id)
    }
    assert states == dict.fromkeys(["load", "split", "train", "evaluate", "report"], "success")
    report_task = airflow_platform.root.task_run("e2e_ml", run.run_id, "report")
    report = Path(output_of(airflow_platform, run, "report")["report_path"])
    assert report.is_relative_to(report_task.results)
    assert "<html" in report.read_text().lower()
    assert json.loads(report_task.display_result.read_text())["file_type"] == "html"
    assert output_of(airflow_platform, run, "train")["model_type"] == "logistic_regression"
    evaluate_xcom = airflow_platform.client.xcom("e2e_ml", run.run_id, "evaluate")
    assert evaluate_xcom == output_of(airflow_platform, run, "evaluate")


def flowui_in_project(
    platform: AirflowPlatform, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """The `flowui` command run in the platform's project, as a user would in a terminal."""
    return subprocess.run(
        [str(FLOWUI), *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWUI_PROJECT_DIR": str(platform.project_dir)},
        timeout=600,
        check=False,
    )


def test_flowui_workflows_run_updates_a_dataset_with_the_example_workflow(
    airflow_platform: AirflowPlatform,
) -> None:
    inputs = example_inputs(airflow_platform.root)  # where the tasks' sandboxes see them

    result = flowui_in_project(
        airflow_platform,
        "workflows",
        "run",
        str(EXAMPLES / "workflows" / "dataset_update.json"),
        "--repo",
        str(EXAMPLES / "operators_repository"),
        *(part for name, path in inputs.items() for part in ("--param", f"{name}={path}")),
        "--json",
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["state"] == "success"
    tasks = {task["task_id"]: task for task in report["tasks"]}
    assert {task_id: task["state"] for task_id, task in tasks.items()} == dict.fromkeys(
        ["load_sales", "load_customers", "clean", "join", "aggregate", "save"], "success"
    )
    saved = tasks["save"]["output"]
    assert saved["dataset_id"] == "sales_by_region"
    stored = Path(saved["path"])
    assert stored.is_relative_to(airflow_platform.root.dataset("sales_by_region"))
    assert stored.is_file() and saved["rows"] > 0
    assert Path(tasks["save"]["log"]).is_file()


def test_flowui_workflows_run_exits_non_zero_when_the_run_fails(
    airflow_platform: AirflowPlatform, echo_repository: Path, tmp_path: Path
) -> None:
    document = echo_workflow({"value": "x"})
    document["tasks"][0]["inputs"]["fail"] = {"value": True}
    workflow_file = tmp_path / "failing.json"
    workflow_file.write_text(json.dumps(document))

    result = flowui_in_project(airflow_platform, "workflows", "run", str(workflow_file), "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    states = {task["task_id"]: task["state"] for task in report["tasks"]}
    assert (report["state"], states) == ("failed", {"echo": "failed", "again": "upstream_failed"})


def test_a_run_parameter_overrides_its_default(
    airflow_platform: AirflowPlatform, echo_repository: Path
) -> None:
    deploy(airflow_platform, echo_workflow({"param": "greeting"}), "e2e_params")

    with_default = run_dag(airflow_platform, "e2e_params")
    overridden = run_dag(airflow_platform, "e2e_params", {"greeting": "bonjour"})

    assert output_of(airflow_platform, with_default, "again")["text"] == "hello"
    assert output_of(airflow_platform, overridden, "again")["text"] == "bonjour"


def test_a_failing_task_is_retried_and_the_run_fails_with_the_traceback_in_its_log(
    airflow_platform: AirflowPlatform, echo_repository: Path
) -> None:
    document = echo_workflow({"value": "x"}, retries=1, retry_delay_seconds=0)
    document["tasks"][0]["inputs"]["fail"] = {"value": True}
    deploy(airflow_platform, document, "e2e_retry")

    run = run_dag(airflow_platform, "e2e_retry")

    assert run.state == "failed"
    tasks = {
        ti.task_id: ti for ti in airflow_platform.client.task_instances("e2e_retry", run.run_id)
    }
    assert (tasks["echo"].state, tasks["echo"].try_number) == ("failed", 2)
    assert tasks["again"].state == "upstream_failed"
    log = airflow_platform.root.task_run("e2e_retry", run.run_id, "echo").log.read_text()
    assert "try 1" in log and "try 2" in log
    assert log.count("Traceback (most recent call last)") == 2
    assert "RuntimeError: asked to fail" in log


def test_an_edited_workflow_takes_effect_on_its_next_run(
    airflow_platform: AirflowPlatform, echo_repository: Path
) -> None:
    deploy(airflow_platform, echo_workflow({"value": "first"}), "e2e_edit")
    first = run_dag(airflow_platform, "e2e_edit")

    deploy(airflow_platform, echo_workflow({"value": "second"}), "e2e_edit")
    second = run_dag(airflow_platform, "e2e_edit")

    assert output_of(airflow_platform, first, "again")["text"] == "first"
    assert output_of(airflow_platform, second, "again")["text"] == "second"


def test_a_removed_workflow_disappears_from_airflow(
    airflow_platform: AirflowPlatform, echo_repository: Path, tmp_path: Path
) -> None:
    workflow_file = tmp_path / "removable.json"
    workflow_file.write_text(json.dumps(echo_workflow({"value": "bye"})))
    compiled = flowui_in_project(
        airflow_platform, "workflows", "compile", str(workflow_file), "--json"
    )
    assert compiled.returncode == 0, compiled.stderr
    dag_id = json.loads(compiled.stdout)["dag_id"]
    airflow_platform.client.wait_for_dag(dag_id, timeout=60)

    removed = flowui_in_project(airflow_platform, "workflows", "remove", str(workflow_file))

    assert removed.returncode == 0, removed.stderr
    assert not any(path.exists() for path in dag_paths(airflow_platform.root, dag_id))
    assert airflow_platform.client.get_dag(dag_id) is None
    assert not remove_workflow(dag_id, airflow_platform.root)


def test_a_secret_never_shows_in_dag_files_xcom_outputs_or_logs(
    airflow_platform: AirflowPlatform, echo_repository: Path
) -> None:
    secret = os.environ[E2E_SECRET_NAME]
    deploy(airflow_platform, echo_workflow({"value": "classified"}), "e2e_secret")

    run = run_dag(airflow_platform, "e2e_secret")

    assert run.state == "success"
    assert output_of(airflow_platform, run, "echo")["secret_length"] == len(secret)  # it arrived
    xcom = airflow_platform.client.xcom("e2e_secret", run.run_id, "echo")
    airflow_log = airflow_platform.client.task_log("e2e_secret", run.run_id, "echo", 1).text
    task = airflow_platform.root.task_run("e2e_secret", run.run_id, "echo")
    assert "***" in task.log.read_text()
    places = {
        "xcom": json.dumps(xcom),
        "airflow task log": airflow_log,
        **{str(path): path.read_text() for path in dag_paths(airflow_platform.root, "e2e_secret")},
        **{
            str(path): path.read_text(errors="replace")
            for path in (airflow_platform.root.runs / "e2e_secret").rglob("*")
            if path.is_file()
        },
    }
    assert [where for where, text in places.items() if secret in text] == []
