"""Building an Airflow DAG from a compiled workflow document (`workflows.compile`).

The DAG file Airflow parses is a constant stub calling `load_dag(__file__)`; everything that
varies is read here from the JSON file next to it, so workflow text is only ever data.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from flowui.airflow.operators import FlowUITask, operator_class
from flowui.storage import FileSystemRoot
from flowui.workflows.compile import DAG_DOCUMENT_FORMAT
from flowui.workflows.spec import Workflow

_PRESETS = {preset: f"@{preset}" for preset in ("hourly", "daily", "weekly", "monthly", "yearly")}


def _schedule(workflow: Workflow) -> str | None:
    schedule = workflow.schedule
    if schedule.type == "cron":
        return schedule.expression
    if schedule.type == "preset":
        return _PRESETS[schedule.preset]
    if schedule.type == "once":
        return "@once"
    return None


def _params(parameters: dict[str, Any]) -> dict[str, Param]:
    params = {}
    for name, schema in parameters.get("properties", {}).items():
        keywords = {key: value for key, value in schema.items() if key != "default"}
        if "default" in schema:
            params[name] = Param(schema["default"], **keywords)
        else:
            params[name] = Param(**keywords)
    return params


def build_dag(document: dict[str, Any]) -> DAG:
    if document.get("format_version") != DAG_DOCUMENT_FORMAT:
        raise ValueError(f"unsupported DAG document format {document.get('format_version')!r}")
    workflow = Workflow.model_validate(document["workflow"])
    root = FileSystemRoot(Path(document["root"]))
    start_date = document["start_date"]
    if workflow.schedule.type == "once":
        start_date = workflow.schedule.at.isoformat()
    dag = DAG(
        dag_id=document["dag_id"],
        description=workflow.name,
        doc_md=workflow.description or None,
        schedule=_schedule(workflow),
        start_date=datetime.fromisoformat(start_date) if start_date else None,
        end_date=workflow.end_date,
        catchup=workflow.catchup,
        max_active_runs=workflow.max_active_runs,
        params=_params(workflow.parameters),
        tags=["flowui", *workflow.tags],
    )
    operators = {}
    for task in workflow.tasks:
        compiled = document["tasks"][task.id]
        # Documents compiled before the container runtimes have no runtime, image or resources.
        runtime = compiled.get("runtime") or task.runtime or "process"
        flowui_task = FlowUITask(
            root=str(root.path),
            repository=compiled["repository"],
            repository_path=compiled["repository_path"],
            operator=compiled["operator"],
            version=compiled.get("version", task.operator.version),
            dependency=compiled["dependency"],
            image=compiled.get("image"),
            literals=compiled["literals"],
            bindings=compiled["bindings"],
            parameters=compiled["parameters"],
            secret_names=compiled["secret_names"],
            resources=compiled.get("resources"),
            workspace_id=document.get("workspace_id"),
        )
        operators[task.id] = operator_class(runtime)(
            task_id=task.id,
            dag=dag,
            flowui_task=flowui_task,
            retries=task.retries,
            retry_delay=timedelta(seconds=task.retry_delay_seconds),
            execution_timeout=(
                timedelta(seconds=task.execution_timeout_seconds)
                if task.execution_timeout_seconds
                else None
            ),
        )
    for task in workflow.tasks:
        upstream = {
            binding["task_id"] for binding in document["tasks"][task.id]["bindings"].values()
        }
        for upstream_id in sorted(upstream | set(task.depends_on)):
            operators[upstream_id] >> operators[task.id]
    return dag


def load_dag(stub_file: str) -> DAG:
    """The DAG of the stub `stub_file`, from its JSON document (same name, .json)."""
    document_path = Path(stub_file).resolve().with_suffix(".json")
    return build_dag(json.loads(document_path.read_text(encoding="utf-8")))
