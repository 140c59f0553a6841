"""A deployed platform (compose, the chart) reached as its users reach it, over HTTP: the admin
signed in, a repository imported from a git checkout the server can read, and a workflow
deployed and run to its end through the API."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.operator_repositories import commit_all, git
from tests.support.runs_api import wait_for

ADMIN_EMAIL = "admin@example.com"  # FLOWUI_ADMIN_EMAIL's default, and the chart's
RUN_TIMEOUT = 600.0


@dataclass(frozen=True)
class FinishedRun:
    workflow: str  # the workflow's API path
    dag_id: str
    run_id: str
    workspace_id: int
    state: str  # success | failed


def sign_in(server_url: str, password: str) -> httpx.Client:
    """A client of the server signed in as the first administrator."""
    login = httpx.post(
        f"{server_url}/api/auth/login",
        data={"username": ADMIN_EMAIL, "password": password},
        timeout=60,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return httpx.Client(base_url=server_url, headers=headers, timeout=120)


def tagged_checkout(source: Path, checkout: Path, owner: tuple[int, int]) -> Path:
    """`source` copied to `checkout` (where the server sees it) as a git repository tagged v1,
    owned by the platform's user as a checkout of theirs would be."""
    shutil.copytree(source, checkout)
    git(checkout, "init", "--quiet", "--initial-branch=main")
    commit_all(checkout, "operators")
    git(checkout, "tag", "v1")
    for path in [checkout.parent, checkout, *checkout.rglob("*")]:
        os.lchown(path, *owner)
    return checkout


def run_path(workflow: str, run_id: str) -> str:
    return f"{workflow}/runs/{urllib.parse.quote(run_id, safe='')}"


def run_to_end(
    admin: httpx.Client,
    workspace: str,
    source: str,
    document: dict[str, Any],
    parameters: dict[str, Any],
) -> FinishedRun:
    """A new workspace, the repository at `source` (tag v1) imported into it, and the workflow
    `document` run in it with `parameters` until it ends."""
    created = admin.post("/api/workspaces", json={"name": workspace})
    assert created.status_code == 201, created.text
    workspace_id = int(created.json()["id"])
    imported = admin.post(
        f"/api/workspaces/{workspace_id}/repositories", json={"source": source, "ref": "v1"}
    )
    assert imported.status_code == 201, imported.text
    return run_in(admin, workspace_id, document, parameters)


def run_in(
    admin: httpx.Client, workspace_id: int, document: dict[str, Any], parameters: dict[str, Any]
) -> FinishedRun:
    """The workflow `document` created, deployed and run with `parameters` in the workspace
    until it succeeds or fails."""
    base = f"/api/workspaces/{workspace_id}"
    created = admin.post(f"{base}/workflows", json={"document": document})
    assert created.status_code == 201, created.text
    workflow = f"{base}/workflows/{created.json()['id']}"
    deployed = admin.post(f"{workflow}/deploy")
    assert deployed.status_code == 200, deployed.text
    started = admin.post(f"{workflow}/runs", json={"parameters": parameters})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]

    def finished() -> dict[str, Any] | None:
        detail = admin.get(run_path(workflow, run_id))
        assert detail.status_code == 200, detail.text
        body: dict[str, Any] = detail.json()
        return body if body["state"] in ("success", "failed") else None

    run = wait_for(finished, f"run {run_id} of workflow {document['name']!r} ended", RUN_TIMEOUT)
    dag_id = admin.get(workflow).json()["dag_id"]
    return FinishedRun(workflow, dag_id, run_id, workspace_id, run["state"])
