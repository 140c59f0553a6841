"""A platform open to people it does not trust, through the API: a self-registered owner imports
a repository that spies on the server and finds nothing; who may sign up, import and from where,
as a shared platform defaults them; what a workspace's workflows may ask for."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowui.cli.server import listens_beyond_loopback, server_options
from flowui.config import load_settings
from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.storage import FileSystemRoot
from tests.support.operator_repositories import commit_all, init_repository, write_fake_git
from tests.support.server_api import (
    ApiUser,
    error_of,
    join,
    make_platform_admin,
    new_workspace,
    sign_up,
)
from tests.support.spying import listener, report_in_schema, write_spy_at_import
from tests.support.workflows_api import Lab, document, import_repository, problems_of, task

SERVER_SECRETS = {
    "FLOWUI_ADMIN_PASSWORD": "admin-SECRET-1c9a",
    "FLOWUI_AIRFLOW_PASSWORD": "airflow-SECRET-77e2",
    "FLOWUI_INTERNAL_TOKEN": "internal-SECRET-d401",
    "FLOWUI_SECRET_KEY": "key-SECRET-93b8",
}
REMOTE = "https://git.example.test/mallory/ops.git"
POSTGRESQL_PORT = 5432


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ServerContext]:
    """A server on SQLite in its root (the database file is there to be stolen)."""
    opened = ServerContext.open(FileSystemRoot(tmp_path / "fs"))
    try:
        yield opened
    finally:
        opened.close()


def serve(context: ServerContext) -> TestClient:
    return TestClient(create_app(context))


def remote_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str = REMOTE) -> Path:
    """A git repository that `git` fetches for `url` (no git server runs here: a wrapper in
    front of the real git points the URL at it)."""
    repository = init_repository(tmp_path / "remote")
    real_git = shutil.which("git")
    write_fake_git(
        tmp_path / "bin",
        f'exec "{real_git}" -c "url.{repository.as_uri()}.insteadOf={url}" "$@"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return repository


def test_a_repository_that_spies_at_import_finds_nothing_and_its_other_operators_import(
    context: ServerContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SERVER_SECRETS.items():
        monkeypatch.setenv(name, value)  # as `flowui up` gives them to the server
    root = context.root
    other_tree = root.workspace(99).dataset("accounts")
    other_tree.mkdir(parents=True)
    (other_tree / "data.csv").write_text("another workspace's data\n")
    repository = remote_repository(tmp_path, monkeypatch)
    with listener() as (port, accepted), serve(context) as api:
        write_spy_at_import(
            repository,
            paths=[
                root.server_database,
                root.secret_key_file,
                root.platform,
                other_tree / "data.csv",
                root.workspaces,
                f"/proc/{os.getpid()}/environ",
            ],
            targets=[("127.0.0.1", port), ("127.0.0.1", POSTGRESQL_PORT)],
        )
        commit_all(repository, "spy")
        mallory = sign_up(api, "mallory@example.org")  # anyone may sign up here
        workspace = new_workspace(mallory, "Mallory's")

        imported = mallory.post(
            f"/api/workspaces/{workspace}/repositories", json={"source": REMOTE, "ref": "main"}
        )
        assert imported.status_code == 201, imported.text
        operators = {
            operator["name"]: operator
            for operator in mallory.get(f"/api/workspaces/{workspace}/operators").json()
        }
        spy = mallory.get(f"/api/workspaces/{workspace}/operators/{operators['SpyOperator']['id']}")
        assert accepted == []

    assert set(operators) == {"HelloOperator", "SpyOperator"}  # the import itself works
    found = report_in_schema(spy.json()["input_schema"])
    assert set(found["environ"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PWD"}
    for value in SERVER_SECRETS.values():
        assert value not in str(found)
    assert found["reads"] == {
        str(root.server_database): "FileNotFoundError",
        str(root.secret_key_file): "FileNotFoundError",
        str(root.platform): "FileNotFoundError",
        str(other_tree / "data.csv"): "FileNotFoundError",
        str(root.workspaces): "FileNotFoundError",
        f"/proc/{os.getpid()}/environ": "FileNotFoundError",
    }
    assert found["network"] == {
        f"127.0.0.1:{port}": "ConnectionRefusedError",
        f"127.0.0.1:{POSTGRESQL_PORT}": "ConnectionRefusedError",  # the machine's database
    }
    if os.geteuid() == 0:
        assert found["uid"] == context.sandbox.uid_base


def test_without_a_sandbox_an_import_is_refused_and_nothing_is_fetched(
    context: ServerContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowui.sandbox import unavailable_reason

    remote_repository(tmp_path, monkeypatch)
    calls = tmp_path / "git-calls"
    write_fake_git(tmp_path / "bin", f'echo called >> "{calls}"\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # git, and no bwrap
    unavailable_reason.cache_clear()
    try:
        with serve(context) as api:
            owner = sign_up(api, "owner@example.org")
            workspace = new_workspace(owner)
            refused = owner.post(
                f"/api/workspaces/{workspace}/repositories", json={"source": REMOTE}
            )
    finally:
        unavailable_reason.cache_clear()

    assert refused.status_code == 503
    message = error_of(refused)["message"]
    assert "bubblewrap is not installed" in message
    assert "FLOWUI_SANDBOX=none" in message
    assert not calls.exists()
    assert [p.name for p in context.root.operators_repositories.iterdir()] == []


# --- shared platforms: who may sign up and import, and from where ----------------------------


@pytest.mark.parametrize(
    ("host", "environ", "registration", "importers"),
    [
        ("127.0.0.1", {}, True, "workspace-admins"),
        ("localhost", {}, True, "workspace-admins"),
        ("0.0.0.0", {}, False, "platform-admins"),
        ("::", {}, False, "platform-admins"),
        ("flowui.example.org", {}, False, "platform-admins"),
        (
            "0.0.0.0",
            {
                "FLOWUI_ALLOW_REGISTRATION": "true",
                "FLOWUI_REPOSITORY_IMPORTERS": "workspace-owners",
            },
            True,
            "workspace-owners",
        ),
        ("127.0.0.1", {"FLOWUI_ALLOW_REGISTRATION": "false"}, False, "workspace-admins"),
    ],
)
def test_sign_up_and_importers_default_by_where_the_server_listens(
    tmp_path: Path,
    host: str,
    environ: dict[str, str],
    registration: bool,
    importers: str,
) -> None:
    settings = load_settings(tmp_path, {"VOLUME_MOUNT_PATH_HOST": str(tmp_path / "fs")}, environ)
    options = server_options(settings, host)
    assert options["repository_importers"] == importers
    assert listens_beyond_loopback(host) is (host not in ("127.0.0.1", "localhost"))
    context = ServerContext.open(settings.root, **options)
    try:
        with serve(context) as api:
            answer = api.post(
                "/api/auth/register",
                json={"email": "eve@example.org", "password": "long enough pw"},
            )
    finally:
        context.close()

    assert answer.status_code == (201 if registration else 403), answer.text
    if not registration:
        assert "FLOWUI_ALLOW_REGISTRATION" in error_of(answer)["message"]


@pytest.fixture
def shared(context: ServerContext) -> Iterator[tuple[TestClient, ServerContext]]:
    """A platform that lets repositories come from my-org's GitHub only."""
    allowed = replace(context, repository_sources=("https://github.com/my-org/*",))
    with serve(allowed) as api:
        yield api, allowed


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("https://github.com/my-org/ops.git", True),
        ("my-org/ops", True),  # GitHub's owner/repository
        ("https://github.com/my-org-evil/ops.git", False),
        ("https://github.com/other/ops.git", False),
        ("https://github.com/my-org/../other/ops.git", False),
        ("https://gitlab.com/my-org/ops.git", False),
        ("ssh://git@github.com/my-org/ops.git", False),
    ],
)
def test_imports_from_outside_the_allowed_sources_are_403_naming_the_setting(
    shared: tuple[TestClient, ServerContext],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    allowed: bool,
) -> None:
    api, _ = shared
    url = "https://github.com/my-org/ops.git" if allowed else source
    repository = remote_repository(tmp_path, monkeypatch, url)
    commit_all(repository, "first")
    owner = sign_up(api, "owner@example.org")
    workspace = new_workspace(owner)

    answer = owner.post(f"/api/workspaces/{workspace}/repositories", json={"source": source})

    if allowed:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert "FLOWUI_REPOSITORY_SOURCES" in error_of(answer)["message"]
        assert list(FileSystemRoot(tmp_path / "fs").operators_repositories.iterdir()) == []


def test_who_may_import_is_the_platforms_choice(
    context: ServerContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit_all(remote_repository(tmp_path, monkeypatch), "first")
    url = "/api/workspaces/{}/repositories"

    def attempt(importers: str, user: ApiUser, workspace: int) -> Any:
        object.__setattr__(context, "repository_importers", importers)
        return user.post(url.format(workspace), json={"source": REMOTE})

    with serve(context) as api:
        owner = sign_up(api, "owner@example.org")
        admin = join(
            owner, workspace := new_workspace(owner), sign_up(api, "a@example.org"), "admin"
        )
        platform_admin = sign_up(api, "root@example.org")
        make_platform_admin(context, platform_admin)
        join(owner, workspace, platform_admin, "read")

        refused_admin = attempt("workspace-owners", admin, workspace)
        refused_owner = attempt("platform-admins", owner, workspace)
        by_platform_admin = attempt("platform-admins", platform_admin, workspace)

    assert refused_admin.status_code == 403
    assert "FLOWUI_REPOSITORY_IMPORTERS=workspace-owners" in error_of(refused_admin)["message"]
    assert refused_owner.status_code == 403
    assert "FLOWUI_REPOSITORY_IMPORTERS=platform-admins" in error_of(refused_owner)["message"]
    assert by_platform_admin.status_code == 403  # a reader of the workspace all the same
    assert "role admin" in error_of(by_platform_admin)["message"]


# --- what a workspace's workflows may ask for --------------------------------------------------


@pytest.fixture
def lab(context: ServerContext, tmp_path: Path) -> Iterator[Lab]:
    with serve(context) as api:
        owner = sign_up(api, "ada@example.org")
        workspace_id = new_workspace(owner, "lab")
        import_repository(context, workspace_id, tmp_path / "repo")
        yield Lab(owner, workspace_id, context)


def deploy(lab: Lab, doc: dict[str, Any]) -> Any:
    created = lab.create(doc)
    return lab.owner.post(f"{lab.url}/{created['id']}/deploy")


def hello(**settings: Any) -> dict[str, Any]:
    return {**task(name={"value": "ada"}), **settings}


def test_a_workflow_over_its_workspaces_limits_is_refused_at_deploy_naming_each_field(
    lab: Lab,
) -> None:
    greedy = {"limits": {"cpu": 100_000_000, "memory": 1_000_000_000}, "gpu": 4096}
    greedy["requests"] = {"cpu": 100, "memory": 128}

    refused = deploy(lab, document("greedy", hello(resources=greedy), max_active_runs=50))

    assert refused.status_code == 422
    assert problems_of(refused) == {
        "/document/max_active_runs": "50 runs at once is more than this workspace's limit of 16",
        "/document/tasks/0/resources/limits/cpu": (
            "task hello asks for 100000 CPUs, more than this workspace's limit of 16"
        ),
        "/document/tasks/0/resources/limits/memory": (
            "task hello asks for 1e+09 MiB of memory, more than this workspace's limit of 65536"
        ),
        "/document/tasks/0/resources/gpu": (
            "task hello asks for 4096 GPUs, more than this workspace's limit of 4"
        ),
    }
    assert not list(lab.context.root.airflow_dags.glob("*.json"))  # nothing compiled


def test_platform_administrators_set_a_workspaces_limits_and_deploys_follow_them(
    lab: Lab,
) -> None:
    url = f"/api/workspaces/{lab.id}/limits"
    assert lab.owner.get(url).json()["effective"]["task_cpus"] == 16
    modest = {"task_cpus": 2, "task_memory_mb": 512, "active_runs": 1, "runtimes": ["docker"]}

    by_owner = lab.owner.put(url, json=modest)
    root = sign_up(lab.owner.client, "root@example.org")
    make_platform_admin(lab.context, root)
    by_platform_admin = root.put(url, json=modest)  # not even a member
    refused = deploy(lab, document("modest", hello()))

    assert by_owner.status_code == 403
    assert by_platform_admin.status_code == 200, by_platform_admin.text
    limits = lab.owner.get(url).json()
    assert limits["own"] == {**modest, "task_gpus": None}
    assert limits["effective"] == {**modest, "task_gpus": 4}
    assert refused.status_code == 422
    # The operator's own defaults (container_resources: 1000m, 1024 MiB) are over the limit.
    assert problems_of(refused) == {
        "/document/tasks/0/runtime": (
            "task hello runs in process, which this workspace may not use: choose one of docker"
        ),
        "/document/tasks/0/operator": (
            "operator HelloOperator 0.1.0 (task hello) asks for 1024 MiB of memory, more than "
            "this workspace's limit of 512: give the task resources of its own within it"
        ),
    }
    within = {"requests": {"cpu": 100, "memory": 128}, "limits": {"cpu": 2000, "memory": 512}}
    root.put(url, json={**modest, "runtimes": None})
    assert deploy(lab, document("within", hello(resources=within))).status_code == 200
