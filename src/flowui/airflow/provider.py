"""Provider metadata, so Airflow lists FlowUI among its providers (`airflow providers list`)."""

from __future__ import annotations

from typing import Any

from flowui import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "flowui",
        "name": "FlowUI",
        "description": "Runs FlowUI workflows: one task per operator, in its own runtime.",
        "versions": [__version__],
    }
