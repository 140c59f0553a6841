"""Every command's help, as `flowui ... --help` prints it: its paragraphs flow at any width
(the source's line breaks do not cut a sentence), and each has an example."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer.main
from rich.text import Text
from typer.core import TyperGroup
from typer.testing import CliRunner

from flowui.cli.main import app


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            found += _commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_the_help_flows_in_a_wide_terminal(path: tuple[str, ...], command: Any) -> None:
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "3000"}).output
    lines = [line.strip(" │") for line in shown.splitlines()]
    docstring = inspect.getdoc(command.callback) or ""
    for paragraph in docstring.split("\n\n"):
        if paragraph.lstrip().startswith(("- ", "* ")):
            continue  # a list keeps its lines
        flowing = Text.from_markup(" ".join(paragraph.split())).plain
        assert flowing in lines, f"{' '.join(path)}: {flowing!r} is cut across lines"
    assert "Example:" in docstring, f"{' '.join(path)} has no example"


def test_every_command_that_reads_a_project_takes_it_the_same_way() -> None:
    ways = {
        " ".join(path): sorted(parameter.opts)
        for path, command in COMMANDS
        for parameter in command.params
        if parameter.name == "project"
    }
    assert len(ways) >= 10
    assert {command: opts for command, opts in ways.items() if opts != ["--project", "-p"]} == {}
