"""The tests' shared fixtures: a real Airflow platform, the server's database (SQLite and
PostgreSQL) and API, moto's server, and Podman with its images. What the tests import is in
tests/support."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.storage import FileSystemRoot
from tests.support.airflow_platform import E2E_SECRET_NAME, AirflowPlatform, running_platform
from tests.support.paths import EXAMPLES
from tests.support.postgres import postgres_database

# --- parallel workers (pytest-xdist, `-n` in pyproject.toml) --------------------------------

# Modules that start the tests' Kubernetes run on one worker: the cluster has fixed ports.
SHARED_WORKER = {
    "test_kubernetes_e2e.py": "kubernetes-cluster",
    "test_helm_e2e.py": "kubernetes-cluster",
}
# The slowest journeys, slowest first (pytest --durations), are handed out first, so that the
# run does not end waiting on one long module while the other workers are idle.
SLOWEST_FIRST = (
    "kubernetes-cluster",
    "test_compose_e2e.py",
    "test_platform_production.py",
    "test_workflows_e2e.py",
    "test_cloud_aws.py",
    "test_cloud_servers_task.py",
    "test_server_fuzz.py",
    "test_platform.py",
    "test_images.py",
    "test_runtimes_e2e.py",
    "test_gui_e2e.py",
)


def _worker_group(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return SHARED_WORKER.get(module, module)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {group: index for index, group in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_worker_group(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """One module is one unit of work for a worker, so that its session fixtures start once
    there. (xdist's own `--dist loadgroup` marks do not group on pytest 9.2: they rename
    `item._nodeid`, which pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _worker_group(nodeid)

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def airflow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowPlatform]:
    """The tests' platform (its first administrator: admin@example.com with `password`); its
    tasks get E2E_SECRET_NAME from the environment."""
    project = tmp_path_factory.mktemp("airflow-platform")
    os.environ[E2E_SECRET_NAME] = secrets.token_urlsafe(24)
    with running_platform(project) as platform:
        yield platform


# --- the platform server ------------------------------------------------------------------------


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


@pytest.fixture
def api(server_context: ServerContext) -> Iterator[TestClient]:
    with TestClient(create_app(server_context)) as client:
        yield client


# --- moto's server (a real S3, and more, on the loopback interface) -----------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server (`moto_server`) on a free loopback port; yields its endpoint URL.

    Fails (never skips) with the end of its log when it cannot start; stopped by its pid.
    """
    from tests.support.aws import moto_server as running_moto_server

    with running_moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def moto_environment(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3's own lookup in this process (as in the server and Airflow's workers) reaches
    moto's server with dummy credentials; its endpoint."""
    from tests.support.aws import MOTO_ENVIRONMENT

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
    from tests.support.containers import podman, podman_environment, require_container_tools

    require_container_tools()
    environ = podman_environment()
    yield environ
    podman("image", "prune", "--force", check=False, environ=environ)


@pytest.fixture(scope="session")
def container_base_image(podman_environ: dict[str, str]) -> str:
    """`localhost/flowui-test-base:bookworm`: Debian with python3 and python3-venv, made with
    debootstrap (about 45 s, once per cache directory), never pulled from a registry."""
    from tests.support.containers import ensure_base_image

    return ensure_base_image(podman_environ)


@pytest.fixture(scope="session")
def podman_socket(
    podman_environ: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Podman's Docker-compatible API (`podman system service`) on a Unix socket; yields its
    DOCKER_HOST URL (unix://...) once docker-py can ping it, and stops it by pid afterwards."""
    from tests.support.containers import podman_service

    with podman_service(tmp_path_factory.mktemp("podman-socket"), podman_environ) as url:
        yield url


@pytest.fixture(scope="session")
def platform_image(container_base_image: str, podman_environ: dict[str, str]) -> str:
    """FlowUI's platform image (`localhost/flowui-test-platform:<digest>`), built by the
    installed `flowui deploy image` on the test base image when its inputs changed (FlowUI's code
    and GUI, pyproject.toml, uv.lock, the base image, the platform's user); cached between runs.
    It runs as FLOWUI_PLATFORM_UID:FLOWUI_PLATFORM_GID (1000:1000 by default)."""
    from tests.support.platform_image import ensure_platform_image

    return ensure_platform_image(container_base_image, podman_environ)


@pytest.fixture(scope="session")
def store_images(container_base_image: str, podman_environ: dict[str, str]) -> Any:
    """PostgreSQL's and Redis's images made from Debian's packages on the test base image (no
    registry here), cached between runs: a `tests.support.compose.StoreImages`."""
    from tests.support.compose import ensure_store_images

    return ensure_store_images(container_base_image, podman_environ)


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

    from tests.support.containers import build_repository_images

    examples = EXAMPLES / "operators_repository"
    repository = tmp_path_factory.mktemp("example-images") / "operators_repository"
    shutil.copytree(examples, repository, ignore=shutil.ignore_patterns("__pycache__", ".flowui"))
    return build_repository_images(repository, container_base_image, podman_environ)


# --- Kubernetes (a real one-node cluster) -----------------------------------------------------


@pytest.fixture(scope="session")
def kubernetes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The tests' one-node Kubernetes 1.20 on 127.0.0.1 (`make kubernetes` builds it once per
    machine), started once per session, node Ready in about 30 s; stopped with its pods, mounts
    and network. A `tests.support.kubernetes.Cluster`. Fails (never skips) when it is not
    built or does not start."""
    from tests.support.kubernetes import running_cluster

    with running_cluster(tmp_path_factory.mktemp("kubernetes")) as cluster:
        yield cluster
