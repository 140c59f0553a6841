"""How every command speaks: human output on stdout, errors on stderr, `--json` for scripts."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# Soft wrap: paths and messages stay on one line, so they can be copied and grepped.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def print_json(data: Any) -> None:
    """Write `data` as JSON on stdout, unstyled, so scripts can parse it."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print an error (and how to fix it) on stderr and exit with `code`.

    Messages are plain text, never markup: "[project]" in one is shown as written.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)
    raise typer.Exit(code)


def print_or_write_json(document: Any, output: Path | None) -> None:
    """A JSON document (a schema, say) on stdout, or written whole to `output`."""
    from flowui.storage import write_text_atomically

    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomically(output, text)
        console.print(f"[green]wrote[/] {output}", highlight=False)


@contextmanager
def transfer_progress(disabled: bool = False) -> Iterator[Callable[[str, int], None]]:
    """A progress display of copies on stderr (bytes and speed per copy); yields the callback
    `(what is copied, bytes copied since the last call)`."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=disabled,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(what: str, amount: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(escape(what), total=None)
            progress.advance(tasks[what], amount)

        yield advance


def flowing_help(app: typer.Typer) -> None:
    """Give every command of `app` (and of its groups) its docstring as paragraphs that flow:
    the source's line breaks inside a paragraph would otherwise break the help mid-sentence
    in any terminal wider or narrower than the source."""
    for command in app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = _paragraphs(inspect.getdoc(command.callback) or "")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            flowing_help(group.typer_instance)


def _paragraphs(text: str) -> str:
    """`text` with each paragraph on one line; list items and blank lines are kept."""
    lines: list[str] = []
    for line in text.splitlines():
        joins = lines and lines[-1] and line.strip() and not line.lstrip().startswith(("- ", "* "))
        if joins:
            lines[-1] = f"{lines[-1]} {line.strip()}"
        else:
            lines.append(line.strip())
    return "\n".join(lines)
