"""Compiling a workflow into Airflow's DAG folder: a JSON document plus a constant stub.

No text of the workflow ever becomes Python source: the stub is the same bytes for every DAG
and reads the JSON file next to it (`flowui.airflow.dag_factory`). Editing a workflow rewrites
the JSON and touches the stub so Airflow re-parses it; removing it deletes both files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowui.storage import FileSystemRoot, validate_id, write_json_atomically, write_text_atomically
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.spec import BindingInput, LiteralInput, ParameterInput, Workflow

DAG_DOCUMENT_FORMAT = 1
# Both words appear so Airflow's safe-mode file filter parses the stub.
DAG_STUB = '''"""A FlowUI workflow: this Airflow DAG is built from the JSON file beside it."""

from flowui.airflow.dag_factory import load_dag

dag = load_dag(__file__)
'''


class CompileError(ValueError):
    """The workflow cannot be compiled (it was not validated against this catalog)."""


@dataclass(frozen=True)
class CompiledDag:
    dag_id: str
    document_path: Path
    stub_path: Path


def dag_paths(root: FileSystemRoot, dag_id: str) -> tuple[Path, Path]:
    """The JSON document and the stub of a DAG."""
    name = validate_id(dag_id, "dag id")
    return root.airflow_dags / f"{name}.json", root.airflow_dags / f"{name}.py"


def build_dag_document(
    workflow: Workflow,
    dag_id: str,
    catalog: OperatorCatalog,
    root: FileSystemRoot,
    *,
    compiled_at: datetime,
    workspace_id: int | None = None,
    default_runtime: str = "process",
) -> dict[str, Any]:
    """Everything the DAG factory needs, resolved now so tasks never consult the catalog.

    With a `workspace_id` (a workflow of the platform server), tasks fetch their secrets from
    the server for that workspace; without one, from the worker's environment. Tasks that name
    no runtime run in `default_runtime` (the workspace's or the platform's).
    """
    tasks: dict[str, Any] = {}
    for task in workflow.tasks:
        ref = task.operator
        operator = catalog.find(ref.repository, ref.name, ref.version)
        if operator is None:
            raise CompileError(
                f"task {task.id}: operator {ref.repository}/{ref.name} {ref.version} is unknown"
            )
        resources = task.resources.model_dump() if task.resources else None
        tasks[task.id] = {
            "repository": ref.repository,
            "repository_path": str(operator.repository_path),
            "operator": ref.name,
            "version": ref.version,
            "runtime": task.runtime or default_runtime,
            "image": operator.group_entry.get("source_image"),
            "resources": resources or operator.metadata.get("container_resources"),
            "dependency": operator.group_entry["dependency"],
            "secret_names": operator.secret_names,
            "literals": {
                name: source.value
                for name, source in task.inputs.items()
                if isinstance(source, LiteralInput)
            },
            "bindings": {
                name: {"task_id": source.from_task, "output": source.output}
                for name, source in task.inputs.items()
                if isinstance(source, BindingInput)
            },
            "parameters": {
                name: source.param
                for name, source in task.inputs.items()
                if isinstance(source, ParameterInput)
            },
        }
    start_date = workflow.start_date
    if start_date is None and workflow.schedule.type in ("cron", "preset"):
        # A schedule needs a start; from the compile time on, since catchup has nothing earlier.
        start_date = compiled_at.replace(second=0, microsecond=0)
    return {
        "format_version": DAG_DOCUMENT_FORMAT,
        "dag_id": dag_id,
        "root": str(root.path),
        "workspace_id": workspace_id,
        "start_date": start_date.isoformat() if start_date else None,
        "workflow": workflow.model_dump(mode="json", by_alias=True),
        "tasks": tasks,
    }


def compile_workflow(
    workflow: Workflow,
    dag_id: str,
    catalog: OperatorCatalog,
    root: FileSystemRoot,
    *,
    workspace_id: int | None = None,
    default_runtime: str = "process",
) -> CompiledDag:
    """Write (or rewrite) the DAG of a validated workflow into the root's DAG folder."""
    document_path, stub_path = dag_paths(root, dag_id)
    document = build_dag_document(
        workflow,
        dag_id,
        catalog,
        root,
        compiled_at=datetime.now(UTC),
        workspace_id=workspace_id,
        default_runtime=default_runtime,
    )
    # JSON first: a stub never points at a missing or half-written document.
    write_json_atomically(document_path, document)
    if not stub_path.is_file() or stub_path.read_text(encoding="utf-8") != DAG_STUB:
        write_text_atomically(stub_path, DAG_STUB)
    else:
        os.utime(stub_path)  # Airflow re-parses files by modification time
    return CompiledDag(dag_id, document_path, stub_path)


def remove_workflow(dag_id: str, root: FileSystemRoot) -> bool:
    """Delete a DAG's files; return whether there was anything to delete."""
    document_path, stub_path = dag_paths(root, dag_id)
    existed = stub_path.exists() or document_path.exists()
    stub_path.unlink(missing_ok=True)  # stub first: Airflow stops parsing before the JSON goes
    document_path.unlink(missing_ok=True)
    return existed
