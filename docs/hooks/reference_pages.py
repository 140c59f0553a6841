"""MkDocs hook: the reference pages written from the code, so that they cannot go stale.

A page listed in `GENERATED` holds the line `<!-- generated -->`; the build puts there
- in configuration.md, a table per `config.ini` section of flowui.config's settings table;
- in reference/cli.md, every `flowui` command, by Typer's own generator (`typer ... utils docs`).
reference/api.md is written by neoteroi-mkdocs, a plugin, which runs before this hook.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from flowui.config import SECTIONS, SETTINGS, SettingSpec

MARKER = "<!-- generated -->"


def settings_reference() -> str:
    lines: list[str] = []
    for section in SECTIONS:
        lines += [f"### `[{section}]`", "", "| setting | default | what |", "| --- | --- | --- |"]
        lines += [
            f"| `{spec.name}` | {_default(spec)} | {_cell(spec.description)} |"
            for spec in SETTINGS.values()
            if spec.section == section
        ]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(spec: SettingSpec) -> str:
    value = spec.default
    if spec.secret:
        return "none: a secret, read from the environment only"
    if value is None:
        return "unset"
    if isinstance(value, list) and all(not isinstance(item, dict) for item in value):
        text = ", ".join(str(getattr(item, "value", item)) for item in value)
    elif isinstance(value, dict | list):
        text = json.dumps(value)
    else:
        text = str(getattr(value, "value", value))
    return f"`{text}`" if text else "empty"


def cli_reference() -> str:
    command = [sys.executable, "-m", "typer", "flowui.cli.main", "utils", "docs"]
    command += ["--name", "flowui"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise PluginError(f"{' '.join(command[1:])} failed:\n{result.stderr}")
    return "\n".join(_headings_down(result.stdout.splitlines(), keep=0))


def _headings_down(lines: list[str], keep: int) -> list[str]:
    """`lines` with each heading after the first `keep` ones a level down (code left alone)."""
    fenced = False
    for number, line in enumerate(lines):
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#+ ", line):
            if keep == 0:
                lines[number] = f"#{line}"
            else:
                keep -= 1
    return lines


GENERATED: dict[str, Callable[[], str]] = {
    "configuration.md": settings_reference,
    "reference/cli.md": cli_reference,
}


def on_files(files: Files, **_: Any) -> Files:
    for src_uri in GENERATED:
        if files.get_file_from_path(src_uri) is None:
            raise PluginError(f"docs/{src_uri} is missing: its reference is generated into it")
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    if page.file.src_uri == "reference/api.md":
        # The document's title would be a second first-level heading, and Material shows the
        # table of contents under the first one only: every heading after the title goes down.
        return "\n".join(_headings_down(markdown.splitlines(), keep=1))
    generate = GENERATED.get(page.file.src_uri)
    if generate is None:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{page.file.src_uri} has no {MARKER} line to generate into")
    return markdown.replace(MARKER, generate(), 1)
