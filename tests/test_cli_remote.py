"""The `flowui` command against a remote platform: a real `flowui server run`, a personal access
token made over HTTP, and the installed `flowui` run as a user would, with its own config dir."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowui.platform import free_port

FLOWUI = Path(sys.executable).parent / "flowui"
EXAMPLES = Path(__file__).parents[1] / "examples"
WORKFLOW = EXAMPLES / "workflows" / "ml_classification.json"
ADMIN = "admin@example.com"
PASSWORD = "correct horse battery staple"


@dataclass
class Platform:
    url: str
    session: httpx.Client  # signed in with the admin's password

    def new_token(self, name: str) -> tuple[int, str]:
        created = self.session.post("/api/auth/tokens", json={"name": name, "expires_in_days": 1})
        assert created.status_code == 201, created.text
        return int(created.json()["id"]), str(created.json()["token"])


@dataclass
class User:
    """Someone running the installed `flowui`, with a home and config dir of their own."""

    home: Path

    @property
    def servers(self) -> Path:
        return self.home / "config" / "flowui" / "servers"

    def flowui(self, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("FLOWUI_PROJECT_DIR", "FLOWUI_TOKEN", "FLOWUI_SERVER")
        }
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / "config"), COLUMNS="200")
        env.update(environ)
        return subprocess.run(
            [str(FLOWUI), *args],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    def json(self, *args: str) -> Any:
        result = self.flowui(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """`flowui server run` on a free port (no Airflow), with its first administrator."""
    directory = tmp_path_factory.mktemp("remote-platform")
    created = subprocess.run(
        [str(FLOWUI), "init", str(directory / "project")], capture_output=True, check=False
    )
    assert created.returncode == 0, created.stderr
    port = free_port()
    environ = {**os.environ, "FLOWUI_ADMIN_EMAIL": ADMIN, "FLOWUI_ADMIN_PASSWORD": PASSWORD}
    for name in ("FLOWUI_PROJECT_DIR", "AIRFLOW_API_URL"):
        environ.pop(name, None)
    log = (directory / "server.log").open("wb")
    server = subprocess.Popen(
        [FLOWUI, "server", "run", "--project", directory / "project", "--port", str(port)],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # it imports the example operators first
        while True:
            try:
                if httpx.get(f"{url}/api/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (directory / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=60) as session:
            signed_in = session.post(
                "/api/auth/login", data={"username": ADMIN, "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
            session.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"
            yield Platform(url, session)
    finally:
        server.terminate()
        server.wait(30)
        log.close()


@pytest.fixture(scope="module")
def user(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> User:
    """A user logged in to the platform with a token of their own."""
    someone = User(tmp_path_factory.mktemp("user"))
    _, token = platform.new_token("cli")
    logged_in = someone.flowui("login", platform.url, "--token", token)
    assert logged_in.returncode == 0, logged_in.stderr
    return someone


@pytest.fixture(scope="module")
def second_workspace(platform: Platform) -> int:
    created = platform.session.post("/api/workspaces", json={"name": "CLI team"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_login_keeps_the_token_in_a_private_file_of_that_server_only(
    platform: Platform, tmp_path: Path
) -> None:
    someone = User(tmp_path)
    _, token = platform.new_token("login")

    result = someone.flowui("login", platform.url, "--token", token)

    assert result.returncode == 0, result.stderr
    assert f"logged in to {platform.url} as {ADMIN}" in result.stdout
    [kept] = someone.servers.iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(someone.servers.stat().st_mode) == 0o700
    assert json.loads(kept.read_text()) == {"url": platform.url, "token": token, "email": ADMIN}


def test_login_without_a_token_says_how_to_make_one(platform: Platform, tmp_path: Path) -> None:
    result = User(tmp_path).flowui("login", platform.url)

    assert result.returncode == 2
    assert "--token" in result.stderr
    assert "Access tokens" in result.stderr
    assert not (tmp_path / "config" / "flowui" / "servers").exists()


def test_validate_answers_in_the_local_shape(user: User, tmp_path: Path) -> None:
    assert user.json("workflows", "validate", str(WORKFLOW)) == {
        "ok": True,
        "errors": [],
        "tasks": [task["id"] for task in json.loads(WORKFLOW.read_text())["tasks"]],
    }
    broken = json.loads(WORKFLOW.read_text())
    broken["tasks"][0]["operator"]["name"] = "NoSuchOperator"
    (tmp_path / "broken.json").write_text(json.dumps(broken))

    result = user.flowui("workflows", "validate", str(tmp_path / "broken.json"), "--json")

    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["ok"] is False
    assert answer["errors"] and all(set(e) == {"pointer", "message"} for e in answer["errors"])
    assert any(e["pointer"].startswith("/tasks/0/operator") for e in answer["errors"])


def test_deploy_then_list_shows_the_deployed_workflow(user: User) -> None:
    deployed = user.json("workflows", "deploy", str(WORKFLOW))

    listed = user.json("workflows", "list")

    [workflow] = [each for each in listed if each["id"] == deployed["workflow_id"]]
    assert workflow["dag_id"] == deployed["dag_id"]
    assert workflow["deployed_version"] == deployed["version"]


def test_run_without_airflow_names_the_server_and_the_cause(platform: Platform, user: User) -> None:
    ready = httpx.get(f"{platform.url}/api/health/ready").json()
    assert ready["airflow"] == "not_configured"  # this test's server has no Airflow

    run = user.flowui("workflows", "run", str(WORKFLOW))
    runs = user.flowui("runs", "list", json.loads(WORKFLOW.read_text())["name"])

    for result in (run, runs):
        assert result.returncode == 1
        assert f"{platform.url}: Airflow is not configured for this server" in result.stderr


def test_repositories_import_a_directory_of_the_server_as_its_admin(
    user: User, second_workspace: int
) -> None:
    workspace = str(second_workspace)

    imported = user.json(
        "repositories", "import", str(EXAMPLES / "operators_repository"), "--workspace", workspace
    )

    assert imported["name"] == "flowui_examples"
    assert imported["operator_count"] > 0
    listed = user.json("repositories", "list", "--workspace", workspace)
    assert [each["id"] for each in listed] == [imported["id"]]


def test_datasets_upload_list_download_round_trip(user: User, second_workspace: int) -> None:
    data = bytes(range(256)) * 1000
    (user.home / "measures.bin").write_bytes(data)
    workspace = str(second_workspace)

    uploaded = user.json(
        "datasets", "upload", "measures.bin", "--name", "measures", "--workspace", workspace
    )
    listed = user.json("datasets", "list", "--workspace", workspace)
    downloaded = user.flowui(
        "datasets",
        "download",
        str(uploaded["id"]),
        "-o",
        "back/measures.bin",
        "--workspace",
        workspace,
    )

    assert uploaded["size"] == len(data)
    assert listed["workspace"] == second_workspace
    assert listed["datasets"] == {uploaded["storage_id"]: "file_system"}
    assert downloaded.returncode == 0, downloaded.stderr
    assert (user.home / "back" / "measures.bin").read_bytes() == data


def test_an_unknown_workspace_is_named(platform: Platform, user: User) -> None:
    result = user.flowui("datasets", "list", "--workspace", "999")

    assert result.returncode == 1
    assert f"no such workspace 999 on {platform.url}" in result.stderr


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = User(tmp_path).flowui("login", url, "--token", "flowui_pat_x")
    listed = User(tmp_path).flowui(
        "workflows", "list", "--server", url, FLOWUI_TOKEN="flowui_pat_x"
    )

    for failed in (result, listed):
        assert failed.returncode == 1
        assert f"{url} is unreachable" in failed.stderr


def test_a_revoked_token_asks_to_log_in_again(platform: Platform, tmp_path: Path) -> None:
    someone = User(tmp_path)
    token_id, token = platform.new_token("to revoke")
    assert someone.flowui("login", platform.url, "--token", token).returncode == 0
    assert platform.session.delete(f"/api/auth/tokens/{token_id}").status_code == 204

    result = someone.flowui("workflows", "list")

    assert result.returncode == 1
    assert f"{platform.url} refused the token: it is expired or revoked" in result.stderr
    assert f"run `flowui login {platform.url}` again" in result.stderr


def test_logout_removes_the_file_and_the_commands_need_a_server_again(
    platform: Platform, tmp_path: Path
) -> None:
    someone = User(tmp_path)
    _, token = platform.new_token("logout")
    assert someone.flowui("login", platform.url, "--token", token).returncode == 0

    result = someone.flowui("logout")
    after = someone.flowui("workflows", "list")

    assert result.returncode == 0, result.stderr
    assert list(someone.servers.iterdir()) == []
    assert after.returncode == 2
    assert "no server is selected" in after.stderr
