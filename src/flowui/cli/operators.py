"""`flowui operators ...`: create, check, organize, dry-run and build operators repositories."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn, TypedDict

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flowui.cli.output import (
    JsonOption,
    console,
    err_console,
    fail,
    print_json,
    print_or_write_json,
)
from flowui.config import DEFAULT_BASE_IMAGE, ConfigError, ContainerEngineName, load_settings
from flowui.operators import images, scaffold
from flowui.operators.dry_run import dry_run
from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS
from flowui.operators.metadata import metadata_json_schema
from flowui.operators.organize import organize_repository
from flowui.operators.validate import OPERATORS_DIR, ValidationReport, validate_repository
from flowui.storage import InvalidIdError, validate_id

app = typer.Typer(
    help="Write, check, organize and build operators repositories, and dry-run their operators.",
    no_args_is_help=True,
)

RepositoryArgument = typer.Argument(
    Path("."), help="The operators repository (default: the current directory)."
)
TimeoutOption = typer.Option(
    DEFAULT_TIMEOUT_SECONDS, "--timeout", min=1, help="Seconds allowed to import one model file."
)


class InspectionCallbacks(TypedDict):
    on_inspecting: Callable[[int], None]
    on_inspected: Callable[[str], None]


@contextmanager
def _inspection_progress() -> Iterator[InspectionCallbacks]:
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
        yield InspectionCallbacks(
            on_inspecting=lambda total: progress.update(task, total=total),
            on_inspected=lambda _name: progress.advance(task),
        )


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
def builtin(json_output: bool = JsonOption) -> None:
    """Where the operators repositories shipped with FlowUI are; give one to --repo, or import
    it like any other (LoadDataset, LoadModel, SaveToS3: S3 and the shared file system).

    Example: [bold]flowui workflows run my.json --repo $(flowui operators builtin)[/]
    """
    from flowui.builtin import STORAGE_OPERATORS

    if json_output:
        print_json({"storage": str(STORAGE_OPERATORS)})
    else:
        typer.echo(str(STORAGE_OPERATORS))


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


# --- images ----------------------------------------------------------------------------------


class BuildDisplay:
    """One status line per group (live on a terminal, a line per change elsewhere) with the
    engine's output streamed above them, on stderr."""

    def __init__(self, groups: list[str]) -> None:
        self.live = err_console.is_terminal
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.fields[group]}[/]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
            disable=not self.live,
        )
        self.tasks: dict[str, TaskID] = {
            group: self.progress.add_task("waiting", total=1, group=group) for group in groups
        }

    def __enter__(self) -> BuildDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def status(self, group: str, text: str) -> None:
        done = text in ("built", "pushed", "used as is (not built)")
        task = self.tasks[group]
        if not self.progress.tasks[task].started:
            self.progress.start_task(task)
        self.progress.update(task, description=escape(text), completed=1 if done else 0)
        if not self.live:
            err_console.print(f"[bold]{group}[/]: {escape(text)}", highlight=False)

    def output(self, group: str, line: str) -> None:
        self.progress.console.print(f"[dim]{escape(group)} | {escape(line)}[/]", highlight=False)


def build_failed(
    error: images.ImageBuildError,
    results: list[images.GroupImageResult],
    json_output: bool,
) -> NoReturn:
    if json_output:
        print_json(
            {"ok": False, "error": error.as_dict(), "images": [r.as_dict() for r in results]}
        )
        raise typer.Exit(1)
    if error.output_tail:
        err_console.print("[dim]... the end of the output:[/]", highlight=False)
        for line in error.output_tail:
            err_console.print(f"[dim]  {escape(line)}[/]", highlight=False)
    fail(str(error), hint=error.hint)


@app.command()
def build(
    repository: Path = RepositoryArgument,
    base_image: str | None = typer.Option(
        None,
        "--base-image",
        help="The image every group's image starts from: Python >= 3.11 with venv (default: "
        f"{images.BASE_IMAGE_VARIABLE}, else {DEFAULT_BASE_IMAGE}).",
        show_default=False,
    ),
    engine: ContainerEngineName | None = typer.Option(
        None,
        "--engine",
        case_sensitive=False,
        help=f"docker or podman (default: {images.ENGINE_VARIABLE}, else docker if its engine "
        "answers, else podman).",
    ),
    groups: list[str] | None = typer.Option(
        None, "--group", "-g", help="Build only this dependency group (repeatable), e.g. group1."
    ),
    push: bool = typer.Option(
        False,
        "--push",
        help="Push the images to the repository's registry: Amazon ECR logs in with AWS "
        f"credentials, another registry with {images.REGISTRY_USERNAME_VARIABLE} and "
        f"{images.REGISTRY_PASSWORD_VARIABLE} from the environment, else the engine's own login.",
    ),
    wheel_cache: Path | None = typer.Option(
        None,
        "--wheel-cache",
        help="Keep downloaded wheels here and use them without asking the package index again "
        f"(a requirement that a cached wheel satisfies is not upgraded; default: "
        f"{images.WHEEL_CACHE_VARIABLE}).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Organize and show the generated Dockerfiles; build nothing."
    ),
    timeout: float = TimeoutOption,
    json_output: bool = JsonOption,
) -> None:
    """Build one container image per dependency group, tagged as .flowui/dependencies_map.json
    says ({registry}/{repository}:{version}-group{N}).

    The repository is organized first, so the images carry its current operators. Each image
    has FlowUI's task part and the group's requirements in /opt/flowui/venv (on PATH) and the
    repository in /opt/flowui/repository. The host downloads the wheels for the base image's
    Python, so the build itself needs no network. A group with a dependencies/Dockerfile_*
    builds on that Dockerfile; a docker_image group is used as is.

    Example: [bold]flowui operators build ./my_operators --base-image python:3.12-slim --push[/]
    """
    try:  # the settings' layers below these options: the environment, defaults
        settings = load_settings(read_config=False)
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=2)
    base_image = base_image or settings.FLOWUI_BASE_IMAGE
    engine = engine or settings.FLOWUI_CONTAINER_ENGINE
    wheel_cache = wheel_cache or settings.FLOWUI_WHEEL_CACHE
    with _inspection_progress() as callbacks:
        organized, changed = images.organize_for_build(repository, timeout=timeout, **callbacks)
    report = organized.report
    if not report.ok or report.config is None or organized.dependencies_map is None:
        if json_output:
            print_json({**_report_as_dict(report), "images": []})
        else:
            _print_problems(report)
            err_console.print("nothing built: fix the problems above first", highlight=False)
        raise typer.Exit(1)
    try:
        plan = images.plan_images(
            report.repository,
            report.config,
            organized.dependencies_map,
            base_image=base_image,
            groups=groups,
        )
    except images.ImageBuildError as error:
        fail(str(error), hint=error.hint, code=2)
    if not json_output:
        if changed:
            console.print(
                "[yellow]organized[/] .flowui/ was missing or out of date: rewritten",
                highlight=False,
            )
        console.print(
            f"{plan.repository_name} {plan.version}: {len(plan.groups)} group(s), "
            f"base image {plan.base_image}",
            highlight=False,
        )
    if dry_run:
        _show_plan(plan, json_output)
        return

    results: list[images.GroupImageResult] = []
    try:
        chosen = images.detect_engine(engine.value if engine else None)
        if not json_output:
            console.print(f"engine: {chosen.name} ({chosen.executable})", highlight=False)
        display: BuildDisplay | None = None
        if not json_output:
            display = BuildDisplay([group.group for group in plan.groups])
        on_status = display.status if display else None
        on_output = display.output if display else None
        live: AbstractContextManager[Any] = display or nullcontext()
        pusher = images.ImagePusher(chosen, on_status=on_status, on_output=on_output)
        with live, pusher:
            if push:  # before building: wrong credentials fail in seconds
                pusher.login([(group.group, group.image) for group in plan.groups if group.built])
            for result in images.build_images(
                plan,
                chosen,
                wheel_cache=wheel_cache,
                on_status=on_status,
                on_output=on_output,
            ):
                results.append(result)
            if push:
                for result in results:
                    if result.status == "built":
                        pusher.push(result)
    except images.ImageBuildError as error:
        build_failed(error, results, json_output)
    if json_output:
        print_json(
            {
                "ok": True,
                "repository": str(plan.repository),
                "organized": changed,
                "engine": chosen.name,
                "base_image": plan.base_image,
                "images": [result.as_dict() for result in results],
            }
        )
        return
    table = Table("group", "image", "result", "seconds")
    for column in table.columns:
        column.overflow = "fold"
    for result in results:
        outcome = "built" if result.status == "built" else "used as is (not built)"
        if result.pushed:
            outcome += ", pushed"
        for note in result.notes:
            outcome += f"; {note}"
        table.add_row(result.group, result.image, outcome, f"{result.seconds:.1f}")
    console.print(table)


def _show_plan(plan: images.ImagePlan, json_output: bool) -> None:
    entries = []
    for group in plan.groups:
        entry: dict[str, Any] = {"group": group.group, "image": group.image, "kind": group.kind}
        if group.built:
            entry["dockerfile"] = images.render_dockerfile(plan, group)
        entries.append(entry)
    if json_output:
        print_json({"ok": True, "base_image": plan.base_image, "images": entries})
        return
    for entry in entries:
        console.rule(f"{entry['group']}: {entry['image']}")
        if "dockerfile" in entry:
            # As it is, never cropped to the terminal: a reader copies it.
            console.print(entry["dockerfile"], markup=False, highlight=False, soft_wrap=True)
        else:
            console.print("a ready-made image: used as is, not built", highlight=False)
