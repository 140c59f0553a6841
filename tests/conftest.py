"""Fixtures that start a real Airflow for the tests that need one, and stop it afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowui.config import load_settings, write_config_file
from flowui.platform import (
    Platform,
    PlatformError,
    free_port,
    is_process_running,
    process_tree_pids,
)
from flowui.server.airflow_client import AirflowClient
from flowui.storage import FileSystemRoot

AIRFLOW_STARTUP_TIMEOUT = 180.0
# A secret the platform's tasks receive from the environment; tests check it never shows.
E2E_SECRET_NAME = "FLOWUI_E2E_TOKEN"


def assert_no_process_left(pids: list[int]) -> None:
    left = [pid for pid in pids if is_process_running(pid)]
    assert not left, f"processes still running after the platform stopped: {left}"


@dataclass(frozen=True)
class AirflowPlatform:
    """A running platform: its project, root, API, the admin's login and a client."""

    project_dir: Path
    root: FileSystemRoot
    base_url: str
    username: str
    password: str
    client: AirflowClient
    platform: Platform


@pytest.fixture(scope="session")
def airflow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowPlatform]:
    """Airflow's api-server, scheduler and dag-processor on a free port in a temporary root.

    Fails (never skips) with the failing component's log tail when Airflow cannot start.
    """
    project = tmp_path_factory.mktemp("airflow-platform")
    # environ={}: the developer's FLOWUI_* variables do not reach the tests' platform.
    settings = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={})
    settings.root.create()
    write_config_file(settings)  # CLI commands run in the project find the same root
    # Set before the start: Airflow's processes, and so the tasks, inherit it.
    os.environ[E2E_SECRET_NAME] = secrets.token_urlsafe(24)
    platform = Platform(settings, free_port())
    try:
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
            username=credentials.username,
            password=credentials.password,
            client=client,
            platform=platform,
        )
    finally:
        client.close()
        pids = [pid for main in platform.component_pids.values() for pid in process_tree_pids(main)]
        platform.stop()
        assert_no_process_left(pids)
