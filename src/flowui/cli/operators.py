"""`flowui operators ...`: create, check, organize and dry-run operators repositories."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowui.cli.output import (
    JsonOption,
    console,
    err_console,
    fail,
    print_json,
    print_or_write_json,
)
from flowui.operators import scaffold
from flowui.operators.dry_run import dry_run
from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS
from flowui.operators.metadata import metadata_json_schema
from flowui.operators.organize import organize_repository
from flowui.operators.validate import OPERATORS_DIR, ValidationReport, validate_repository
from flowui.storage import InvalidIdError, validate_id

app = typer.Typer(
    help="Write, check and organize operators repositories, and dry-run their operators.",
    no_args_is_help=True,
)

RepositoryArgument = typer.Argument(
    Path("."), help="The operators repository (default: the current directory)."
)
TimeoutOption = typer.Option(
    DEFAULT_TIMEOUT_SECONDS, "--timeout", min=1, help="Seconds allowed to import one model file."
)


@contextmanager
def _inspection_progress() -> Iterator[dict[str, Callable[..., None]]]:
    """Callbacks that drive a progress bar (on stderr) while model files are imported."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("Importing model files", total=None)
        yield {
            "on_inspecting": lambda total: progress.update(task, total=total),
            "on_inspected": lambda _name: progress.advance(task),
        }


def _print_problems(report: ValidationReport) -> None:
    for problem in report.problems:
        console.print(f"[bold]{escape(str(problem))}[/]", highlight=False)
    console.print(
        f"[red]{len(report.problems)} problem(s)[/] in {report.repository}", highlight=False
    )


@app.command()
def validate(
    repository: Path = RepositoryArgument,
    timeout: float = TimeoutOption,
    json_output: bool = JsonOption,
) -> None:
    """Check a repository against the operators standard and report every problem at once.

    Each problem names its file and, where there is one, its line. Exit code 1 if any.

    Example: [bold]flowui operators validate ./my_operators[/]
    """
    with _inspection_progress() as callbacks:
        report = validate_repository(repository, timeout=timeout, **callbacks)
    if json_output:
        print_json(_report_as_dict(report))
    elif report.ok:
        console.print(
            f"[green]ok[/] {len(report.operators)} operator(s) in {report.repository}",
            highlight=False,
        )
    else:
        _print_problems(report)
    if not report.ok:
        raise typer.Exit(1)


def _report_as_dict(report: ValidationReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "repository": str(report.repository),
        "operators": [operator.name for operator in report.operators],
        "problems": [problem.as_dict() for problem in report.problems],
    }


@app.command()
def organize(
    repository: Path = RepositoryArgument,
    timeout: float = TimeoutOption,
    json_output: bool = JsonOption,
) -> None:
    """Validate, then write .flowui/compiled_metadata.json and .flowui/dependencies_map.json.

    Operators with the same dependency form one dependency group with one image,
    {registry}/{repository}:{version}-group{N}. Nothing is written if validation fails.

    Example: [bold]flowui operators organize ./my_operators[/]
    """
    with _inspection_progress() as callbacks:
        result = organize_repository(repository, timeout=timeout, **callbacks)
    report = result.report
    if json_output:
        print_json(
            {
                **_report_as_dict(report),
                "written": [str(path) for path in result.written],
                "dependencies_map": result.dependencies_map,
            }
        )
    elif not report.ok:
        _print_problems(report)
        console.print("nothing written", highlight=False)
    else:
        table = Table("group", "dependency", "operators", "secrets", "image")
        for column in table.columns:
            column.overflow = "fold"  # never hide part of an image name
        for group, entry in (result.dependencies_map or {}).items():
            dependency = next(
                (f"{kind}: {value}" for kind, value in entry["dependency"].items() if value),
                "flowui runtime only",
            )
            table.add_row(
                group,
                dependency,
                ", ".join(entry["operators"]),
                ", ".join(entry["secrets"]) or "-",
                entry["source_image"],
            )
        console.print(table)
        for path in result.written:
            console.print(f"[green]wrote[/] {path}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def _parse_input(value: str) -> dict[str, Any]:
    source = "--input"
    if value.startswith("@"):
        path = Path(value[1:])
        source = f"--input file {path}"
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as error:
            fail(f"{source}: cannot read: {error.strerror}", code=2)
    try:
        data = json.loads(value)
    except json.JSONDecodeError as error:
        fail(
            f"{source}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            hint='give a JSON object, e.g. --input \'{"name": "value"}\', or @inputs.json',
            code=2,
        )
    if not isinstance(data, dict):
        fail(f"{source}: must be a JSON object of input names to values", code=2)
    return data


@app.command()
def run(
    name: str = typer.Argument(..., help="The operator to run (its folder name)."),
    input_value: str = typer.Option(
        "{}", "--input", "-i", help="The inputs: a JSON object, or @file.json."
    ),
    repository: Path = typer.Option(
        Path("."), "--repo", "-r", help="The operators repository (default: current directory)."
    ),
    root: Path | None = typer.Option(
        None, "--root", help="File-system root to run in (default: a new temporary one)."
    ),
    python: str | None = typer.Option(
        None,
        "--python",
        help="Interpreter of an environment with the operator's dependencies (and flowui).",
    ),
    timeout: float | None = typer.Option(None, "--timeout", min=1, help="Seconds allowed."),
    json_output: bool = JsonOption,
) -> None:
    """Dry-run one operator locally and show its validated output, log and results.

    Secrets declared by the operator's SecretsModel are read from the environment.

    Example: [bold]flowui operators run LoadSampleDatasetOperator -r ./repo -i '{"name": "iris"}'[/]
    """
    try:
        validate_id(name, "operator name")
    except InvalidIdError as error:
        fail(str(error), code=2)
    if not (repository / OPERATORS_DIR / name).is_dir():
        folders = (repository / OPERATORS_DIR).glob("*")
        available = sorted(p.name for p in folders if p.is_dir() and p.name[0] not in "._")
        fail(
            f"no operator {name} in {repository.resolve()}",
            hint=f"available: {', '.join(available)}" if available else "is --repo right?",
            code=2,
        )
    inputs = _parse_input(input_value)

    def echo_log(line: str) -> None:
        err_console.print(f"[dim]{escape(line)}[/]", highlight=False)

    result = dry_run(
        repository, name, inputs, root=root, python=python, timeout=timeout, on_log_line=echo_log
    )
    if json_output:
        print_json(result.as_dict())
    else:
        if result.succeeded:
            console.print(f"[green]success[/] {name}", highlight=False)
            console.print_json(data=result.output)
        else:
            console.print(
                f"[red]failed[/] {name}: {escape(result.error or '')}",
                highlight=False,
            )
        console.print(f"log:     {result.paths.log}", highlight=False)
        console.print(f"results: {result.paths.results}", highlight=False)
        if result.display_result:
            shown = result.paths.directory / result.display_result["path"]
            console.print(f"display: {shown}", highlight=False)
    if not result.succeeded:
        raise typer.Exit(1)


@app.command()
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Print the JSON Schema of an operator's metadata.json.

    Example: [bold]flowui operators schema -o metadata.schema.json[/]
    """
    print_or_write_json(metadata_json_schema(), output)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Where to create the repository."),
    name: str | None = typer.Option(None, "--name", help="REPOSITORY_NAME (default: folder)."),
    registry: str | None = typer.Option(
        None, "--registry", help="Where group images are pushed, e.g. ghcr.io/owner."
    ),
) -> None:
    """Create a new operators repository with an example operator and a GitHub workflow.

    Example: [bold]flowui operators init ./my_operators --registry ghcr.io/me[/]
    """
    try:
        written = scaffold.init_repository(directory, name=name, registry=registry)
    except scaffold.ScaffoldError as error:
        fail(str(error))
    _print_written(written)


@app.command()
def new(
    name: str = typer.Argument(..., help="The operator's class name, e.g. CleanRowsOperator."),
    repository: Path = typer.Option(Path("."), "--repo", "-r", help="The operators repository."),
    requirements_file: str | None = typer.Option(
        None, "--requirements-file", help="Its dependency group: a file in dependencies/."
    ),
) -> None:
    """Scaffold an operator: operator.py, model.py, metadata.json and a test.

    Example: [bold]flowui operators new CleanRowsOperator -r ./my_operators[/]
    """
    try:
        written = scaffold.new_operator(repository, name, requirements_file=requirements_file)
    except scaffold.ScaffoldError as error:
        fail(str(error))
    _print_written(written)


def _print_written(paths: list[Path]) -> None:
    for path in paths:
        console.print(f"[green]created[/] {path}", highlight=False)
