"""The chart (deploy/helm/flowui) and helm (v4, `make helm` puts it in .tools/helm)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT

CHART = ROOT / "deploy" / "helm" / "flowui"
# Given at install with --set, as the chart's values.yaml asks; never written in a values file.
SECRETS = {
    "secrets.secretKey": "test-secret-key-5f1c",
    "secrets.adminPassword": "test-admin-password-9a7e",
    "secrets.databaseUrl": "postgresql://flowui:test-db-password-3b2d@db/flowui",
    "secrets.airflowPassword": "test-airflow-password-c4e8",
    "secrets.internalToken": "test-internal-token-77d0",
}
SET_SECRETS = ["--set", ",".join(f"{key}={value}" for key, value in SECRETS.items())]


def helm_binary() -> str:
    binary = Path(os.environ.get("FLOWUI_HELM") or ROOT / ".tools" / "helm" / "helm")
    if not binary.is_file():
        pytest.fail(f"helm not found at {binary}: run `make helm` (or set FLOWUI_HELM)")
    return str(binary)


def helm(*args: str, environ: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [helm_binary(), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **(environ or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(*values: str, namespace: str = "flowui") -> tuple[str, list[dict[str, Any]]]:
    """The chart's manifests with `values` (helm template arguments): text and documents."""
    text = helm("template", "flowui", str(CHART), "--namespace", namespace, *values)
    return text, [doc for doc in yaml.safe_load_all(text) if doc]
