"""Fixtures that start a real Airflow for the tests that need one, and stop it afterwards."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from flowui.config import load_settings, write_config_file
from flowui.platform import (
    Platform,
    PlatformError,
    free_port,
    is_process_running,
    process_tree_pids,
)
from flowui.server.airflow_client import AirflowClient
from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.storage import FileSystemRoot

AIRFLOW_STARTUP_TIMEOUT = 180.0
# A secret the platform's tasks receive from the environment; tests check it never shows.
E2E_SECRET_NAME = "FLOWUI_E2E_TOKEN"


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether process `pid` has ended (a zombie counts as ended) within `seconds`."""
    deadline = time.monotonic() + seconds
    while is_process_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_no_process_left(pids: list[int]) -> None:
    left = [pid for pid in pids if is_process_running(pid)]
    assert not left, f"processes still running after the platform stopped: {left}"


def forkserver_pids(root: Path) -> list[int]:
    """The running fork servers (process runtime) of the root `root`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"flowui.runtime.forkserver" in arguments and str(root).encode() in arguments:
            found.append(int(proc.name))
    return [pid for pid in found if is_process_running(pid)]


def path_without_uv(path: str) -> str:
    """`path` (a PATH value) without the directories that hold a `uv` executable."""
    return os.pathsep.join(
        directory
        for directory in path.split(os.pathsep)
        if directory and not os.access(Path(directory) / "uv", os.X_OK)
    )


def process_environ(pid: int) -> dict[str, str]:
    """The environment that process `pid` was started with."""
    items = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


@contextmanager
def no_uv_on_path() -> Iterator[None]:
    """While it lasts, this process (and what it starts) finds no uv on PATH nor in $UV, as a
    platform started as `.venv/bin/flowui up` by a service manager would."""
    saved = {name: os.environ.get(name) for name in ("PATH", "UV")}
    os.environ["PATH"] = path_without_uv(os.environ.get("PATH", ""))
    os.environ.pop("UV", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value


@dataclass(frozen=True)
class AirflowPlatform:
    """A running platform: its project, root, API, the admin's login and a client."""

    project_dir: Path
    root: FileSystemRoot
    base_url: str
    server_url: str  # FlowUI's server, started by the platform as `flowui up` does
    username: str
    password: str
    client: AirflowClient
    platform: Platform


@pytest.fixture(scope="session")
def airflow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowPlatform]:
    """Airflow's api-server, scheduler and dag-processor, and FlowUI's server, on free ports in
    a temporary project (its first administrator: admin@example.com with `password`).

    Fails (never skips) with the failing component's log tail when Airflow cannot start.
    """
    project = tmp_path_factory.mktemp("airflow-platform")
    # environ={}: the developer's FLOWUI_* variables do not reach the tests' platform.
    settings = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={})
    settings.root.create()
    write_config_file(settings)  # CLI commands run in the project find the same root
    # Set before the start: Airflow's processes, and so the tasks, inherit it.
    os.environ[E2E_SECRET_NAME] = secrets.token_urlsafe(24)
    platform = Platform(settings, free_port(), server_port=free_port())
    try:
        with no_uv_on_path():  # the platform carries the uv its tasks need
            credentials = platform.start()
        platform.wait_until_healthy(AIRFLOW_STARTUP_TIMEOUT)
    except PlatformError as error:
        platform.stop()
        pytest.fail(f"Airflow did not start: {error}\n{error.hint or ''}", pytrace=False)
    client = AirflowClient(platform.api_url, credentials.username, credentials.password)
    try:
        yield AirflowPlatform(
            project_dir=project,
            root=settings.root,
            base_url=platform.api_url,
            server_url=str(platform.server_url),
            username=credentials.username,
            password=credentials.password,
            client=client,
            platform=platform,
        )
    finally:
        client.close()
        pids = [pid for main in platform.component_pids.values() for pid in process_tree_pids(main)]
        pids += forkserver_pids(settings.root.path)
        platform.stop()
        assert_no_process_left(pids)


# --- the platform server ------------------------------------------------------------------------

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server; dropped afterwards."""
    import psycopg2

    name = f"flowui_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 ({error}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            pytrace=False,
        )
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each server test runs on SQLite (the embedded default, None) and on PostgreSQL."""
    if request.param == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def server_context(tmp_path: Path, database: str | None) -> Iterator[ServerContext]:
    context = ServerContext.open(FileSystemRoot(tmp_path / "fs"), database=database)
    try:
        yield context
    finally:
        context.close()


@dataclass
class ApiUser:
    """A signed-in user of the API under test."""

    client: TestClient
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.client.get(url, headers=self.headers, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.client.post(url, headers=self.headers, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.client.patch(url, headers=self.headers, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.client.put(url, headers=self.headers, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.client.delete(url, headers=self.headers, **kwargs)


@pytest.fixture
def api(server_context: ServerContext) -> Iterator[TestClient]:
    with TestClient(create_app(server_context)) as client:
        yield client


def sign_up(client: TestClient, email: str, password: str = "correct horse battery") -> ApiUser:
    """Register a user through the API and sign in."""
    registered = client.post("/api/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    login = client.post("/api/auth/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return ApiUser(client, email, password, login.json()["access_token"])


def new_workspace(user: ApiUser, name: str = "Data team") -> int:
    """A workspace `user` owns; its id."""
    created = user.post("/api/workspaces", json={"name": name})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def join(owner: ApiUser, workspace: int, user: ApiUser, role: str) -> ApiUser:
    """`user` made a member of `workspace` with `role`: invited by `owner`, then accepted."""
    invitation = owner.post(
        f"/api/workspaces/{workspace}/invitations", json={"email": user.email, "role": role}
    )
    assert invitation.status_code == 201, invitation.text
    accepted = user.post(f"/api/invitations/{invitation.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return user


def error_of(response: Response) -> dict[str, Any]:
    """The error of a response, checked to have the API's one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    assert set(error) == {"status", "code", "message", "details"}
    return error
