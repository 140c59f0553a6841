"""Fixtures that start a real Airflow for the tests that need one, and stop it afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

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
from flowui.server.models import User
from flowui.storage import FileSystemRoot

AIRFLOW_STARTUP_TIMEOUT = 180.0
# A secret the platform's tasks receive from the environment; tests check it never shows.
E2E_SECRET_NAME = "FLOWUI_E2E_TOKEN"


def wait_until(done: Callable[[], bool], seconds: float) -> bool:
    """Whether `done()` holds within `seconds` (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether process `pid` has ended (a zombie counts as ended) within `seconds`."""
    return wait_until(lambda: not is_process_running(pid), seconds)


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """Every running process's pid and arguments, as the host sees them."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if is_process_running(int(proc.name)):
            yield int(proc.name), arguments


EXAMPLES = Path(__file__).parents[1] / "examples"


def example_inputs(root: FileSystemRoot) -> dict[str, str]:
    """The example dataset workflow's parameters: its data copied where every task sees it
    (the root's dataset/ folder: bound into sandboxes, mounted into containers)."""
    inputs = root.datasets / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    data = EXAMPLES / "operators_repository" / "data"
    return {
        "sales_source": str(shutil.copy(data / "sales.csv", inputs / "sales.csv")),
        "customers_source": str(shutil.copy(data / "customers.json", inputs / "customers.json")),
    }


def wait_until_none_with_argument(marker: str, seconds: float = 5.0) -> bool:
    """Whether every process one of whose arguments is `marker` has ended within `seconds`
    (found as the host sees it: a sandboxed process tells only its pid inside its sandbox)."""
    return wait_until(
        lambda: not any(marker.encode() in arguments for _, arguments in command_lines()),
        seconds,
    )


def assert_no_process_left(pids: list[int]) -> None:
    left = [pid for pid in pids if is_process_running(pid)]
    assert not left, f"processes still running after the platform stopped: {left}"


def forkserver_pids(root: Path) -> list[int]:
    """The running fork servers (process runtime) of the root `root`, and the tasks they run
    (forks, with the same command line)."""
    folder = str(FileSystemRoot(root).forkservers).encode()
    # A sandboxed server's bwrap names it too: the server is the Python that runs it.
    return [
        pid
        for pid, arguments in command_lines()
        if b"flowui.runtime.forkserver" in arguments
        and not arguments[0].endswith(b"bwrap")
        and any(argument.startswith(folder) for argument in arguments)
    ]


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
def platform_environment(**values: str) -> Iterator[None]:
    """While it lasts, this process (and what it starts) has `values` in its environment and
    finds no uv on PATH nor in $UV, as a platform started as `.venv/bin/flowui up` by a service
    manager would."""
    saved = {name: os.environ.get(name) for name in ("PATH", "UV", *values)}
    os.environ["PATH"] = path_without_uv(os.environ.get("PATH", ""))
    os.environ.pop("UV", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
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


@contextmanager
def running_platform(project: Path, **environ: str) -> Iterator[AirflowPlatform]:
    """Airflow's api-server, scheduler and dag-processor, and FlowUI's server, on free ports in
    the project `project` (created), started with `environ` added to this process's environment
    and no uv on PATH (the platform carries the uv its tasks need). Stopped at the end, with
    the fork servers its tasks started: no process is left.

    Fails (never skips) with the failing component's log tail when Airflow cannot start.
    """
    # environ={}: the developer's FLOWUI_* variables do not reach the tests' platform.
    settings = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={})
    settings.root.create()
    write_config_file(settings)  # CLI commands run in the project find the same root
    platform = Platform(settings, free_port(), server_port=free_port())
    try:
        with platform_environment(**environ):  # Airflow's processes and tasks inherit it
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


@pytest.fixture(scope="session")
def airflow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowPlatform]:
    """The tests' platform (its first administrator: admin@example.com with `password`); its
    tasks get E2E_SECRET_NAME from the environment."""
    project = tmp_path_factory.mktemp("airflow-platform")
    os.environ[E2E_SECRET_NAME] = secrets.token_urlsafe(24)
    with running_platform(project) as platform:
        yield platform


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


def make_platform_admin(context: ServerContext, user: ApiUser) -> None:
    """Make `user` a platform administrator (as the first administrator is)."""
    with context.sessions() as session:
        session.execute(update(User).where(User.email == user.email).values(is_admin=True))
        session.commit()


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


# --- moto's server (a real S3, and more, on the loopback interface) -----------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server (`moto_server`) on a free loopback port; yields its endpoint URL.

    Fails (never skips) with the end of its log when it cannot start; stopped by its pid.
    """
    from aws import moto_server as running_moto_server

    with running_moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def moto_environment(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3's own lookup in this process (as in the server and Airflow's workers) reaches
    moto's server with dummy credentials; its endpoint."""
    from aws import MOTO_ENVIRONMENT

    for name, value in {**MOTO_ENVIRONMENT, "AWS_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


# --- containers (Podman) -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def podman_environ() -> Iterator[dict[str, str]]:
    """The environment for every podman command of the tests (and for `flowui operators build`
    when it runs podman): the tests' containers.conf and storage.conf, with podman's storage in
    the tests' cache directory (`FLOWUI_TEST_CACHE`, else ~/.cache/flowui-tests).

    Fails (never skips) when podman, runc or debootstrap is missing: `make containers`. At the
    end of the session, images that lost their tag to a newer build are pruned, so the cache
    keeps only the layers of the current images.
    """
    from containers import podman, podman_environment, require_container_tools

    require_container_tools()
    environ = podman_environment()
    yield environ
    podman("image", "prune", "--force", check=False, environ=environ)


@pytest.fixture(scope="session")
def container_base_image(podman_environ: dict[str, str]) -> str:
    """`localhost/flowui-test-base:bookworm`: Debian with python3 and python3-venv, made with
    debootstrap (about 45 s, once per cache directory), never pulled from a registry."""
    from containers import ensure_base_image

    return ensure_base_image(podman_environ)


@pytest.fixture(scope="session")
def podman_socket(
    podman_environ: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Podman's Docker-compatible API (`podman system service`) on a Unix socket; yields its
    DOCKER_HOST URL (unix://...) once docker-py can ping it, and stops it by pid afterwards."""
    from containers import podman_service

    with podman_service(tmp_path_factory.mktemp("podman-socket"), podman_environ) as url:
        yield url


@pytest.fixture(scope="session")
def example_images(
    container_base_image: str,
    podman_environ: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The images of the example operators repository (a copy, organized), built once per
    session by `flowui operators build`'s code on the test base image: a `RepositoryImages`
    with `.repository`, `.images` (group -> image name, e.g. group0 ->
    ghcr.io/flowui/flowui_examples:0.1.0-group0) and `.base_image`. Wheels and image layers
    are cached between runs."""
    import shutil

    from containers import build_repository_images

    examples = Path(__file__).parents[1] / "examples" / "operators_repository"
    repository = tmp_path_factory.mktemp("example-images") / "operators_repository"
    shutil.copytree(examples, repository, ignore=shutil.ignore_patterns("__pycache__", ".flowui"))
    return build_repository_images(repository, container_base_image, podman_environ)
