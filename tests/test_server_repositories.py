"""The API's operators repositories and operators: import from real local git repositories at
tags, upgrade, search, remove; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from flowui.platform import free_port
from flowui.server.context import ServerContext
from flowui.server.models import Base, Repository, Secret, Workflow, WorkflowVersion
from flowui.server.services import bootstrap
from flowui.server.services.bootstrap import import_bundled_examples
from tests.support.operator_repositories import (
    GitHistory,
    commit_all,
    git,
    init_repository,
    write_fake_git,
    write_operator,
)
from tests.support.paths import ROOT
from tests.support.server_api import ApiUser, error_of, make_platform_admin, new_workspace, sign_up

EXAMPLES = ROOT / "examples" / "operators_repository"
EXAMPLE_WORKFLOW = ROOT / "examples" / "workflows" / "dataset_update.json"
EXAMPLE_OPERATORS = sorted(path.name for path in (EXAMPLES / "operators").iterdir())


@pytest.fixture(scope="module")
def examples_git(tmp_path_factory: pytest.TempPathFactory) -> GitHistory:
    """A git copy of the example repository: tags v1 (0.1.0), same-version (0.1.0 again, a
    later commit) and v2 (0.2.0)."""
    path = tmp_path_factory.mktemp("examples-git") / "flowui_examples"
    shutil.copytree(EXAMPLES, path, ignore=shutil.ignore_patterns("__pycache__", ".flowui"))
    git(path, "init", "--quiet", "--initial-branch=main")
    commits = {"v1": commit_all(path, "Examples 0.1.0")}
    git(path, "tag", "v1")
    (path / "README.md").write_text("Edited, VERSION not bumped.\n")
    commits["same-version"] = commit_all(path, "Edit without a new VERSION")
    git(path, "tag", "same-version")
    config = path / "config.toml"
    config.write_text(re.sub(r'(?m)^VERSION = ".*"$', 'VERSION = "0.2.0"', config.read_text()))
    commits["v2"] = commit_all(path, "Examples 0.2.0")
    git(path, "tag", "v2")
    return GitHistory(path, commits)


@pytest.fixture(scope="module")
def demo_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Repository "demo" 0.1.0 with HelloOperator, tagged v0.1.0."""
    path = init_repository(tmp_path_factory.mktemp("demo-git") / "demo")
    commit_all(path, "Hello")
    git(path, "tag", "v0.1.0")
    return path


@pytest.fixture
def admin(api: TestClient, server_context: ServerContext) -> ApiUser:
    """A platform administrator (may import from the server's own paths)."""
    user = sign_up(api, "ada@example.org")
    make_platform_admin(server_context, user)
    return user


@pytest.fixture
def workspace(admin: ApiUser) -> int:
    return new_workspace(admin)


def repositories_url(workspace_id: int) -> str:
    return f"/api/workspaces/{workspace_id}/repositories"


def operators_url(workspace_id: int) -> str:
    return f"/api/workspaces/{workspace_id}/operators"


def import_ok(user: ApiUser, workspace_id: int, source: Path | str, ref: str) -> dict[str, Any]:
    response = user.post(repositories_url(workspace_id), json={"source": str(source), "ref": ref})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def checkouts(context: ServerContext) -> list[str]:
    folder = context.root.operators_repositories
    return sorted(os.listdir(folder)) if folder.exists() else []


def operator_names(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [operator["name"] for operator in response.json()]


# --- import, list, read ----------------------------------------------------------------------


def test_the_examples_imported_at_a_tag_are_listed_with_their_operators(
    admin: ApiUser, workspace: int, examples_git: GitHistory, server_context: ServerContext
) -> None:
    imported = import_ok(admin, workspace, examples_git.path, "v1")

    assert (imported["name"], imported["current_version"]) == ("flowui_examples", "0.1.0")
    assert imported["source"] == examples_git.path.as_uri()
    [version] = imported["versions"]
    assert (version["version"], version["ref"], version["commit"]) == (
        "0.1.0",
        "v1",
        examples_git.commits["v1"],
    )
    assert imported["operator_count"] == version["operator_count"] == len(EXAMPLE_OPERATORS)
    assert [operator["name"] for operator in imported["operators"]] == EXAMPLE_OPERATORS
    [checkout] = checkouts(server_context)
    assert checkout.startswith(f"r{workspace}_")
    assert (server_context.root.operators_repository(checkout) / ".flowui").is_dir()

    listed = admin.get(repositories_url(workspace))
    assert listed.status_code == 200
    [summary] = listed.json()
    assert "operators" not in summary
    assert {key: summary[key] for key in ("id", "name", "versions", "operator_count")} == {
        key: imported[key] for key in ("id", "name", "versions", "operator_count")
    }
    detail = admin.get(f"{repositories_url(workspace)}/{imported['id']}")
    assert detail.json() == imported


def test_an_operator_shows_its_schemas_group_and_which_secrets_are_set_never_a_value(
    admin: ApiUser, workspace: int, examples_git: GitHistory, server_context: ServerContext
) -> None:
    import_ok(admin, workspace, examples_git.path, "v1")
    [load] = [
        operator
        for operator in admin.get(operators_url(workspace)).json()
        if operator["name"] == "LoadDatasetOperator"
    ]
    assert load["repository"] == "flowui_examples"
    assert (load["version"], load["repository_version"], load["is_current"]) == (
        "0.1.0",
        "0.1.0",
        True,
    )
    assert "dataset" in load["tags"]
    assert load["style"]["node_label"] == "Load dataset"
    assert load["has_input_schema"] and load["has_output_schema"]

    detail = admin.get(f"{operators_url(workspace)}/{load['id']}").json()

    assert detail["input_schema"]["type"] == "object"
    assert "dataset_id" in detail["output_schema"]["properties"]
    assert "DATASET_SOURCE_TOKEN" in detail["secrets_schema"]["properties"]
    assert detail["metadata"]["dependency"] == {"requirements_file": "requirements_dataset.txt"}
    assert "input_schema" not in detail["metadata"]
    assert detail["container_resources"]["limits"] == {"cpu": 1000, "memory": 2048}
    assert detail["dependency_group"]["dependency"]["requirements_file"] == (
        "requirements_dataset.txt"
    )
    assert detail["dependency_group"]["image"].startswith("ghcr.io/flowui/flowui_examples:0.1.0")
    assert detail["secrets"] == [{"name": "DATASET_SOURCE_TOKEN", "is_set": False}]

    value = "s3cr3t-" + secrets.token_hex(8)
    with server_context.sessions() as session:
        session.add(
            Secret(
                workspace_id=workspace,
                repository_name="flowui_examples",
                name="DATASET_SOURCE_TOKEN",
                ciphertext=server_context.keys.encrypt(value),
            )
        )
        session.commit()
    again = admin.get(f"{operators_url(workspace)}/{load['id']}")
    assert again.json()["secrets"] == [{"name": "DATASET_SOURCE_TOKEN", "is_set": True}]
    assert value not in again.text


def test_operators_are_searched_by_text_tag_and_repository(
    admin: ApiUser, workspace: int, examples_git: GitHistory, demo_git: Path
) -> None:
    import_ok(admin, workspace, examples_git.path, "v1")
    import_ok(admin, workspace, demo_git, "v0.1.0")
    url = operators_url(workspace)

    assert operator_names(admin.get(url)) == ["HelloOperator", *EXAMPLE_OPERATORS]  # demo first
    assert operator_names(admin.get(url, params={"q": "SCIKIT"})) == [
        "LoadSampleDatasetOperator",
        "TrainModelOperator",
    ]
    assert operator_names(admin.get(url, params={"q": "join"})) == ["JoinDatasetsOperator"]
    assert operator_names(admin.get(url, params={"q": "greets"})) == ["HelloOperator"]
    assert operator_names(admin.get(url, params={"q": "%"})) == []  # no LIKE wildcards
    assert operator_names(admin.get(url, params={"tag": "ML"})) == [
        "EvaluateModelOperator",
        "HtmlReportOperator",
        "LoadSampleDatasetOperator",
        "PredictOperator",
        "SplitDatasetOperator",
        "TrainModelOperator",
    ]
    assert operator_names(admin.get(url, params={"repository": "demo"})) == ["HelloOperator"]
    assert operator_names(admin.get(url, params={"repository": "demo", "tag": "ml"})) == []


def test_an_unknown_operator_or_repository_is_404(admin: ApiUser, workspace: int) -> None:
    assert admin.get(f"{operators_url(workspace)}/999").status_code == 404
    missing = admin.get(f"{repositories_url(workspace)}/999")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "repository 999 not found"


# --- upgrade ---------------------------------------------------------------------------------


def test_an_upgrade_adds_a_version_and_moves_current_the_old_one_stays(
    admin: ApiUser, workspace: int, examples_git: GitHistory, server_context: ServerContext
) -> None:
    first = import_ok(admin, workspace, examples_git.path, "v1")
    url = f"{repositories_url(workspace)}/{first['id']}"

    upgraded = admin.post(f"{url}/upgrade", json={"ref": "v2"})

    assert upgraded.status_code == 200, upgraded.text
    body = upgraded.json()
    assert body["current_version"] == "0.2.0"
    assert [(v["version"], v["ref"]) for v in body["versions"]] == [
        ("0.1.0", "v1"),
        ("0.2.0", "v2"),
    ]
    assert body["versions"][1]["commit"] == examples_git.commits["v2"]
    assert {operator["version"] for operator in body["operators"]} == {"0.2.0"}
    assert len(checkouts(server_context)) == 2
    current = admin.get(operators_url(workspace)).json()
    assert {operator["repository_version"] for operator in current} == {"0.2.0"}
    every = admin.get(operators_url(workspace), params={"all_versions": "true"}).json()
    assert sorted({(op["version"], op["is_current"]) for op in every}) == [
        ("0.1.0", False),
        ("0.2.0", True),
    ]
    assert len(every) == 2 * len(EXAMPLE_OPERATORS)


def test_an_upgrade_to_a_version_imported_already_is_409_naming_its_ref(
    admin: ApiUser, workspace: int, examples_git: GitHistory, server_context: ServerContext
) -> None:
    first = import_ok(admin, workspace, examples_git.path, "v1")
    before = checkouts(server_context)

    again = admin.post(
        f"{repositories_url(workspace)}/{first['id']}/upgrade", json={"ref": "same-version"}
    )

    assert again.status_code == 409
    message = error_of(again)["message"]
    assert "version 0.1.0 of flowui_examples is imported already (from ref 'v1')" in message
    assert "VERSION" in message
    assert checkouts(server_context) == before
    assert admin.get(repositories_url(workspace)).json()[0]["versions"] == first["versions"]


def test_importing_a_repository_name_twice_is_409_pointing_to_the_upgrade(
    admin: ApiUser, workspace: int, demo_git: Path, server_context: ServerContext
) -> None:
    first = import_ok(admin, workspace, demo_git, "v0.1.0")

    again = admin.post(repositories_url(workspace), json={"source": str(demo_git), "ref": "main"})

    assert again.status_code == 409
    upgrade = f"POST /api/workspaces/{workspace}/repositories/{first['id']}/upgrade"
    assert upgrade in error_of(again)["message"]
    assert len(checkouts(server_context)) == 1
    assert len(admin.get(repositories_url(workspace)).json()) == 1


# --- bad input -------------------------------------------------------------------------------


def test_a_broken_repository_is_422_per_operator_and_leaves_no_row_and_no_directory(
    admin: ApiUser, workspace: int, tmp_path: Path, server_context: ServerContext
) -> None:
    broken = init_repository(tmp_path / "broken", ("HelloOperator", "NoInputOperator"))
    write_operator(broken, "BrokenOperator", operator="class BrokenOperator(:\n")
    (broken / "operators" / "NoInputOperator" / "model.py").write_text("X = 1\n")
    commit_all(broken, "Broken")
    git(broken, "tag", "v1")

    response = admin.post(repositories_url(workspace), json={"source": str(broken), "ref": "v1"})

    assert response.status_code == 422
    error = error_of(response)
    assert error["message"].startswith(f"{broken.as_uri()} at v1 is not a valid operators")
    details = [(detail["where"], detail["message"]) for detail in error["details"]]
    assert {where for where, _ in details} == {
        "/operators/BrokenOperator",
        "/operators/NoInputOperator",
    }
    [broken_operator] = [message for where, message in details if "Broken" in where]
    assert broken_operator.startswith("operators/BrokenOperator/operator.py:1: syntax error")
    assert (
        "/operators/NoInputOperator",
        "operators/NoInputOperator/model.py: no InputModel defined",
    ) in details
    assert admin.get(repositories_url(workspace)).json() == []
    assert admin.get(operators_url(workspace)).json() == []
    assert checkouts(server_context) == []


@pytest.mark.parametrize(
    ("body", "where", "reason"),
    [
        ({"source": "http://example.com/ops.git"}, "/body/source", "http:// is not allowed"),
        ({"source": "relative/path/ops"}, "/body/source", "relative paths are not accepted"),
        ({"source": "acme/ops", "ref": "a..b"}, "/body/ref", "must not contain '..'"),
        ({"source": "acme/ops", "ref": "--upload-pack=x"}, "/body/ref", "must not begin"),
        ({"source": "git@github.com:acme/ops.git", "token": "t"}, "/body/token", "over https"),
    ],
)
def test_a_bad_source_or_ref_is_422_pointing_at_the_field(
    admin: ApiUser, workspace: int, body: dict[str, str], where: str, reason: str
) -> None:
    response = admin.post(repositories_url(workspace), json=body)

    assert response.status_code == 422
    [detail] = error_of(response)["details"]
    assert detail["where"] == where
    assert reason in detail["message"]


def test_a_ref_that_does_not_exist_is_422_naming_the_refs_that_do(
    admin: ApiUser, workspace: int, demo_git: Path, server_context: ServerContext
) -> None:
    url = repositories_url(workspace)

    missing = admin.post(url, json={"source": str(demo_git), "ref": "v9"})
    imported = import_ok(admin, workspace, demo_git, "v0.1.0")
    no_upgrade = admin.post(f"{url}/{imported['id']}/upgrade", json={"ref": "v9"})

    for response, where in ((missing, "/body/source"), (no_upgrade, "/body/ref")):
        assert response.status_code == 422
        error = error_of(response)
        assert "ref 'v9' not found" in error["message"]
        assert "tags: v0.1.0" in error["message"]
        assert [detail["where"] for detail in error["details"]] == [where]
    assert len(checkouts(server_context)) == 1


# --- who may do what -------------------------------------------------------------------------


def test_importing_needs_the_workspace_admin_role_and_non_members_see_nothing(
    api: TestClient,
    admin: ApiUser,
    workspace: int,
    demo_git: Path,
    server_context: ServerContext,
) -> None:
    imported = import_ok(admin, workspace, demo_git, "v0.1.0")
    writer = sign_up(api, "bob@example.org")
    make_platform_admin(server_context, writer)  # the workspace role still decides
    invited = admin.post(
        f"/api/workspaces/{workspace}/invitations", json={"email": writer.email, "role": "write"}
    )
    assert writer.post(f"/api/invitations/{invited.json()['id']}/accept").status_code == 200
    stranger = sign_up(api, "eve@example.org")
    url = repositories_url(workspace)
    body = {"source": str(demo_git), "ref": "v0.1.0"}

    assert writer.get(url).status_code == 200
    assert writer.get(f"{operators_url(workspace)}/{imported['operators'][0]['id']}").is_success
    refused = writer.post(url, json=body)
    assert refused.status_code == 403
    assert "admin" in error_of(refused)["message"]
    assert writer.post(f"{url}/{imported['id']}/upgrade", json={}).status_code == 403
    assert writer.delete(f"{url}/{imported['id']}").status_code == 403
    for response in (
        stranger.get(url),
        stranger.post(url, json=body),
        stranger.get(f"{url}/{imported['id']}"),
        stranger.get(operators_url(workspace)),
        stranger.get(f"{operators_url(workspace)}/{imported['operators'][0]['id']}"),
    ):
        assert response.status_code == 404
    stranger_workspace = new_workspace(stranger)
    assert stranger.get(f"{repositories_url(stranger_workspace)}/{imported['id']}").status_code == (
        404
    )
    stranger_operator = f"{operators_url(stranger_workspace)}/{imported['operators'][0]['id']}"
    assert stranger.get(stranger_operator).status_code == 404


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_a_server_path_is_for_platform_administrators_only(
    api: TestClient, demo_git: Path, server_context: ServerContext, as_url: bool
) -> None:
    owner = sign_up(api, "olga@example.org")  # owns her workspace, not the platform
    workspace_id = new_workspace(owner)
    source = demo_git.as_uri() if as_url else str(demo_git)

    refused = owner.post(repositories_url(workspace_id), json={"source": source, "ref": "v0.1.0"})

    assert refused.status_code == 403
    assert "only platform administrators" in error_of(refused)["message"]
    assert checkouts(server_context) == []


# --- removal ---------------------------------------------------------------------------------


def add_workflow(context: ServerContext, workspace_id: int, name: str) -> int:
    """A workflow whose current version runs operators of flowui_examples."""
    document = json.loads(EXAMPLE_WORKFLOW.read_text())
    with context.sessions() as session:
        workflow = Workflow(
            workspace_id=workspace_id,
            name=name,
            dag_id=f"flowui_{secrets.token_hex(8)}",
            current_version=1,
        )
        workflow.versions.append(WorkflowVersion(number=1, document=document))
        session.add(workflow)
        session.commit()
        return workflow.id


def test_removal_is_refused_while_a_workflow_uses_it_then_removes_every_checkout(
    admin: ApiUser,
    workspace: int,
    examples_git: GitHistory,
    demo_git: Path,
    server_context: ServerContext,
) -> None:
    examples = import_ok(admin, workspace, examples_git.path, "v1")
    url = f"{repositories_url(workspace)}/{examples['id']}"
    assert admin.post(f"{url}/upgrade", json={"ref": "v2"}).status_code == 200
    demo = import_ok(admin, workspace, demo_git, "v0.1.0")
    workflow_id = add_workflow(server_context, workspace, "Nightly update")
    assert len(checkouts(server_context)) == 3

    refused = admin.delete(url)

    assert refused.status_code == 409
    error = error_of(refused)
    assert "'Nightly update'" in error["message"]
    assert error["details"][0]["where"] == f"/workflows/{workflow_id}"
    assert len(checkouts(server_context)) == 3
    # The workflow does not use demo: that one goes at once.
    assert admin.delete(f"{repositories_url(workspace)}/{demo['id']}").status_code == 204

    with server_context.sessions() as session:
        session.delete(session.get(Workflow, workflow_id))
        session.commit()
    removed = admin.delete(url)

    assert removed.status_code == 204
    assert admin.get(repositories_url(workspace)).json() == []
    assert admin.get(operators_url(workspace), params={"all_versions": "true"}).json() == []
    assert admin.get(url).status_code == 404
    assert checkouts(server_context) == []


# --- tokens ----------------------------------------------------------------------------------


def test_a_token_is_used_for_the_fetch_and_never_stored_answered_or_logged(
    api: TestClient,
    demo_git: Path,
    server_context: ServerContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No https git server runs here: a git wrapper points the https URL at the local
    repository, and records that the token reached git (through its environment)."""
    caplog.set_level(logging.DEBUG)
    owner = sign_up(api, "olga@example.org")
    workspace_id = new_workspace(owner)
    token = "ghp_" + secrets.token_hex(16)
    url = "https://git.example.invalid/acme/demo.git"
    seen = tmp_path / "headers.txt"
    real_git = shutil.which("git")
    write_fake_git(
        tmp_path / "bin",
        f'echo "$GIT_CONFIG_VALUE_0" >> "{seen}"\n'
        f'exec "{real_git}" -c "url.{demo_git.as_uri()}.insteadOf={url}" "$@"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    imported = owner.post(
        repositories_url(workspace_id), json={"source": url, "ref": "v0.1.0", "token": token}
    )
    failed = owner.post(
        f"{repositories_url(workspace_id)}/{imported.json()['id']}/upgrade",
        json={"ref": "main", "token": token},  # main is still 0.1.0
    )

    assert imported.status_code == 201, imported.text
    assert imported.json()["source"] == url
    assert failed.status_code == 409
    assert "Authorization: Basic" in seen.read_text()  # the token did reach git
    listed = owner.get(repositories_url(workspace_id))
    for response in (imported, failed, listed):
        assert token not in response.text
    assert token not in caplog.text
    with server_context.sessions() as session:
        for table in Base.metadata.sorted_tables:
            assert token not in repr(session.execute(select(table)).all()), table.name


def test_a_failing_fetch_with_a_token_does_not_show_it(admin: ApiUser, workspace: int) -> None:
    token = "ghp_" + secrets.token_hex(16)
    source = f"https://127.0.0.1:{free_port()}/acme/ops.git"  # loopback, nothing listens

    response = admin.post(
        repositories_url(workspace), json={"source": source, "ref": "main", "token": token}
    )

    assert response.status_code == 422
    assert f"cannot read the repository {source}" in error_of(response)["message"]
    assert token not in response.text


# --- the bundled examples --------------------------------------------------------------------


def test_the_bundled_examples_are_imported_once(
    admin: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    import_bundled_examples(server_context, workspace)
    import_bundled_examples(server_context, workspace)

    [repository] = admin.get(repositories_url(workspace)).json()
    assert (repository["name"], repository["source"]) == ("flowui_examples", str(EXAMPLES))
    assert [(v["version"], v["ref"], v["commit"]) for v in repository["versions"]] == [
        ("0.1.0", None, None)
    ]
    assert repository["operator_count"] == len(EXAMPLE_OPERATORS)
    assert len(checkouts(server_context)) == 1


def test_without_a_source_tree_no_examples_are_imported(
    admin: ApiUser,
    workspace: int,
    server_context: ServerContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bootstrap, "BUNDLED_EXAMPLES", tmp_path / "site-packages" / "examples")

    import_bundled_examples(server_context, workspace)

    with server_context.sessions() as session:
        assert session.scalars(select(Repository)).all() == []
    assert checkouts(server_context) == []
