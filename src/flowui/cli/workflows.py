"""`flowui workflows ...`: validate, compile, run and remove workflow documents."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from flowui.cli.output import JsonOption, console, fail, print_json
from flowui.config import ConfigError, Settings, find_project_dir, load_settings
from flowui.operators.install import InstallError, install_repository
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import CatalogError, catalog_from_root
from flowui.workflows.compile import compile_workflow, remove_workflow
from flowui.workflows.spec import Workflow, workflow_json_schema
from flowui.workflows.validate import validate_workflow

app = typer.Typer(
    help="Validate, compile, run and remove workflows (JSON documents of operator tasks).",
    no_args_is_help=True,
)

WorkflowFileArgument = typer.Argument(..., help="The workflow document (JSON).")
ProjectOption = typer.Option(
    None, "--project", help="The platform project (default: $FLOWUI_PROJECT_DIR or here)."
)
RepositoryOption = typer.Option(
    None,
    "--repo",
    help="An operators repository to install into the root first (repeatable).",
)


def dag_id_for_file(path: Path) -> str:
    """A DAG id FlowUI makes for a workflow file: readable, and unique to the file's path."""
    readable = re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_")[:60] or "workflow"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"wf_{readable}_{digest}"


def _settings(project: Path | None) -> Settings:
    try:
        return load_settings(find_project_dir(project))
    except ConfigError as error:
        fail(str(error), hint=error.hint)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{path}: cannot read: {error.strerror}", code=2)
    except json.JSONDecodeError as error:
        fail(f"{path}:{error.lineno}: invalid JSON: {error.msg}", code=2)
    if not isinstance(document, dict):
        fail(f"{path}: a workflow is a JSON object", code=2)
    return document


def _install(repositories: list[Path] | None, root: FileSystemRoot) -> None:
    for repository in repositories or []:
        with console.status(f"Installing operators repository {repository}"):
            try:
                installed = install_repository(repository, root)
            except InstallError as error:
                fail(str(error))
        console.print(f"[green]installed[/] {repository} -> {installed}", highlight=False)


def validated_workflow(path: Path, root: FileSystemRoot, *, json_output: bool = False) -> Workflow:
    """The workflow of `path`, checked against the root's operators; exits on any error."""
    document = _read_document(path)
    try:
        catalog = catalog_from_root(root)
    except CatalogError as error:
        fail(str(error))
    errors = validate_workflow(document, catalog)
    if errors:
        if json_output:
            print_json({"ok": False, "errors": [error.as_dict() for error in errors]})
        else:
            for error in errors:
                where = escape(f"{path}#{error.pointer}")
                console.print(f"[bold]{where}[/]: {escape(error.message)}", highlight=False)
            console.print(f"[red]{len(errors)} error(s)[/] in {path}", highlight=False)
        raise typer.Exit(1)
    return Workflow.model_validate(document)


@app.command()
def validate(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectOption,
    repositories: list[Path] | None = RepositoryOption,
    json_output: bool = JsonOption,
) -> None:
    """Check a workflow against the operators installed in the platform's root.

    Every error is reported at once, with a JSON pointer into the document.

    Example: [bold]flowui workflows validate examples/workflows/ml_classification.json[/]
    """
    root = _settings(project).root.create()
    _install(repositories, root)
    workflow = validated_workflow(path, root, json_output=json_output)
    if json_output:
        print_json({"ok": True, "errors": [], "tasks": [task.id for task in workflow.tasks]})
    else:
        console.print(f"[green]ok[/] {workflow.name}: {len(workflow.tasks)} task(s)")


@app.command("compile")
def compile_command(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectOption,
    repositories: list[Path] | None = RepositoryOption,
    json_output: bool = JsonOption,
) -> None:
    """Validate a workflow and write its DAG into Airflow's DAG folder.

    Compiling again after an edit rewrites the DAG; the next run uses it.

    Example: [bold]flowui workflows compile my_workflow.json[/]
    """
    root = _settings(project).root.create()
    _install(repositories, root)
    workflow = validated_workflow(path, root, json_output=json_output)
    compiled = compile_workflow(workflow, dag_id_for_file(path), catalog_from_root(root), root)
    if json_output:
        print_json({"dag_id": compiled.dag_id, "dag_file": str(compiled.stub_path)})
    else:
        console.print(
            f"[green]compiled[/] {compiled.dag_id}: {compiled.stub_path}", highlight=False
        )


@app.command()
def remove(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectOption,
) -> None:
    """Remove a workflow's DAG from Airflow's DAG folder (its runs' files stay).

    Example: [bold]flowui workflows remove my_workflow.json[/]
    """
    root = _settings(project).root
    dag_id = dag_id_for_file(path)
    if not remove_workflow(dag_id, root):
        fail(f"{path} has no compiled DAG ({dag_id}) in {root.airflow_dags}")
    console.print(f"[green]removed[/] {dag_id}", highlight=False)


@app.command()
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Print the JSON Schema of a workflow document.

    Example: [bold]flowui workflows schema -o workflow.schema.json[/]
    """
    text = json.dumps(workflow_json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"[green]wrote[/] {output}", highlight=False)
