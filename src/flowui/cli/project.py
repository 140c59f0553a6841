"""`flowui init` and `flowui config show`: create a platform project and show its settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.config import (
    CONFIG_FILE_NAME,
    PROJECT_DIR_VARIABLE,
    SETTINGS,
    ConfigError,
    DeployMode,
    Layer,
    Settings,
    find_project_dir,
    load_settings,
    write_config_file,
)
from flowui.storage import InvalidIdError, validate_id

_SOURCE_STYLES = {
    Layer.ENVIRONMENT: "yellow",
    Layer.CLI: "cyan",
    Layer.CONFIG_FILE: "green",
    Layer.DEFAULT: "dim",
}
_ROOT_TREE = "airflow/{dags,logs,plugins}, operators_repositories, dataset, runs"


def _fail(error: ConfigError) -> NoReturn:
    fail(str(error), hint=error.hint)


def settings_or_exit(
    project: Path | None, overrides: Mapping[str, str] | None = None, *, code: int = 1
) -> Settings:
    """The project's settings, or exit with `code` and the error naming the setting at fault."""
    try:
        return load_settings(project, overrides)
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=code)


def init(
    directory: Path | None = typer.Argument(
        None,
        help=f"Project directory, created if missing (default: ${PROJECT_DIR_VARIABLE}, "
        "else the current directory).",
        show_default=False,
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help=f"Project name (default: {SETTINGS['PROJECT_NAME'].default}).",
        show_default=False,
    ),
    deploy_mode: DeployMode | None = typer.Option(
        None,
        "--deploy-mode",
        help=f"Where FlowUI runs (default: {SETTINGS['FLOWUI_DEPLOY_MODE'].default.value}).",
        show_default=False,
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="File-system root, VOLUME_MOUNT_PATH_HOST (default: DIR/fs).",
        show_default=False,
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config.ini."),
    json_output: bool = JsonOption,
) -> None:
    """Create a platform project: its config.ini and its file-system root.

    Secrets are not written: set them in the environment.

    Example: [bold]flowui init ./platform --name demo --deploy-mode local[/]
    """
    project_dir = find_project_dir(directory)
    config_file = project_dir / CONFIG_FILE_NAME
    if name is not None:
        try:
            validate_id(name, "project name")
        except InvalidIdError as error:
            fail(f"--name: {error}", code=2)
    if project_dir.exists() and not project_dir.is_dir():
        fail(f"{project_dir} exists and is not a directory")
    if config_file.exists() and not force:
        fail(
            f"{config_file} already exists; nothing was written",
            hint="pass --force to overwrite it, or choose another directory",
        )

    overrides = {}
    if name is not None:
        overrides["PROJECT_NAME"] = name
    if deploy_mode is not None:
        overrides["FLOWUI_DEPLOY_MODE"] = deploy_mode.value
    if root is not None:
        overrides["VOLUME_MOUNT_PATH_HOST"] = str(root)
    try:
        # The file records the flags and defaults; the host environment stays an override.
        settings = load_settings(project_dir, overrides, environ={}, read_config=False)
    except ConfigError as error:
        _fail(error)

    try:
        project_dir.mkdir(parents=True, exist_ok=True)
        settings.root.create()
        # Written last, so a failure above leaves no config.ini that points at nothing.
        write_config_file(settings, config_file)
    except (OSError, ConfigError) as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else error
        fail(f"cannot create the project in {project_dir}: {message}")

    for spec in SETTINGS.values():
        if os.environ.get(spec.name) and not spec.secret:
            err_console.print(
                f"[dim]note:[/] the environment sets {spec.name}, "
                f"which overrides {CONFIG_FILE_NAME}",
                highlight=False,
            )
    if json_output:
        print_json(
            {
                "project_dir": str(project_dir),
                "config_file": str(config_file),
                "root": str(settings.root.path),
            }
        )
        return
    console.print(
        f"Created FlowUI project [bold]{escape(settings.PROJECT_NAME)}[/] "
        f"(deploy mode {settings.FLOWUI_DEPLOY_MODE.value})",
        highlight=False,
    )
    console.print(f"  project  {escape(str(project_dir))}", highlight=False)
    console.print(f"  config   {escape(str(config_file))}", highlight=False)
    console.print(
        f"  root     {escape(str(settings.root.path))}  ({escape(_ROOT_TREE)})",
        highlight=False,
    )
    console.print(
        f"Next: flowui config show --project {escape(str(project_dir))}",
        highlight=False,
    )


# `--project DIR` of the commands that read the project's settings.
ProjectDirOption = typer.Option(
    None,
    "--project",
    "-p",
    help=f"Project directory (default: ${PROJECT_DIR_VARIABLE}, else the current directory).",
    show_default=False,
)

# `--set KEY=VALUE` of the commands that read the project's settings (parse_set_options).
SetOption = typer.Option(
    None,
    "--set",
    metavar="KEY=VALUE",
    help="Set a value for this command only (beats config.ini, not the environment). "
    "Repeat for several.",
)


def parse_set_options(items: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            fail(f"--set {item!r}: expected KEY=VALUE", code=2)
        overrides[key.strip()] = value
    return overrides


def show_config(
    project: Path | None = ProjectDirOption,
    set_values: list[str] | None = SetOption,
    json_output: bool = JsonOption,
) -> None:
    """Show every effective setting and the layer it came from; secrets are masked.

    Layers, highest first: environment, --set, config.ini, default.

    Example: [bold]flowui config show --project ./platform --set FLOWUI_DEPLOY_MODE=k8s[/]
    """
    overrides = parse_set_options(set_values or [])
    try:
        settings = load_settings(project, overrides)
    except ConfigError as error:
        _fail(error)
    if settings.config_file is None:
        err_console.print(
            f"[dim]note:[/] no {CONFIG_FILE_NAME} in {escape(str(settings.project_dir))}; "
            "create one with `flowui init`",
            highlight=False,
        )

    entries = settings.entries()
    if json_output:
        print_json(
            {
                entry.name: {
                    "value": entry.value,
                    "source": entry.source.value,
                    "secret": entry.secret,
                }
                for entry in entries
            }
        )
        return
    table = Table(title=Text(f"Settings of {settings.project_dir}"), title_justify="left")
    table.add_column("NAME", no_wrap=True)
    table.add_column("VALUE", overflow="fold")  # long paths fold instead of being cut
    table.add_column("SOURCE", no_wrap=True)
    for entry in entries:
        table.add_row(
            entry.name,
            Text(entry.value or ""),
            Text(entry.source.value, style=_SOURCE_STYLES[entry.source]),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `init` and the `config` group to `app`."""
    app.command("init")(init)
    config_app = typer.Typer(
        name="config",
        help="Inspect the settings of a platform project.",
        no_args_is_help=True,
        rich_markup_mode="rich",
    )
    config_app.command("show")(show_config)
    app.add_typer(config_app, name="config")
