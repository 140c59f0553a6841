"""`flowui workflows ...`: validate, compile, run and remove workflow documents."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from jsonschema import Draft202012Validator
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from flowui.cli.output import (
    JsonOption,
    console,
    err_console,
    fail,
    print_json,
    print_or_write_json,
)
from flowui.cli.project import ProjectDirOption, settings_or_exit
from flowui.cli.remote import RemoteWorkspaceOption, ServerOption, needs_server, remote_platform
from flowui.config import Settings
from flowui.operators.install import InstallError, install_repository
from flowui.platform import Platform, ensure_admin_credentials, read_state
from flowui.server.airflow_client import AirflowApiError, AirflowClient, DagRun, TaskInstance
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import CatalogError, OperatorCatalog, catalog_from_root
from flowui.workflows.compile import CompiledDag, compile_workflow, remove_workflow
from flowui.workflows.runtimes import (
    platform_image_lookup,
    runtime_environment,
    runtime_problems,
)
from flowui.workflows.spec import Workflow, workflow_json_schema
from flowui.workflows.validate import WorkflowError, parse_workflow

app = typer.Typer(
    help="Validate, compile, run and remove workflows (JSON documents of operator tasks); "
    "on a remote platform: list, validate, deploy and run.",
    no_args_is_help=True,
)

WorkflowFileArgument = typer.Argument(..., help="The workflow document (JSON).")
RepositoryOption = typer.Option(
    None,
    "--repo",
    "-r",
    help="An operators repository to install into the root first (repeatable).",
)


def dag_id_for_file(path: Path) -> str:
    """A DAG id FlowUI makes for a workflow file: readable, and unique to the file's path."""
    readable = re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_")[:60] or "workflow"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"wf_{readable}_{digest}"


def read_workflow_document(path: Path) -> dict[str, Any]:
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
        # Progress goes to stderr: stdout is for results (`--json` output in particular).
        with err_console.status(f"Installing operators repository {repository}"):
            try:
                installed = install_repository(repository, root)
            except InstallError as error:
                fail(str(error))
        err_console.print(f"[green]installed[/] {repository} -> {installed}", highlight=False)


def report_problems(path: Path, problems: list[WorkflowError], json_output: bool) -> NoReturn:
    if json_output:
        print_json({"ok": False, "errors": [problem.as_dict() for problem in problems]})
    else:
        for problem in problems:
            where = escape(f"{path}#{problem.pointer}")
            console.print(f"[bold]{where}[/]: {escape(problem.message)}", highlight=False)
        console.print(f"[red]{len(problems)} error(s)[/] in {path}", highlight=False)
    raise typer.Exit(1)


def validated_workflow(path: Path, root: FileSystemRoot, *, json_output: bool = False) -> Workflow:
    """The workflow of `path`, checked against the root's operators; exits on any error."""
    document = read_workflow_document(path)
    try:
        catalog = catalog_from_root(root)
    except CatalogError as error:
        fail(str(error))
    workflow, problems = parse_workflow(document, catalog)
    if workflow is None or problems:
        report_problems(path, problems, json_output)
    return workflow


def deployable_workflow(
    path: Path, settings: Settings, *, json_output: bool = False
) -> tuple[Workflow, OperatorCatalog]:
    """The workflow of `path`, valid, and each task's runtime ready to run it (in the
    platform's FLOWUI_DEFAULT_RUNTIME if it names none); exits on any problem."""
    root = settings.root
    workflow = validated_workflow(path, root, json_output=json_output)
    catalog = catalog_from_root(root)
    try:
        environ = runtime_environment(root)
    except ValueError as error:
        fail(str(error), hint="run `flowui aws apply` to write it again")
    problems = runtime_problems(
        workflow,
        catalog,
        default_runtime=settings.FLOWUI_DEFAULT_RUNTIME.value,
        environ=environ,
        image_available=platform_image_lookup(os.environ),
    )
    if problems:
        report_problems(path, problems, json_output)
    return workflow, catalog


def _compile(
    path: Path, settings: Settings, workflow: Workflow, catalog: OperatorCatalog
) -> CompiledDag:
    return compile_workflow(
        workflow,
        dag_id_for_file(path),
        catalog,
        settings.root,
        default_runtime=settings.FLOWUI_DEFAULT_RUNTIME.value,
    )


@app.command()
def validate(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectDirOption,
    repositories: list[Path] | None = RepositoryOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Check a workflow against the operators installed in the platform's root, or on a
    remote platform against its workspace's operators (nothing is saved there).

    Every error is reported at once, with a JSON pointer into the document.

    Example: [bold]flowui workflows validate examples/workflows/ml_classification.json[/]
    """
    remote = remote_platform(server, project, workspace)
    if remote is not None:
        from flowui.cli import remote_workflows

        remote_workflows.validate(remote, path, json_output)
        return
    root = settings_or_exit(project).root.create()
    _install(repositories, root)
    workflow = validated_workflow(path, root, json_output=json_output)
    if json_output:
        print_json({"ok": True, "errors": [], "tasks": [task.id for task in workflow.tasks]})
    else:
        console.print(f"[green]ok[/] {workflow.name}: {len(workflow.tasks)} task(s)")


@app.command("compile")
def compile_command(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectDirOption,
    repositories: list[Path] | None = RepositoryOption,
    json_output: bool = JsonOption,
) -> None:
    """Validate a workflow and write its DAG into Airflow's DAG folder.

    Compiling again after an edit rewrites the DAG; the next run uses it. Tasks that name no
    runtime run in FLOWUI_DEFAULT_RUNTIME; each task's runtime must be ready for it (its image
    built, its Batch job definition set).

    Example: [bold]flowui workflows compile my_workflow.json[/]
    """
    settings = settings_or_exit(project)
    _install(repositories, settings.root.create())
    workflow, catalog = deployable_workflow(path, settings, json_output=json_output)
    compiled = _compile(path, settings, workflow, catalog)
    if json_output:
        print_json({"dag_id": compiled.dag_id, "dag_file": str(compiled.stub_path)})
    else:
        console.print(
            f"[green]compiled[/] {compiled.dag_id}: {compiled.stub_path}", highlight=False
        )


@app.command("list")
def list_workflows(
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """The workflows of a remote platform's workspace: version, deployed version, paused, next
    run.

    Example: [bold]flowui workflows list --server https://flowui.example.com --workspace 2[/]
    """
    remote = remote_platform(server, project, workspace)
    if remote is None:
        needs_server("workflows list")
    from flowui.cli import remote_workflows

    remote_workflows.list_workflows(remote, json_output)


@app.command()
def deploy(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Save a workflow document on a remote platform (a new version of the workflow of its
    name, or a new workflow) and deploy it to the platform's Airflow.

    Problems of the document are reported as `validate` does. Locally, `flowui workflows
    compile` writes the DAG into the project's root.

    Example: [bold]flowui workflows deploy my_workflow.json --workspace 2[/]
    """
    remote = remote_platform(server, project, workspace)
    if remote is None:
        needs_server("workflows deploy")
    from flowui.cli import remote_workflows

    remote_workflows.print_deployed(remote_workflows.deploy(remote, path, json_output), json_output)


@app.command()
def remove(
    path: Path = WorkflowFileArgument,
    project: Path | None = ProjectDirOption,
) -> None:
    """Remove a workflow's DAG: its files, and from Airflow if the platform runs.

    The runs' logs, outputs and results stay in the root.

    Example: [bold]flowui workflows remove my_workflow.json[/]
    """
    settings = settings_or_exit(project)
    dag_id = dag_id_for_file(path)
    if not remove_workflow(dag_id, settings.root):
        fail(f"{path} has no compiled DAG ({dag_id}) in {settings.root.airflow_dags}")
    state = read_state(settings)
    if state is not None and state.components_alive:
        client, api_url = _client(settings)
        with client:
            try:
                client.delete_dag(dag_id, missing_ok=True)
            except AirflowApiError as error:
                fail(f"removed the DAG files, but Airflow ({api_url}) answered: {error}")
    console.print(f"[green]removed[/] {dag_id}", highlight=False)


@app.command()
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Print the JSON Schema of a workflow document.

    Example: [bold]flowui workflows schema -o workflow.schema.json[/]
    """
    print_or_write_json(workflow_json_schema(), output)


STATE_STYLES = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "red",
    "running": "cyan",
    "up_for_retry": "yellow",
    "queued": "blue",
    "scheduled": "blue",
    "skipped": "dim",
}


def parse_parameters(values: list[str] | None, workflow: Workflow) -> dict[str, Any]:
    """`--param name=value` pairs, JSON-decoded where they are JSON, checked against the schema."""
    conf: dict[str, Any] = {}
    known = workflow.parameters.get("properties", {})
    for item in values or []:
        name, separator, text = item.partition("=")
        if not separator or not name:
            fail(f"--param {item!r}: expected NAME=VALUE", code=2)
        if name not in known:
            fail(
                f"--param {name}: the workflow has no parameter {name!r}",
                hint=f"its parameters: {', '.join(known) or 'none'}",
                code=2,
            )
        try:
            conf[name] = json.loads(text)
        except json.JSONDecodeError:
            conf[name] = text  # plain words need no quotes on the command line
    defaults = {name: schema["default"] for name, schema in known.items() if "default" in schema}
    problems = []
    for error in Draft202012Validator(workflow.parameters).iter_errors({**defaults, **conf}):
        where = ".".join(str(part) for part in error.absolute_path)
        problems.append(f"--param {where}: {error.message}" if where else error.message)
    if problems:
        fail(
            "invalid run parameters: " + "; ".join(problems),
            hint="give each as --param NAME=VALUE",
            code=2,
        )
    return conf


def _client(project_settings: Settings) -> tuple[AirflowClient, str]:
    state = read_state(project_settings)
    if state is None or not state.components_alive:
        fail(
            "the platform is not running",
            hint="start it with `make up` (or `flowui up`) in another terminal",
        )
    platform = Platform.attach(project_settings)
    assert platform is not None
    credentials = ensure_admin_credentials(project_settings)
    return AirflowClient(platform.api_url, credentials.username, credentials.password), (
        platform.api_url
    )


def _wait_for_compiled_dag(
    client: AirflowClient, compiled: CompiledDag, since: datetime, timeout: float
) -> None:
    """Wait until Airflow has parsed the DAG as compiled now (not an older version of it)."""
    try:
        dag = client.wait_for_dag(compiled.dag_id, timeout, interval=0.3, parsed_since=since)
    except TimeoutError as error:
        fail(str(error), hint="is the dag-processor running? see `flowui status`")
    if dag.is_paused:
        client.patch_dag(compiled.dag_id, is_paused=False)


def _tasks_table(run: DagRun, tasks: list[TaskInstance]) -> Table:
    table = Table(title=f"{run.dag_id}  {run.run_id}  [bold]{run.state}[/]")
    for column in ("task", "state", "try", "seconds"):
        table.add_column(column)
    for task in sorted(tasks, key=lambda t: (t.start_date is None, t.start_date, t.task_id)):
        state = task.state or "none"
        style = STATE_STYLES.get(state, "")
        duration = f"{task.duration:.1f}" if task.duration is not None else ""
        table.add_row(task.task_id, f"[{style}]{state}[/]", str(task.try_number), duration)
    return table


@app.command()
def run(
    path: Path = WorkflowFileArgument,
    params: list[str] | None = typer.Option(
        None, "--param", "-P", help="A run parameter, NAME=VALUE (JSON or plain text); repeatable."
    ),
    project: Path | None = ProjectDirOption,
    repositories: list[Path] | None = RepositoryOption,
    timeout: float = typer.Option(3600, "--timeout", min=1, help="Seconds to wait for the run."),
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Validate, compile and run a workflow on the running platform, and follow it live.

    Prints where each task's output, log and results are; exit code 1 if the run failed. On a
    remote platform, the document is saved as the workflow of its name, deployed and run there,
    and each task's state change is printed until the run ends.

    Example: [bold]flowui workflows run examples/workflows/ml_classification.json
    --repo examples/operators_repository --param model_type=knn[/]
    """
    remote = remote_platform(server, project, workspace)
    if remote is not None:
        from flowui.cli import remote_workflows

        if repositories:
            fail("--repo installs into a local root: use `flowui repositories import`", code=2)
        remote_workflows.run(remote, path, params, timeout, json_output)
        return
    settings = settings_or_exit(project)
    root = settings.root.create()
    _install(repositories, root)
    workflow, catalog = deployable_workflow(path, settings, json_output=json_output)
    conf = parse_parameters(params, workflow)
    client, api_url = _client(settings)
    with client:
        since = datetime.now(UTC)
        compiled = _compile(path, settings, workflow, catalog)
        try:
            with err_console.status(f"Waiting for Airflow to load {compiled.dag_id}"):
                _wait_for_compiled_dag(client, compiled, since, timeout=120)
            dag_run = client.trigger_run(compiled.dag_id, conf)
            deadline = time.monotonic() + timeout
            tasks: list[TaskInstance] = []
            live_console = err_console if json_output else console
            with Live(console=live_console, transient=json_output, auto_refresh=False) as live:
                while True:
                    dag_run = client.get_run(compiled.dag_id, dag_run.run_id)
                    tasks = client.task_instances(compiled.dag_id, dag_run.run_id)
                    live.update(_tasks_table(dag_run, tasks), refresh=True)
                    if dag_run.finished:
                        break
                    if time.monotonic() > deadline:
                        fail(f"run {dag_run.run_id} did not finish within {timeout:g} s")
                    time.sleep(0.5)
        except AirflowApiError as error:
            fail(f"Airflow ({api_url}) answered: {error}")
    if not json_output:
        console.print()
    _report_run(root, dag_run, tasks, json_output)
    if dag_run.state != "success":
        raise typer.Exit(1)


def _report_run(
    root: FileSystemRoot, dag_run: DagRun, tasks: list[TaskInstance], json_output: bool
) -> None:
    report = []
    for task in tasks:
        paths = root.task_run(dag_run.dag_id, dag_run.run_id, task.task_id)
        output = json.loads(paths.output.read_text()) if paths.output.is_file() else None
        report.append(
            {
                "task_id": task.task_id,
                "state": task.state,
                "try_number": task.try_number,
                "output": output,
                "output_file": str(paths.output),
                "log": str(paths.log),
                "results": str(paths.results),
            }
        )
    if json_output:
        print_json(
            {
                "dag_id": dag_run.dag_id,
                "run_id": dag_run.run_id,
                "state": dag_run.state,
                "tasks": report,
            }
        )
        return
    for entry in report:
        style = STATE_STYLES.get(str(entry["state"]), "")
        console.print(f"[{style}]{entry['state']}[/] [bold]{entry['task_id']}[/]", highlight=False)
        console.print(f"  log:     {entry['log']}", highlight=False)
        if entry["output"] is not None:
            console.print(f"  output:  {entry['output_file']}", highlight=False)
            console.print(f"  results: {entry['results']}", highlight=False)
    console.print(f"run {dag_run.run_id}: [bold]{dag_run.state}[/]", highlight=False)
