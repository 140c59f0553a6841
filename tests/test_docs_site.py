"""The documentation site (mkdocs.yml, docs/): it builds with `mkdocs build --strict`, its
references name every REST operation, `flowui` command and setting, and a broken link fails
the build, naming the link.

One build for the module (about 6 s on the 2-core machine) and one of a broken copy."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from flowui.cli.main import app
from flowui.config import SETTINGS

ROOT = Path(__file__).parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        # Material's banner about its end of life is not a warning of this site.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = build(ROOT, site)
    assert result.returncode == 0, result.stderr
    return site


def article(page: Path) -> str:
    """The page's content as HTML, without the navigation around it."""
    markup = page.read_text(encoding="utf-8")
    return markup[markup.index("<article") : markup.index("</article>")]


def text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def headings(markup: str) -> set[str]:
    found = re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", markup, flags=re.S)
    return {text(heading).replace("¶", "").strip() for heading in found}


def command_paths(command: Any, path: str) -> Iterator[str]:
    yield path
    for name, subcommand in getattr(command, "commands", {}).items():
        yield from command_paths(subcommand, f"{path} {name}")


def test_the_api_reference_holds_every_operation_as_text(site: Path) -> None:
    document = json.loads((ROOT / "schemas" / "openapi.json").read_text())
    page = text(article(site / "reference" / "api" / "index.html"))
    operations = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    ]
    assert len(operations) >= 40
    assert [operation for operation in operations if operation not in page] == []


def test_the_cli_reference_has_a_section_for_every_command(site: Path) -> None:
    paths = list(command_paths(typer.main.get_command(app), "flowui"))
    assert {"flowui operators validate", "flowui aws apply", "flowui runs archive"} <= set(paths)
    sections = headings(article(site / "reference" / "cli" / "index.html"))
    assert [path for path in paths if path not in sections] == []


def test_the_configuration_page_has_a_row_for_every_setting(site: Path) -> None:
    page = article(site / "configuration" / "index.html")
    assert [name for name in SETTINGS if f"<td><code>{name}</code></td>" not in page] == []
    assert {f"[{spec.section}]" for spec in SETTINGS.values()} <= headings(page)


def test_the_readmes_links_land_on_pages_of_the_site(site: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(docs/([^)#]+)\.md(?:#[^)]*)?\)", readme)
    assert {"getting-started", "reference/cli", "reference/api", "configuration"} <= set(links)
    for link in links:
        page = site / ("" if link == "index" else link) / "index.html"
        assert page.is_file(), link


def test_a_broken_link_fails_the_build_naming_it(tmp_path: Path) -> None:
    for folder in ("docs", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "getting-started.md"
    page.write_text(
        page.read_text()
        + "\nSee [a gone page](no-such-page.md) and [a section](runtimes.md#no-such-section).\n"
    )
    result = build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert "Aborted with 2 warnings in strict mode" in result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 2
    assert "'getting-started.md' contains a link 'no-such-page.md'" in warnings[0]
    assert "'getting-started.md' contains a link 'runtimes.md#no-such-section'" in warnings[1]
