"""Pure parts of the workflows service (`flowui.server.services.workflows`) that the API's
tests reach only through a server: the name of an exported workflow's file."""

from __future__ import annotations

import re

import pytest

from flowui.server.services.workflows import export_filename


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("Daily sales", "daily-sales.json"),
        ("  --Q3 / Q4 report!!  ", "q3-q4-report.json"),
        ('a"b\r\nContent-Type: text/html', "a-b-content-type-text-html.json"),
        ("../../etc/passwd", "etc-passwd.json"),
        ("Zürich 2026", "z-rich-2026.json"),
    ],
)
def test_an_exported_file_is_named_after_the_workflow_in_safe_characters(
    name: str, filename: str
) -> None:
    assert export_filename(name) == filename


@pytest.mark.parametrize("name", ["数据流程", "***", "", "-"])
def test_a_name_without_a_letter_or_digit_of_ascii_exports_as_workflow_json(name: str) -> None:
    assert export_filename(name) == "workflow.json"


def test_a_long_name_is_cut_without_a_dangling_dash() -> None:
    # 79 letters then a space: the cut at 80 characters falls on the separator.
    filename = export_filename("a" * 79 + " " + "b" * 50)

    assert filename == "a" * 79 + ".json"
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.json", export_filename("x " * 200))
    assert len(export_filename("x " * 200)) <= 80 + len(".json")
