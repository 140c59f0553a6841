"""A real platform for the tests that need Airflow: Airflow's api-server, scheduler and
dag-processor and FlowUI's server, started as `flowui up` starts them and stopped with nothing
left behind; and the example dataset workflow's inputs placed where its tasks see them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowui.config import load_settings, write_config_file
from flowui.platform import Platform, PlatformError, free_port, process_tree_pids
from flowui.server.airflow_client import AirflowClient, DagRun
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.paths import EXAMPLES
from tests.support.processes import assert_no_process_left, forkserver_pids

AIRFLOW_STARTUP_TIMEOUT = 180.0
# A secret the platform's tasks receive from the environment; tests check it never shows.
E2E_SECRET_NAME = "FLOWUI_E2E_TOKEN"


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


def path_without_uv(path: str) -> str:
    """`path` (a PATH value) without the directories that hold a `uv` executable."""
    return os.pathsep.join(
        directory
        for directory in path.split(os.pathsep)
        if directory and not os.access(Path(directory) / "uv", os.X_OK)
    )


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


def deploy_and_run(
    platform: AirflowPlatform, document: dict[str, Any], dag_id: str, conf: dict[str, Any]
) -> DagRun:
    """Compile `document` (no workspace: secrets from the workers' environment) as `dag_id`,
    trigger it with `conf` and wait for its end."""
    catalog = catalog_from_root(platform.root)
    workflow, problems = parse_workflow(document, catalog)
    assert workflow is not None and not problems, problems
    compile_workflow(workflow, dag_id, catalog, platform.root)
    platform.client.wait_for_dag(dag_id, timeout=60)
    started = platform.client.trigger_run(dag_id, conf)
    return platform.client.wait_for_run(dag_id, started.run_id, timeout=600)


def task_states(platform: AirflowPlatform, run: DagRun) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in platform.client.task_instances(run.dag_id, run.run_id)}


def placement(platform: AirflowPlatform, run: DagRun, task_id: str) -> dict[str, Any]:
    """Where the task's last try ran, as its runtime recorded it (placement.json)."""
    paths = platform.root.task_run(run.dag_id, run.run_id, task_id)
    return dict(json.loads(paths.placement.read_text()))


def example_dataset_workflow(runtime: str) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The example dataset workflow with its tasks alternating between `runtime` and processes
    (runtime -> process -> runtime -> process -> runtime, and a process load beside): the
    document, and each task's runtime as set (None: the default, process)."""
    document = json.loads((EXAMPLES / "workflows" / "dataset_update.json").read_text())
    runtimes = {
        "load_sales": runtime,
        "clean": None,
        "join": runtime,
        "aggregate": "process",
        "save": runtime,
        "load_customers": None,
    }
    for task in document["tasks"]:
        if runtimes[task["id"]]:
            task["runtime"] = runtimes[task["id"]]
    return document, runtimes
