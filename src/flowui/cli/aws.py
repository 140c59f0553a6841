"""`flowui aws plan | apply | destroy`: what the platform needs on AWS, provisioned from the
project's settings, the operators imported under its root and the server's workspaces."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.markup import escape

from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.cli.project import ProjectDirOption, settings_or_exit
from flowui.config import ConfigError, Settings

# A bad setting is a usage error, as for the other commands that read settings.
EXIT_BAD_CONFIGURATION = 2

app = typer.Typer(
    help="Provision what the platform needs on AWS: ECR, Batch, EFS, IAM (plan, apply, destroy).",
    no_args_is_help=True,
)


def _workspaces(settings: Settings) -> dict[int, str]:
    """The server's workspaces (id: name), read without changing its database; none while the
    embedded SQLite file does not exist yet (the server creates it at its first start)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from flowui.server.database import database_url
    from flowui.server.models import Workspace

    url = make_url(database_url(settings.FLOWUI_DATABASE_URL, settings.root))
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return {}
    # Connecting to a server that does not answer should fail soon, not hang the plan.
    timeout = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, connect_args=timeout)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Workspace.id, Workspace.name)).all()
    except SQLAlchemyError as error:
        fail(
            f"cannot read the workspaces from the server's database {shown}: "
            f"{getattr(error, 'orig', None) or error}",
            hint="check FLOWUI_DATABASE_URL ([platform]) and that the database answers; "
            "`flowui server run` creates and migrates it",
        )
    finally:
        engine.dispose()
    return {int(workspace_id): str(name) for workspace_id, name in rows}


def _desired(settings: Settings) -> tuple[list[Any], dict[int, str]]:
    """The resources the platform needs, and the names of the workspaces among them."""
    from flowui.cloud.desired import desired_resources
    from flowui.workflows.catalog import CatalogError, catalog_from_root

    try:
        catalog = catalog_from_root(settings.root)
        workspaces = _workspaces(settings)
        return desired_resources(settings, catalog, workspaces), workspaces
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    except CatalogError as error:
        fail(str(error))


def _aws_failed(error: Exception) -> NoReturn:
    fail(
        str(error),
        hint="nothing is left half-made that the next `flowui aws apply` does not complete",
    )


def _changes_json(changes: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "action": c.action,
            "kind": c.kind,
            "name": c.name,
            "detail": c.detail,
            "workspace": c.workspace,
        }
        for c in changes
    ]


def _line(change: Any, workspaces: Mapping[int, str] | None) -> str:
    """A change as people read it, with the workspace it is for (`workspaces`: the server's,
    by id; None when the database was not read)."""
    line = change.describe()
    if change.workspace is None:
        return line
    if workspaces is None:
        return f"{line} [workspace {change.workspace}]"
    if change.workspace in workspaces:
        return f"{line} [workspace {change.workspace} {workspaces[change.workspace]!r}]"
    return f"{line} [workspace {change.workspace}, no longer in the server's database]"


def _print_changes(
    changes: list[Any], json_output: bool, done: bool, workspaces: Mapping[int, str] | None
) -> None:
    if json_output:
        print_json({"changes": _changes_json(changes)})
        return
    if not changes:
        console.print("No changes: AWS holds what the platform needs.")
        return
    for change in changes:
        console.print(escape(_line(change, workspaces)), highlight=False)
    counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "delete")}
    verb = "" if done else "to "
    console.print(
        f"{counts['create']} {verb}create, {counts['update']} {verb}change, "
        f"{counts['delete']} {verb}delete",
        highlight=False,
    )


@app.command()
def plan(project: Path | None = ProjectDirOption, json_output: bool = JsonOption) -> None:
    """Print what `flowui aws apply` would create (+), change (~) and delete (-); changes
    nothing.

    Example: [bold]flowui aws plan --project ./platform[/]
    """
    from flowui.cloud.aws import Aws, AwsError, plan, read_state

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    resources, workspaces = _desired(settings)
    try:
        changes = plan(resources, read_state(Aws(settings)))
    except AwsError as error:
        _aws_failed(error)
    _print_changes(changes, json_output, done=False, workspaces=workspaces)


@app.command()
def apply(project: Path | None = ProjectDirOption, json_output: bool = JsonOption) -> None:
    """Create and change what the platform needs on AWS, then write the variables of the
    aws_batch runtime where the platform reads them. A second apply changes nothing.

    Example: [bold]flowui aws apply --project ./platform[/]
    """
    from flowui.cloud.aws import Aws, AwsError, apply
    from flowui.cloud.desired import airflow_variables
    from flowui.storage import write_json_atomically

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    resources, workspaces = _desired(settings)

    def progress(line: str) -> None:
        err_console.print(escape(line), highlight=False)

    try:
        changes, state, kept = apply(
            Aws(settings), resources, progress=None if json_output else progress
        )
    except AwsError as error:
        _aws_failed(error)
    arns = {key: str(found["arn"]) for key, found in state.items() if "arn" in found}
    variables = airflow_variables(settings, resources, arns)
    target = settings.root.cloud_environment
    write_json_atomically(target, dict(sorted(variables.items())))
    if json_output:
        print_json(
            {
                "changes": _changes_json(changes),
                "environment_file": str(target),
                "variables": variables,
                "kept": kept,
            }
        )
    else:
        _print_changes(changes, json_output=False, done=True, workspaces=workspaces)
        console.print(
            f"wrote {len(variables)} variables to {escape(str(target))}; a running platform "
            "reads them at its next `flowui up`",
            highlight=False,
        )
    if kept:
        fail("kept: " + "; ".join(kept))


@app.command()
def destroy(
    project: Path | None = ProjectDirOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be deleted; delete nothing."
    ),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
    json_output: bool = JsonOption,
) -> None:
    """Delete everything FlowUI created on AWS for this project (what carries its
    flowui:project tag) and nothing else.

    Example: [bold]flowui aws destroy --project ./platform --dry-run[/]
    """
    from flowui.cloud.aws import Aws, AwsError, destroy

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    if not dry_run and not yes:
        typer.confirm(f"Delete every AWS resource of project {settings.PROJECT_NAME}?", abort=True)
    try:
        changes, kept = destroy(Aws(settings), dry_run=dry_run)
    except AwsError as error:
        _aws_failed(error)
    if not dry_run:
        settings.root.cloud_environment.unlink(missing_ok=True)
    _print_changes(changes, json_output, done=not dry_run, workspaces=None)
    if kept:
        fail("kept: " + "; ".join(kept))
