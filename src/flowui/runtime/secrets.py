"""Where a task's secret values come from when it starts (DESIGN.md, Contract 4).

A source maps the secret names an operator declares (its SecretsModel's fields) to values.
The values go only into the task process's environment: never into a DAG file, the TaskSpec,
XCom, output.json or a log line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Protocol


class SecretsSource(Protocol):
    def values(self, names: Iterable[str]) -> dict[str, str]:
        """The values of those of `names` that are set; unset names are left out."""
        ...


class EnvironmentSecrets:
    """Secrets from the worker's environment, each under its own name (or with a prefix)."""

    def __init__(self, environ: Mapping[str, str] | None = None, prefix: str = "") -> None:
        self._environ = os.environ if environ is None else environ
        self._prefix = prefix

    def values(self, names: Iterable[str]) -> dict[str, str]:
        found = {}
        for name in names:
            value = self._environ.get(self._prefix + name)
            if value:
                found[name] = value
        return found
