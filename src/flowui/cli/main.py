"""The `flowui` command: thin Typer commands over the parts of the package."""

from __future__ import annotations

import typer

from flowui import __version__
from flowui.cli import (
    aws,
    datasets,
    deploy,
    operators,
    platform,
    project,
    remote,
    repositories,
    runs,
    server,
    workflows,
)
from flowui.cli.output import flowing_help

app = typer.Typer(
    name="flowui",
    help="FlowUI: write operators, assemble them into workflows, run them on Apache Airflow.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"flowui {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
    server: str | None = typer.Option(
        None,
        "--server",
        metavar="URL",
        envvar=remote.SERVER_VARIABLE,
        help="Send the commands that work on a platform to this one's REST API (default: the "
        "last `flowui login`, unless --project names a local project).",
        show_default=False,
    ),
) -> None:
    """FlowUI: write operators, assemble them into workflows, run them on Apache Airflow."""


app.add_typer(operators.app, name="operators")
app.add_typer(workflows.app, name="workflows")
app.add_typer(server.app, name="server")
app.add_typer(deploy.app, name="deploy")
app.add_typer(aws.app, name="aws")
app.add_typer(datasets.app, name="datasets")
app.add_typer(runs.app, name="runs")
app.add_typer(repositories.app, name="repositories")
project.register(app)
platform.register(app)
remote.register(app)
flowing_help(app)
