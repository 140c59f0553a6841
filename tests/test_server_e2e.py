"""End to end through FlowUI's real server (as `flowui up` starts it) and a real Airflow 3:
import repositories from git at a tag, build and deploy workflows, run them with parameters,
follow them, read logs and results, retry, cancel, delete; secrets set in the server reach the
task and nowhere else."""

from __future__ import annotations

import json
import secrets
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowui.workflows.compile import dag_paths
from tests.support.airflow_platform import AirflowPlatform
from tests.support.operator_repositories import commit_all, git, metadata, write_operator
from tests.support.paths import EXAMPLES

ADMIN_EMAIL = "admin@example.com"
RUN_TIMEOUT = 420.0

PROBE_MODEL = """
from pydantic import BaseModel


class InputModel(BaseModel):
    fail_first_try: bool = False
    sleep_seconds: float = 0


class OutputModel(BaseModel):
    token_length: int


class SecretsModel(BaseModel):
    PROBE_TOKEN: str = ""
"""

PROBE_OPERATOR = """
import time

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class ProbeOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        token = self.secrets.PROBE_TOKEN
        self.logger.info("probe with token %s", token)
        print("printed", token)
        marker = self.results_path / "tried"
        if input_model.fail_first_try and not marker.exists():
            marker.write_text("once")
            raise RuntimeError("first try fails, token " + token)
        time.sleep(input_model.sleep_seconds)
        return OutputModel(token_length=len(token))
"""


def tagged_repository(path: Path, tag: str) -> str:
    git(path, "init", "--quiet", "--initial-branch=main")
    commit_all(path, "operators")
    git(path, "tag", tag)
    return f"file://{path}"


@pytest.fixture(scope="module")
def admin(airflow_platform: AirflowPlatform) -> Iterator[httpx.Client]:
    """The platform's first administrator, signed in to the real server."""
    base_url = airflow_platform.server_url
    login = httpx.post(
        f"{base_url}/api/auth/login",
        data={"username": ADMIN_EMAIL, "password": airflow_platform.password},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def workspace(admin: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A workspace with the example operators (from git at tag v1) and a probe repository."""
    created = admin.post("/api/workspaces", json={"name": "end to end"})
    assert created.status_code == 201, created.text
    base = f"/api/workspaces/{created.json()['id']}"
    examples = tmp_path_factory.mktemp("git") / "flowui_examples"
    shutil.copytree(EXAMPLES / "operators_repository", examples)
    probe = tmp_path_factory.mktemp("git") / "probe"
    probe.mkdir()
    (probe / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "probe"\nVERSION = "1.0"\n')
    write_operator(
        probe,
        "ProbeOperator",
        model=PROBE_MODEL,
        operator=PROBE_OPERATOR,
        meta=metadata("ProbeOperator"),
    )
    for path, tag in ((examples, "v1"), (probe, "v1.0")):
        imported = admin.post(
            f"{base}/repositories", json={"source": tagged_repository(path, tag), "ref": tag}
        )
        assert imported.status_code == 201, imported.text
    return base


def create_and_deploy(admin: httpx.Client, workspace: str, document: dict[str, Any]) -> str:
    created = admin.post(f"{workspace}/workflows", json={"document": document})
    assert created.status_code == 201, created.text
    workflow = f"{workspace}/workflows/{created.json()['id']}"
    deployed = admin.post(f"{workflow}/deploy")
    assert deployed.status_code == 200, deployed.text
    return workflow


def wait_for(condition: Callable[[], Any], what: str, timeout: float = RUN_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return result


def run_path(workflow: str, run_id: str) -> str:
    return f"{workflow}/runs/{urllib.parse.quote(run_id, safe='')}"


def finished_run(admin: httpx.Client, workflow: str, run_id: str) -> dict[str, Any]:
    """The run's detail once it has finished, followed through the API."""

    def finished() -> dict[str, Any] | None:
        detail = admin.get(run_path(workflow, run_id))
        assert detail.status_code == 200, detail.text
        body: dict[str, Any] = detail.json()
        return body if body["state"] in ("success", "failed") else None

    result: dict[str, Any] = wait_for(finished, f"run {run_id}")
    return result


def probe_workflow(name: str, **inputs: Any) -> dict[str, Any]:
    operator = {"repository": "probe", "name": "ProbeOperator", "version": "1.0"}
    return {
        "name": name,
        "tasks": [
            {
                "id": "probe",
                "operator": operator,
                "inputs": {key: {"value": value} for key, value in inputs.items()},
            }
        ],
    }


def test_the_example_ml_workflow_runs_with_a_parameter_and_its_report_can_be_read(
    admin: httpx.Client, workspace: str
) -> None:
    document = json.loads((EXAMPLES / "workflows" / "ml_classification.json").read_text())
    workflow = create_and_deploy(admin, workspace, document)

    started = admin.post(f"{workflow}/runs", json={"parameters": {"model_type": "knn"}})
    assert started.status_code == 201, started.text
    run = finished_run(admin, workflow, started.json()["run_id"])

    assert run["state"] == "success"
    assert {task["task_id"]: task["state"] for task in run["tasks"]} == dict.fromkeys(
        ["load", "split", "train", "evaluate", "report"], "success"
    )
    path = run_path(workflow, run["run_id"])
    train = admin.get(f"{path}/tasks/train/output").json()
    assert train["model_type"] == "knn"
    log = admin.get(f"{path}/tasks/train/log", params={"offset": 0}).json()
    assert "knn" in log["content"] and log["complete"]
    results = admin.get(f"{path}/tasks/report/results").json()
    report = results["display_result"]
    assert report["file_type"] == "html"
    html = admin.get(f"{path}/tasks/report/results/{report['path']}")
    assert html.status_code == 200 and "<html" in html.text.lower()


def test_a_failed_task_is_retried_and_a_secret_reaches_only_the_task(
    admin: httpx.Client, workspace: str, airflow_platform: AirflowPlatform
) -> None:
    value = secrets.token_urlsafe(24)
    stored = admin.put(f"{workspace}/secrets/probe/PROBE_TOKEN", json={"value": value})
    assert stored.status_code == 200 and value not in stored.text
    workflow = create_and_deploy(admin, workspace, probe_workflow("flaky", fail_first_try=True))
    dag_id = admin.get(workflow).json()["dag_id"]

    run_id = admin.post(f"{workflow}/runs", json={}).json()["run_id"]
    failed = finished_run(admin, workflow, run_id)
    retried = admin.post(f"{run_path(workflow, run_id)}/tasks/probe/retry")
    assert retried.status_code == 200, retried.text
    wait_for(lambda: admin.get(run_path(workflow, run_id)).json()["state"] != "failed", "retry")
    succeeded = finished_run(admin, workflow, run_id)

    assert failed["state"] == "failed"
    assert succeeded["state"] == "success"
    assert succeeded["tasks"][0]["try_number"] == 2
    path = run_path(workflow, run_id)
    output = admin.get(f"{path}/tasks/probe/output").json()
    assert output["token_length"] == len(value)  # the task got the server's secret
    log = admin.get(f"{path}/tasks/probe/log", params={"offset": 0}).json()["content"]
    assert "RuntimeError: first try fails" in log and "***" in log
    workspace_id = int(workspace.rsplit("/", 1)[1])
    run_files = list(airflow_platform.root.workspace(workspace_id).dag_runs(dag_id).rglob("*"))
    places = {
        "api log": log,
        "api output": json.dumps(output),
        "api secrets": admin.get(f"{workspace}/secrets").text,
        "xcom": json.dumps(airflow_platform.client.xcom(dag_id, run_id, "probe")),
        "airflow log": airflow_platform.client.task_log(dag_id, run_id, "probe", 2).text,
        **{str(p): p.read_text() for p in dag_paths(airflow_platform.root, dag_id)},
        **{str(p): p.read_text(errors="replace") for p in run_files if p.is_file()},
    }
    assert any(p.name == "log.txt" for p in run_files)  # the workspace's tree has the run
    assert [where for where, text in places.items() if value in text] == []


def test_a_running_workflow_is_cancelled_counts_against_the_limit_and_leaves_airflow_deleted(
    admin: httpx.Client, workspace: str, airflow_platform: AirflowPlatform
) -> None:
    workflow = create_and_deploy(admin, workspace, probe_workflow("sleeper", sleep_seconds=120))
    dag_id = admin.get(workflow).json()["dag_id"]
    run_id = admin.post(f"{workflow}/runs", json={}).json()["run_id"]
    path = run_path(workflow, run_id)
    wait_for(lambda: admin.get(path).json()["tasks"][0]["state"] == "running", "the task to run")
    # The workspace's runs at once count its workflows together, in Airflow's own states.
    limits = f"{workspace}/limits"
    assert admin.put(limits, json={"active_runs": 1}).status_code == 200
    other = create_and_deploy(admin, workspace, probe_workflow("quick"))
    refused = admin.post(f"{other}/runs", json={})
    assert admin.put(limits, json={}).status_code == 200

    cancelled = admin.post(f"{path}/cancel")
    run = finished_run(admin, workflow, run_id)

    assert refused.status_code == 409, refused.text
    assert "has 1 run queued or running, its limit" in refused.json()["error"]["message"]
    assert cancelled.status_code == 200, cancelled.text
    assert run["state"] == "failed"
    assert run["tasks"][0]["state"] != "success"
    assert airflow_platform.client.get_dag(dag_id) is not None
    assert admin.delete(workflow).status_code == 204
    assert airflow_platform.client.get_dag(dag_id) is None
    assert not any(path.exists() for path in dag_paths(airflow_platform.root, dag_id))
    assert admin.get(workflow).status_code == 404
