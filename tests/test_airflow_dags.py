"""Compiled workflows as Airflow sees them: the DAG the factory builds, and the provider entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowui import __version__
from flowui.airflow.dag_factory import load_dag
from flowui.airflow.operators import FlowUIOperator
from flowui.operators.install import install_repository
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import DAG_STUB, compile_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.operator_repositories import make_repository

HELLO = {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"}
HOSTILE = "x\"\"\"; import os; os.system('rm -rf /')  # \n'''"


@pytest.fixture
def root(tmp_path: Path) -> FileSystemRoot:
    root = FileSystemRoot(tmp_path / "fs").create()
    install_repository(make_repository(tmp_path / "repo"), root)
    return root


def compiled_dag(root: FileSystemRoot, document: dict[str, Any], dag_id: str = "wf_test") -> Any:
    catalog = catalog_from_root(root)
    workflow, problems = parse_workflow(document, catalog)
    assert workflow is not None and not problems, problems
    compiled = compile_workflow(workflow, dag_id, catalog, root)
    return load_dag(str(compiled.stub_path))


def test_the_dag_carries_the_workflows_schedule_dates_params_tags_and_task_settings(
    root: FileSystemRoot,
) -> None:
    document = {
        "name": "weekly greetings",
        "description": "Says hello every Monday.",
        "tags": ["team-a"],
        "schedule": {"type": "cron", "expression": "0 6 * * 1"},
        "start_date": "2026-01-05T00:00:00+00:00",
        "end_date": "2027-01-01T00:00:00+00:00",
        "catchup": True,
        "max_active_runs": 2,
        "parameters": {
            "type": "object",
            "properties": {"who": {"type": "string", "default": "ada"}},
        },
        "tasks": [
            {"id": "first", "operator": HELLO, "inputs": {"name": {"param": "who"}}},
            {
                "id": "second",
                "operator": HELLO,
                "inputs": {"name": {"from": "first", "output": "message"}},
                "retries": 3,
                "retry_delay_seconds": 7,
                "execution_timeout_seconds": 90,
            },
            {"id": "last", "operator": HELLO, "depends_on": ["first"]},
        ],
    }

    dag = compiled_dag(root, document)

    assert dag.dag_id == "wf_test"
    assert (dag.description, dag.doc_md) == ("weekly greetings", "Says hello every Monday.")
    assert dag.schedule == "0 6 * * 1"
    assert dag.start_date.isoformat() == "2026-01-05T00:00:00+00:00"
    assert dag.end_date.isoformat() == "2027-01-01T00:00:00+00:00"
    assert (dag.catchup, dag.max_active_runs) == (True, 2)
    assert set(dag.tags) == {"flowui", "team-a"}
    assert dag.params["who"] == "ada"
    second = dag.get_task("second")
    assert isinstance(second, FlowUIOperator)
    assert (second.retries, second.retry_delay) == (3, timedelta(seconds=7))
    assert second.execution_timeout == timedelta(seconds=90)
    assert second.flowui_task.bindings == {"name": {"task_id": "first", "output": "message"}}
    assert dag.get_task("first").flowui_task.parameters == {"name": "who"}
    assert dag.get_task("first").downstream_task_ids == {"second", "last"}


@pytest.mark.parametrize(
    ("schedule", "airflow_schedule"),
    [
        ({"type": "none"}, None),
        ({"type": "preset", "preset": "daily"}, "@daily"),
        ({"type": "once", "at": "2030-02-03T04:05:00+00:00"}, "@once"),
    ],
)
def test_schedules_become_airflow_timetables(
    root: FileSystemRoot, schedule: dict[str, Any], airflow_schedule: str | None
) -> None:
    document = {"name": "w", "schedule": schedule, "tasks": [{"id": "t", "operator": HELLO}]}

    dag = compiled_dag(root, document)

    assert dag.schedule == airflow_schedule
    if schedule["type"] == "once":
        assert dag.start_date.isoformat() == "2030-02-03T04:05:00+00:00"


def test_workflow_text_never_becomes_python_source(root: FileSystemRoot) -> None:
    document = {
        "name": HOSTILE,
        "description": HOSTILE,
        "tags": [HOSTILE[:90]],
        "tasks": [{"id": "t", "operator": HELLO, "inputs": {"name": {"value": HOSTILE}}}],
    }

    dag = compiled_dag(root, document, "wf_hostile")

    stub = root.airflow_dags / "wf_hostile.py"
    assert stub.read_text() == DAG_STUB
    assert dag.description == HOSTILE  # carried as data
    assert dag.get_task("t").flowui_task.literals == {"name": HOSTILE}
    stored = json.loads((root.airflow_dags / "wf_hostile.json").read_text())
    assert stored["workflow"]["name"] == HOSTILE


def test_a_document_of_another_format_is_refused_by_name(root: FileSystemRoot) -> None:
    compiled_dag(root, {"name": "w", "tasks": [{"id": "t", "operator": HELLO}]}, "wf_old")
    document_path = root.airflow_dags / "wf_old.json"
    document = json.loads(document_path.read_text())
    document_path.write_text(json.dumps({**document, "format_version": 99}))

    with pytest.raises(ValueError, match="unsupported DAG document format 99"):
        load_dag(str(root.airflow_dags / "wf_old.py"))


def test_airflow_lists_flowui_among_its_providers(tmp_path: Path) -> None:
    airflow = Path(sys.executable).parent / "airflow"
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
    }

    listed = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )

    assert listed.returncode == 0, listed.stderr
    providers = {p["package_name"]: p for p in json.loads(listed.stdout)}
    assert providers["flowui"]["version"] == __version__
