"""`flowui aws plan | apply | destroy`: what the platform needs on AWS, provisioned from the
project's settings and the operators imported under its root."""

from __future__ import annotations

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


def _desired(settings: Settings) -> list[Any]:
    from flowui.cloud.desired import desired_resources
    from flowui.workflows.catalog import CatalogError, catalog_from_root

    try:
        return desired_resources(settings, catalog_from_root(settings.root))
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    except CatalogError as error:
        fail(str(error))


def _aws_failed(error: Exception) -> NoReturn:
    fail(
        str(error),
        hint="nothing is left half-made that the next `flowui aws apply` does not complete",
    )


def _print_changes(changes: list[Any], json_output: bool, done: bool) -> None:
    if json_output:
        print_json(
            {
                "changes": [
                    {"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail}
                    for c in changes
                ]
            }
        )
        return
    if not changes:
        console.print("No changes: AWS holds what the platform needs.")
        return
    for change in changes:
        console.print(escape(change.describe()), highlight=False)
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
    resources = _desired(settings)
    try:
        changes = plan(resources, read_state(Aws(settings)))
    except AwsError as error:
        _aws_failed(error)
    _print_changes(changes, json_output, done=False)


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
    resources = _desired(settings)

    def progress(line: str) -> None:
        err_console.print(escape(line), highlight=False)

    try:
        changes, state = apply(Aws(settings), resources, progress=None if json_output else progress)
    except AwsError as error:
        _aws_failed(error)
    arns = {key: str(found["arn"]) for key, found in state.items() if "arn" in found}
    variables = airflow_variables(settings, resources, arns)
    target = settings.root.cloud_environment
    write_json_atomically(target, dict(sorted(variables.items())))
    if json_output:
        print_json(
            {
                "changes": [
                    {"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail}
                    for c in changes
                ],
                "environment_file": str(target),
                "variables": variables,
            }
        )
        return
    _print_changes(changes, json_output=False, done=True)
    console.print(
        f"wrote {len(variables)} variables to {escape(str(target))}; a running platform "
        "reads them at its next `flowui up`",
        highlight=False,
    )


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
    _print_changes(changes, json_output, done=not dry_run)
    if kept:
        fail("kept: " + "; ".join(kept))
