"""`flowui up --profile production`: Airflow on PostgreSQL with CeleryExecutor workers on Redis,
supervised by the installed `flowui`; the machine's PostgreSQL and Redis, a database of each
test's own, dropped afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import Platform, PlatformState, free_port, process_tree_pids
from flowui.platform.production import ensure_fernet_key
from flowui.server.airflow_client import AirflowClient
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.airflow_platform import example_inputs, path_without_uv
from tests.support.operator_repositories import make_repository, metadata, write_operator
from tests.support.paths import EXAMPLES, FLOWUI
from tests.support.postgres import postgres_database
from tests.support.processes import assert_no_process_left, forkserver_pids, process_environ

REDIS_URL = "redis://127.0.0.1:6379"
ADMIN_PASSWORD = "production password"
HEARTBEAT_TIMEOUT = 20  # seconds before a killed worker's task counts as lost
STARTUP_TIMEOUT = 300.0
T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first truthy value of `condition`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}", pytrace=False)
        time.sleep(0.5)


@contextmanager
def redis_database() -> Iterator[str]:
    """An empty database of the machine's Redis (one of 1-15), flushed afterwards."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}); start it with `redis-server "
            '--daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`',
            pytrace=False,
        )
    for number in secrets.SystemRandom().sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        if client.dbsize() == 0:
            break
    else:
        pytest.fail("every database of the machine's Redis holds keys", pytrace=False)
    try:
        yield f"{REDIS_URL}/{number}"
    finally:
        client.flushdb()
        client.close()


def flowui(
    project: Path, *arguments: str, environ: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The installed `flowui` run in `project`, as a user runs it in a terminal."""
    return subprocess.run(
        [str(FLOWUI), *arguments],
        capture_output=True,
        text=True,
        env=(environ or user_environ()) | {"FLOWUI_PROJECT_DIR": str(project)},
        timeout=timeout,
        check=False,
    )


def user_environ() -> dict[str, str]:
    """This process's environment without the developer's FLOWUI_/AIRFLOW settings and uv."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLOWUI_", "AIRFLOW")) and name != "UV"
    }
    environ["PATH"] = path_without_uv(environ.get("PATH", ""))
    return environ


def write_project(project: Path, **values: str) -> Path:
    """A project whose config.ini sets `values`, as a user would write them."""
    project.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs"), **values}, environ={}
    )
    write_config_file(settings)
    return project


# --- before anything starts ------------------------------------------------------------------


def test_up_refuses_the_production_profile_without_its_servers_naming_each_setting(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "project")

    result = flowui(project, "up", "--profile", "production", timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    for name, section in (
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "[production]"),
        ("FLOWUI_DATABASE_URL", "[platform]"),
        ("AIRFLOW__CELERY__BROKER_URL", "[production]"),
    ):
        line = next(line for line in result.stderr.splitlines() if name in line)
        assert "is not set" in line and section in line
    assert not (project / "fs" / "platform").exists()  # no log, no state, no key


def test_up_names_each_unreachable_server_and_where_its_setting_came_from(
    tmp_path: Path,
) -> None:
    closed = free_port()
    with postgres_database() as airflow_database:
        missing_database = airflow_database.rsplit("/", 1)[0] + "/no_such_database"
        project = write_project(
            tmp_path / "project",
            FLOWUI_PROFILE="production",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=missing_database,
            AIRFLOW__CELERY__BROKER_URL=f"redis://:hunter2@127.0.0.1:{closed}/0",
        )
        environ = user_environ() | {
            "FLOWUI_DATABASE_URL": f"postgresql+psycopg2://postgres:pw@127.0.0.1:{closed}/flowui"
        }

        result = flowui(project, "up", environ=environ, timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr
    assert re.search(
        r"config\.ini \[production\] AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: cannot connect to "
        r'PostgreSQL at \S+/no_such_database: .*database "no_such_database" does not exist',
        errors,
    ), errors
    assert re.search(
        rf"environment FLOWUI_DATABASE_URL: cannot connect to PostgreSQL at \S+:{closed}/flowui:"
        r".*refused",
        errors,
    ), errors
    assert re.search(
        rf"config\.ini \[production\] AIRFLOW__CELERY__BROKER_URL: cannot reach Redis at "
        rf"127\.0\.0\.1:{closed}/0",
        errors,
    ), errors
    assert "hunter2" not in errors and ":pw@" not in errors  # passwords are never shown
    assert not (project / "fs" / "platform").exists()


def test_the_two_databases_must_differ(tmp_path: Path) -> None:
    with postgres_database() as database, redis_database() as broker:
        project = write_project(
            tmp_path / "project",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database,
            FLOWUI_DATABASE_URL=database,
            AIRFLOW__CELERY__BROKER_URL=broker,
        )
        result = flowui(project, "up", "--profile", "production", timeout=60)

    assert result.returncode == 1
    assert "name the same database: each needs its own" in result.stderr


def test_the_fernet_key_is_generated_once_kept_private_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    from cryptography.fernet import Fernet

    key_file = tmp_path / "platform" / "fernet_key"
    settings = load_settings(tmp_path, environ={})

    first = ensure_fernet_key(settings, key_file)
    second = ensure_fernet_key(settings, key_file)
    given = Fernet.generate_key().decode()
    from_environment = ensure_fernet_key(
        load_settings(tmp_path, environ={"AIRFLOW__CORE__FERNET_KEY": given}), key_file
    )

    assert first == second and Fernet(first.encode())  # a valid key, kept
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert from_environment == given and key_file.read_text().strip() == first


# --- the running production platform -----------------------------------------------------------

NAP_MODEL = """
from pydantic import BaseModel


class InputModel(BaseModel):
    seconds: float = 1.0


class OutputModel(BaseModel):
    slept: float
"""

NAP_OPERATOR = """
import time

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class NapOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        journal = self.results_path / "journal.txt"
        journal.parent.mkdir(parents=True, exist_ok=True)
        with journal.open("a") as stream:
            stream.write("start\\n")
        time.sleep(input_model.seconds)
        with journal.open("a") as stream:
            stream.write("done\\n")
        return OutputModel(slept=input_model.seconds)
"""


@dataclass
class ProductionPlatform:
    project: Path
    root: FileSystemRoot
    client: AirflowClient
    output: Path  # what `flowui up` printed

    def status(self) -> dict[str, Any]:
        result = flowui(self.project, "status", "--json", timeout=60)
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def component(self, name: str) -> dict[str, Any]:
        return next(c for c in self.status()["components"] if c["name"] == name)

    def deploy(self, document: dict[str, Any], dag_id: str) -> None:
        catalog = catalog_from_root(self.root)
        workflow, errors = parse_workflow(document, catalog)
        assert workflow is not None and not errors, errors
        since = time_now()
        compile_workflow(workflow, dag_id, catalog, self.root)
        self.client.wait_for_dag(dag_id, timeout=90, parsed_since=since)

    def worker_running(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The worker component whose log shows it executing the task of the run."""
        for log in sorted((self.root.platform / "logs").glob("worker-*.log")):
            text = log.read_text(errors="replace")
            for line in text.splitlines():
                if (
                    "Executing workload in Celery" in line
                    and f"task_id='{task_id}'" in line
                    and f"dag_id='{dag_id}'" in line
                    and f"run_id='{run_id}'" in line
                ):
                    return log.stem
        return None


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionPlatform]:
    """`flowui up --profile production` with 2 Celery workers, in the foreground, as a user
    starts it; stopped with SIGTERM (Ctrl-C) at the end, leaving no process."""
    project = tmp_path_factory.mktemp("production")
    output = project / "up.log"
    with (
        postgres_database() as airflow_database,
        postgres_database() as flowui_database,
        redis_database() as broker,
    ):
        write_project(
            project,
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow_database,
            FLOWUI_DATABASE_URL=flowui_database,
            AIRFLOW__CELERY__BROKER_URL=broker,
            FLOWUI_CELERY_WORKERS="2",
            AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        )
        environ = user_environ() | {
            "FLOWUI_PROJECT_DIR": str(project),
            "FLOWUI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "FLOWUI_TASK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        }
        port, server_port = free_port(), free_port()
        command = [str(FLOWUI), "up", "--profile", "production", "--port", str(port)]
        command += ["--server-port", str(server_port), "--timeout", str(STARTUP_TIMEOUT)]
        with output.open("wb") as stream:
            up = subprocess.Popen(
                command, stdout=stream, stderr=subprocess.STDOUT, env=environ, cwd=project
            )
        root = FileSystemRoot(project / "fs")
        platform = ProductionPlatform(
            project,
            root,
            AirflowClient(f"http://127.0.0.1:{port}", "admin", ADMIN_PASSWORD),
            output,
        )
        pids: list[int] = []
        try:

            def started() -> bool:
                if up.poll() is not None:
                    pytest.fail(
                        f"flowui up exited with {up.returncode}:\n{output.read_text()}",
                        pytrace=False,
                    )
                return "Press Ctrl-C to stop" in output.read_text()

            wait_for(started, STARTUP_TIMEOUT + 30, "flowui up to report the platform healthy")
            yield platform
        finally:
            platform.client.close()
            for component in platform.status()["components"]:
                if component["pid"]:
                    pids += process_tree_pids(component["pid"])
            pids += forkserver_pids(root.path)
            up.send_signal(signal.SIGTERM)
            try:
                code = up.wait(timeout=120)
            except subprocess.TimeoutExpired:
                up.kill()
                code = up.wait()
            assert_no_process_left(pids)
            assert code == 0, output.read_text()


def test_status_lists_the_triggerer_and_each_worker_healthy(
    production: ProductionPlatform,
) -> None:
    result = flowui(production.project, "status")
    report = production.status()

    assert result.returncode == 0, result.stdout + result.stderr
    assert (report["state"], report["profile"], report["executor"]) == (
        "running",
        "production",
        "CeleryExecutor",
    )
    health = {c["name"]: c["health"] for c in report["components"]}
    assert health == dict.fromkeys(
        ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2", "server"],
        "healthy",
    )
    for worker in ("worker-1", "worker-2"):
        assert re.search(rf"^{worker}\s.*running.*healthy", result.stdout, re.MULTILINE)
    assert "production profile, CeleryExecutor" in result.stdout


def test_every_component_uses_postgresql_redis_and_the_kept_fernet_key(
    production: ProductionPlatform,
) -> None:
    key_file = production.root.platform / "fernet_key"
    key = key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # The api-server and the workers set their process title over their /proc environ.
    pids = {c["name"]: c["pid"] for c in production.status()["components"]}
    for name in ("scheduler", "dag-processor", "triggerer"):
        environ = process_environ(pids[name])
        assert environ["AIRFLOW__CORE__FERNET_KEY"] == key, name
        assert environ["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert environ["AIRFLOW__CELERY__BROKER_URL"].startswith(REDIS_URL)
        assert environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert not (production.root.airflow / "airflow.db").exists()  # no SQLite anywhere


def test_the_example_workflows_succeed_on_the_celery_workers(
    production: ProductionPlatform,
) -> None:
    inputs = example_inputs(production.root)  # where the tasks' sandboxes see them
    runs = {
        "dataset_update": [
            part for name, path in inputs.items() for part in ("--param", f"{name}={path}")
        ],
        "ml_classification": ["--param", "model_type=knn"],
    }
    for name, parameters in runs.items():
        result = flowui(
            production.project,
            "workflows",
            "run",
            str(EXAMPLES / "workflows" / f"{name}.json"),
            "--repo",
            str(EXAMPLES / "operators_repository"),
            *parameters,
            "--json",
        )

        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["state"] == "success", report
        for task in report["tasks"]:
            assert task["state"] == "success"
            worker = production.worker_running(report["dag_id"], report["run_id"], task["task_id"])
            assert worker in ("worker-1", "worker-2"), task["task_id"]


@pytest.fixture(scope="module")
def nap_repository(production: ProductionPlatform, tmp_path_factory: pytest.TempPathFactory):
    source = make_repository(tmp_path_factory.mktemp("nap") / "repo", ())
    write_operator(
        source, "NapOperator", model=NAP_MODEL, operator=NAP_OPERATOR, meta=metadata("NapOperator")
    )
    return install_repository(source, production.root)


def nap_workflow(seconds: float, **task: Any) -> dict[str, Any]:
    operator = {"repository": "demo", "name": "NapOperator", "version": "0.1.0"}
    return {
        "name": "nap",
        "tasks": [
            {"id": "nap", "operator": operator, "inputs": {"seconds": {"value": seconds}}, **task},
            {
                "id": "after",
                "operator": operator,
                "inputs": {"seconds": {"from": "nap", "output": "slept"}},
            },
        ],
    }


def journal(production: ProductionPlatform, dag_id: str, run_id: str, task_id: str) -> list[str]:
    path = production.root.task_run(dag_id, run_id, task_id).results / "journal.txt"
    return path.read_text().splitlines() if path.is_file() else []


def test_a_worker_killed_mid_task_is_restarted_and_the_task_retried_to_success(
    production: ProductionPlatform, nap_repository: Path
) -> None:
    # A nap long enough that the kill below lands in it on a busy machine too.
    production.deploy(nap_workflow(20, retries=1, retry_delay_seconds=0), "nap_worker_killed")
    run = production.client.trigger_run("nap_worker_killed", {})
    worker = wait_for(
        lambda: (
            journal(production, "nap_worker_killed", run.run_id, "nap") == ["start"]
            and production.worker_running("nap_worker_killed", run.run_id, "nap")
        ),
        120,
        "the nap task to start on a worker",
    )
    before = production.component(worker)

    # The worker and every process it started, as when its container or host dies. (Airflow
    # runs each task process in a group of its own: killing the worker's group alone would
    # leave the task running, orphaned, beside its retry.)
    for pid in process_tree_pids(before["pid"]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    killed_in = journal(production, "nap_worker_killed", run.run_id, "nap")
    assert killed_in == ["start"], f"the kill came after the nap's first try ended: {killed_in}"

    finished = production.client.wait_for_run("nap_worker_killed", run.run_id, timeout=300)
    assert finished.state == "success"
    tasks = {
        ti.task_id: ti for ti in production.client.task_instances("nap_worker_killed", run.run_id)
    }
    assert (tasks["nap"].state, tasks["nap"].try_number) == ("success", 2)
    assert journal(production, "nap_worker_killed", run.run_id, "nap") == [
        "start",  # the killed try
        "start",
        "done",
    ]
    assert journal(production, "nap_worker_killed", run.run_id, "after") == ["start", "done"]
    after = production.component(worker)
    assert after["restarts"] == 1 and after["pid"] != before["pid"]
    wait_for(
        lambda: production.component(worker)["health"] == "healthy",
        60,
        f"{worker} to answer again",
    )
    assert f"Started {worker} again" in production.output.read_text()


def test_the_scheduler_killed_mid_run_is_restarted_and_the_run_completes_once(
    production: ProductionPlatform, nap_repository: Path
) -> None:
    production.deploy(nap_workflow(8), "nap_scheduler_killed")
    run = production.client.trigger_run("nap_scheduler_killed", {})
    wait_for(
        lambda: journal(production, "nap_scheduler_killed", run.run_id, "nap") == ["start"],
        120,
        "the nap task to start",
    )
    before = production.component("scheduler")

    os.killpg(before["pid"], signal.SIGKILL)

    finished = production.client.wait_for_run("nap_scheduler_killed", run.run_id, timeout=300)
    assert finished.state == "success"
    after = production.component("scheduler")
    assert after["restarts"] == 1 and after["pid"] != before["pid"]
    tasks = production.client.task_instances("nap_scheduler_killed", run.run_id)
    assert {(ti.task_id, ti.state, ti.try_number) for ti in tasks} == {
        ("nap", "success", 1),
        ("after", "success", 1),
    }
    # Each task ran once: its journal, output and log tell one try each; nothing is missing.
    run_directory = production.root.task_run("nap_scheduler_killed", run.run_id, "nap").directory
    assert sorted(p.name for p in run_directory.parent.iterdir()) == ["after", "nap"]
    for task_id in ("nap", "after"):
        paths = production.root.task_run("nap_scheduler_killed", run.run_id, task_id)
        assert journal(production, "nap_scheduler_killed", run.run_id, task_id) == [
            "start",
            "done",
        ]
        assert json.loads(paths.output.read_text()) == {"slept": 8}
        assert paths.log.read_text().count(f"task {task_id} of run") == 1


def test_a_component_that_keeps_dying_is_restarted_five_times_then_reported(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        tmp_path,
        {"VOLUME_MOUNT_PATH_HOST": str(tmp_path / "fs"), "FLOWUI_PROFILE": "production"},
        environ={},
    )
    platform = Platform(settings, free_port(), bind_to_parent=False)
    settings.root.create()
    platform.paths.logs.mkdir(parents=True)
    # A component whose every start fails at once, as one does when its database is gone.
    crashing = platform.launcher.spawn(
        "crashing", [sys.executable, "-c", "exit(3)"], dict(os.environ)
    )
    platform.state = PlatformState(
        supervisor_pid=None,
        supervisor_start_ticks=None,
        port=platform.port,
        api_url=platform.api_url,
        profile=settings.FLOWUI_PROFILE,
        started_at=time_now(),
        components=[crashing],
    )
    restarts: list[int] = []

    died = platform.supervise(
        poll_interval=0.05, on_restart=lambda _died, new: restarts.append(new.restarts)
    )

    assert restarts == [1, 2, 3, 4, 5]
    assert died is not None and died.exit_code == 3
    assert died.component.restarts == 5
    recorded = PlatformState.model_validate_json(platform.paths.state_file.read_bytes())
    assert recorded.components[0].restarts == 5
