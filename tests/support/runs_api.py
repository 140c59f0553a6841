"""The runs API's tests' set-up: a workspace with its members, the report workflow (a
repository of its own, "runs_api_demo") recorded and deployed to the session's Airflow, a run of
it triggered and followed; shared by the runs API's tests and the archived runs' tests."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from flowui.operators.install import install_repository
from flowui.operators.organize import COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE, FLOWUI_DIR
from flowui.server.app import create_app
from flowui.server.context import AirflowConnection, ServerContext
from flowui.server.models import Repository, RepositoryVersion, Workflow, WorkflowVersion
from flowui.server.services.catalog import workspace_catalog
from flowui.storage import FileSystemRoot
from flowui.workflows.compile import compile_workflow, remove_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.airflow_platform import E2E_SECRET_NAME, AirflowPlatform
from tests.support.operator_repositories import make_repository, metadata, write_operator
from tests.support.server_api import ApiUser, sign_up

T = TypeVar("T")
# A safety net, not a measure: on a cold machine, beside make test's other workers, a first run
# also builds its operators' environment.
RUN_TIMEOUT = 300.0
REPOSITORY = "runs_api_demo"  # its own name: other test modules install "demo" in the same root

REPORT_MODEL = f"""
from pydantic import BaseModel


class InputModel(BaseModel):
    name: str
    sleep_seconds: float = 0
    fail_first_try: bool = False


class OutputModel(BaseModel):
    message: str
    report: str


class SecretsModel(BaseModel):
    {E2E_SECRET_NAME}: str = ""
"""

REPORT_OPERATOR = f"""
import time

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class ReportOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        self.logger.info("signed in with token %s", self.secrets.{E2E_SECRET_NAME})
        # The results directory outlives a try: the marker makes only the first try fail.
        marker = self.results_path / "first_try.txt"
        if input_model.fail_first_try and not marker.exists():
            marker.write_text("the first try failed here")
            raise RuntimeError("the first try fails on purpose")
        deadline = time.monotonic() + input_model.sleep_seconds
        tick = 0
        while time.monotonic() < deadline:
            tick += 1
            self.logger.info("tick %d", tick)
            time.sleep(0.2)
        report = self.results_path / "report.html"
        report.write_text("<html><body><h1>Hello " + input_model.name + "</h1></body></html>")
        (self.results_path / "data").mkdir(exist_ok=True)
        (self.results_path / "data" / "numbers.csv").write_text("n\\n1\\n2\\n")
        self.set_display_result(file_path=report)
        return OutputModel(message="hello " + input_model.name, report="report.html")
"""

PARAMETERS = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "sleep_seconds": {"type": "number", "minimum": 0, "default": 0},
        "fail_first_try": {"type": "boolean", "default": False},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def operator(name: str) -> dict[str, str]:
    return {"repository": REPOSITORY, "name": name, "version": "0.1.0"}


DOCUMENT: dict[str, Any] = {
    "name": "report",
    "max_active_runs": 4,
    "parameters": PARAMETERS,
    "tasks": [
        {
            "id": "report",
            "operator": operator("ReportOperator"),
            "inputs": {
                name: {"param": name} for name in ("name", "sleep_seconds", "fail_first_try")
            },
        },
        {
            "id": "greet",
            "operator": operator("HelloOperator"),
            "inputs": {"name": {"from": "report", "output": "message"}},
        },
    ],
}


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = RUN_TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g} s")
        time.sleep(0.2)


# --- setting up: a workspace, its members, a workflow ---------------------------------------


@dataclass(frozen=True)
class Workspace:
    id: int
    owner: ApiUser
    reader: ApiUser
    outsider: ApiUser


def make_workspace(client: TestClient) -> Workspace:
    owner = sign_up(client, "owner@example.org")
    reader = sign_up(client, "reader@example.org")
    outsider = sign_up(client, "outsider@example.org")
    workspace_id = owner.post("/api/workspaces", json={"name": "runs"}).json()["id"]
    invitation = owner.post(
        f"/api/workspaces/{workspace_id}/invitations",
        json={"email": reader.email, "role": "read"},
    )
    assert invitation.status_code == 201, invitation.text
    accepted = reader.post(f"/api/invitations/{invitation.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return Workspace(workspace_id, owner, reader, outsider)


def add_workflow(
    context: ServerContext,
    workspace_id: int,
    document: dict[str, Any],
    *,
    deployed: bool = True,
    dag_id: str | None = None,
) -> Workflow:
    """A workflow row and its version 1, marked deployed (what the workflows API records)."""
    with context.sessions() as session:
        workflow = Workflow(
            workspace_id=workspace_id,
            name=f"{document['name']} {secrets.token_hex(3)}",
            dag_id=dag_id or f"runs_api_{secrets.token_hex(6)}",
            deployed_version=1 if deployed else None,
        )
        workflow.versions.append(WorkflowVersion(number=1, document=document))
        session.add(workflow)
        session.commit()
        return workflow


def add_repository(context: ServerContext, workspace_id: int, installed: Path) -> None:
    """The rows an import leaves for a repository installed in the root."""
    flowui = installed / FLOWUI_DIR
    with context.sessions() as session:
        repository = Repository(
            workspace_id=workspace_id,
            name=installed.name,
            source=str(installed),
            current_version="0.1.0",
        )
        repository.versions.append(
            RepositoryVersion(
                checkout_id=installed.name,
                version="0.1.0",
                compiled_metadata=json.loads((flowui / COMPILED_METADATA_FILE).read_text()),
                dependencies_map=json.loads((flowui / DEPENDENCIES_MAP_FILE).read_text()),
            )
        )
        session.add(repository)
        session.commit()


def deploy(context: ServerContext, workflow: Workflow, airflow: AirflowPlatform) -> None:
    """Compile the workflow's version 1 into the root's DAG folder and wait until Airflow has it."""
    with context.sessions() as session:
        catalog = workspace_catalog(session, context.root, workflow.workspace_id)
    parsed, problems = parse_workflow(workflow.versions[0].document, catalog)
    assert parsed is not None and not problems, problems
    since = datetime.now(UTC)
    compile_workflow(
        parsed, workflow.dag_id, catalog, context.root, workspace_id=workflow.workspace_id
    )
    airflow.client.wait_for_dag(workflow.dag_id, timeout=60, parsed_since=since)


def runs_url(workspace_id: int, workflow_id: int) -> str:
    return f"/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs"


# --- against the real Airflow: the report workflow deployed, and a run of it followed ----------


@dataclass(frozen=True)
class Platform:
    context: ServerContext
    workspace: Workspace
    url: str  # the shared deployed workflow's runs
    dag_id: str
    root: FileSystemRoot  # the workspace's tree, where its runs are


@contextmanager
def report_workflow_platform(airflow_platform: AirflowPlatform, here: Path) -> Iterator[Platform]:
    """A server on the Airflow platform's root, with the report workflow deployed (its
    repository and database in `here`); the workflow is removed from Airflow at the end."""
    source = make_repository(here / "repository")
    (source / "config.toml").write_text(
        f'[repository]\nREPOSITORY_NAME = "{REPOSITORY}"\nVERSION = "0.1.0"\n'
    )
    write_operator(
        source,
        "ReportOperator",
        model=REPORT_MODEL,
        operator=REPORT_OPERATOR,
        meta=metadata("ReportOperator"),
    )
    installed = install_repository(source, airflow_platform.root)
    context = ServerContext.open(
        airflow_platform.root,
        database=f"sqlite:///{here / 'server.db'}",
        secret_key=secrets.token_urlsafe(32),
        airflow=AirflowConnection(
            airflow_platform.base_url, airflow_platform.username, airflow_platform.password
        ),
    )
    dag_ids = []
    try:
        with TestClient(create_app(context)) as client:
            workspace = make_workspace(client)
            add_repository(context, workspace.id, installed)
            workflow = add_workflow(context, workspace.id, DOCUMENT)
            dag_ids.append(workflow.dag_id)
            deploy(context, workflow, airflow_platform)
            url = runs_url(workspace.id, workflow.id)
            tree = airflow_platform.root.workspace(workspace.id)
            yield Platform(context, workspace, url, workflow.dag_id, tree)
    finally:
        for dag_id in dag_ids:
            remove_workflow(dag_id, airflow_platform.root)
            airflow_platform.client.delete_dag(dag_id, missing_ok=True)
        context.close()


def run_url(platform: Platform, run_id: str) -> str:
    return f"{platform.url}/{quote(run_id, safe='')}"


def trigger(platform: Platform, **parameters: Any) -> dict[str, Any]:
    response = platform.workspace.owner.post(platform.url, json={"parameters": parameters})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_for_run(platform: Platform, run_id: str, state: str) -> dict[str, Any]:
    """The run's detail once it has finished in `state` (fails at once in another end state)."""

    def finished() -> dict[str, Any] | None:
        response = platform.workspace.reader.get(run_url(platform, run_id))
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        if detail["state"] in ("success", "failed"):
            assert detail["state"] == state, detail
            return detail
        return None

    return wait_for(finished, f"run {run_id} did not finish")


@dataclass(frozen=True)
class FollowedRun:
    """A successful run, and its report task's log as a client following it read it."""

    run_id: str
    triggered: dict[str, Any]
    detail: dict[str, Any]
    reads: list[tuple[int, dict[str, Any]]]  # (offset asked, answer)


def follow_a_run(platform: Platform) -> FollowedRun:
    """A run of the report workflow, its report task's log read from offsets as a client
    following it reads it until complete, and the run's detail once it has succeeded."""
    triggered = trigger(platform, name="Ada", sleep_seconds=1.5)
    log_url = f"{run_url(platform, triggered['run_id'])}/tasks/report/log"
    reads: list[tuple[int, dict[str, Any]]] = []

    def read_on() -> bool | None:
        offset = reads[-1][1]["next_offset"] if reads else 0
        response = platform.workspace.reader.get(log_url, params={"offset": offset})
        assert response.status_code == 200, response.text
        reads.append((offset, response.json()))
        return True if response.json()["complete"] else None

    wait_for(read_on, "the report task's log was not complete")
    detail = wait_for_run(platform, triggered["run_id"], "success")
    return FollowedRun(triggered["run_id"], triggered, detail, reads)
