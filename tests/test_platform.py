"""`flowui up`, `flowui status` and `flowui down` as a user runs them, with real Airflow processes.

Each `flowui up` here starts its own platform in a temporary project on a free port.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from flowui.config import PROJECT_DIR_VARIABLE, SETTINGS
from flowui.platform import COMPONENTS, free_port, process_tree_pids
from flowui.platform.launching import SERVER
from tests.support.paths import FLOWUI
from tests.support.processes import assert_no_process_left

STARTUP_TIMEOUT = 180.0
ADMIN_PASSWORD = "test-password-not-shown"


def cli_environment(**extra: str) -> dict[str, str]:
    """The test's environment without the developer's FlowUI settings."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTINGS and name != PROJECT_DIR_VARIABLE
    }
    return environment | extra


def flowui(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOWUI), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_environment(),
        check=False,
    )


@dataclass
class RunningUp:
    """A `flowui up` in the foreground, its stdout read line by line."""

    process: subprocess.Popen[str]
    project: Path
    port: int
    server_port: int
    stderr_file: Path
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(
            f"`flowui up` did not print {text!r} (exit code {self.process.poll()}).\n"
            f"stdout:\n" + "\n".join(self.lines) + f"\nstderr:\n{self.stderr}",
            pytrace=False,
        )

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")

    @property
    def root(self) -> Path:
        return self.project / "fs"

    def status(self) -> dict[str, object]:
        result = flowui("status", "--project", str(self.project), "--json")
        status: dict[str, object] = json.loads(result.stdout)
        status["exit_code"] = result.returncode
        return status

    def process_tree(self) -> list[int]:
        """Every pid of the platform now: the supervisor, the components and their children."""
        status = self.status()
        pids = [self.process.pid]
        for component in status["components"]:  # type: ignore[attr-defined]
            pids += process_tree_pids(component["pid"])
        return pids


def launch_up(tmp_path: Path, name: str, **environment: str) -> RunningUp:
    project = tmp_path / name
    port, server_port = free_port(), free_port()
    stderr_file = tmp_path / f"{name}.stderr"
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(
            [
                *(str(FLOWUI), "up", "--project", str(project)),
                *("--port", str(port), "--server-port", str(server_port)),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=cli_environment(**environment),
        )
    return RunningUp(process, project, port, server_port, stderr_file)


@pytest.fixture
def stop_at_end() -> Iterator[list[RunningUp]]:
    """Whatever a test leaves running is stopped, even when it fails half-way."""
    started: list[RunningUp] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            up.process.send_signal(signal.SIGTERM)
            up.process.wait(timeout=90)


def test_up_refuses_a_server_host_it_cannot_listen_on_before_creating_anything(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    # 192.0.2.0/24 is reserved for documentation: never an address of this machine.
    result = flowui("up", "--project", str(project), "--server-host", "192.0.2.7")

    assert result.returncode == 1
    assert "--server-host 192.0.2.7: FlowUI's server cannot listen there" in result.stderr
    assert "0.0.0.0 for every interface" in result.stderr
    assert not project.exists()


def test_up_serves_airflow_status_shows_it_a_second_up_is_refused_and_down_stops_it(
    tmp_path: Path, stop_at_end: list[RunningUp]
) -> None:
    up = launch_up(tmp_path, "platform")
    stop_at_end.append(up)
    up.wait_for_line("Ctrl-C", STARTUP_TIMEOUT)
    assert (up.project / "config.ini").is_file()  # `up` created the project
    server_url = f"http://127.0.0.1:{up.server_port}"
    assert_gui_comes_first(up.lines, server_url, f"http://127.0.0.1:{up.port}/")
    password_line = next(line for line in up.lines if "password" in line)
    assert "generated now" in password_line  # shown once, as FLOWUI_ADMIN_PASSWORD is unset

    status = up.status()
    assert status["exit_code"] == 0
    assert status["state"] == "running"
    assert status["gui_url"] == f"{server_url}/"
    assert status["admin_email"] == "admin@example.com"
    assert status["airflow_ui_url"] == f"http://127.0.0.1:{up.port}/"
    components = {c["name"]: c for c in status["components"]}  # type: ignore[attr-defined]
    assert set(components) == {*COMPONENTS, SERVER}
    assert all(c["running"] and c["health"] == "healthy" for c in components.values())
    assert components["api-server"]["url"] == f"http://127.0.0.1:{up.port}/"
    assert components[SERVER]["url"] == f"{server_url}/"
    assert "<html" in httpx.get(f"{server_url}/").text.lower()  # the GUI is served there
    password = password_line.split()[1]
    login = httpx.post(
        f"{server_url}/api/auth/login",
        data={"username": "admin@example.com", "password": password},
    )
    assert login.status_code == 200, login.text  # the first administrator, same password
    ready = httpx.get(f"{server_url}/api/health/ready")
    assert ready.json() == {"status": "ready", "database": "ok", "airflow": "ok"}
    for name in [*COMPONENTS, SERVER]:
        log = up.root / "platform" / "logs" / f"{name}.log"
        assert log.stat().st_size > 0, f"{log} is empty"

    second = flowui("up", "--project", str(up.project), "--port", str(free_port()))
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert f"http://127.0.0.1:{up.port}/" in second.stderr

    pids = up.process_tree()
    assert len(pids) >= 4  # the supervisor, three components and their children
    down = flowui("down", "--project", str(up.project))
    assert down.returncode == 0, down.stderr
    assert "Stopped api-server" in down.stdout
    assert up.process.wait(timeout=30) == 0, up.stderr
    assert_no_process_left(pids)
    assert not (up.root / "platform" / "state.json").exists()

    status = up.status()
    assert status["state"] == "stopped"
    assert status["exit_code"] == 3
    again = flowui("down", "--project", str(up.project))
    assert again.returncode == 0
    assert "not running" in again.stdout


def assert_gui_comes_first(lines: list[str], server_url: str, airflow_ui: str) -> None:
    """FlowUI's GUI, with the login to use, is the first address printed; Airflow's UI later."""
    addresses = [index for index, line in enumerate(lines) if "http://" in line]
    first = lines[addresses[0]]
    assert "Open FlowUI" in first and f"{server_url}/ " in f"{first} "
    assert "sign in as admin@example.com" in first
    airflow_line = next(line for line in lines if airflow_ui in line)
    assert "Airflow UI" in airflow_line and "for experts" in airflow_line


def test_up_detached_prints_the_gui_first_and_status_shows_it(tmp_path: Path) -> None:
    project = tmp_path / "detached"
    port, server_port = free_port(), free_port()
    server_url = f"http://127.0.0.1:{server_port}"
    up = subprocess.run(
        [
            *(str(FLOWUI), "up", "--detach", "--project", str(project)),
            *("--port", str(port), "--server-port", str(server_port)),
        ],
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        env=cli_environment(FLOWUI_ADMIN_PASSWORD=ADMIN_PASSWORD),
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert_gui_comes_first(up.stdout.splitlines(), server_url, f"http://127.0.0.1:{port}/")
        assert ADMIN_PASSWORD not in up.stdout  # given by the environment: not printed

        status = flowui("status", "--project", str(project))
        assert status.returncode == 0, status.stdout
        lines = status.stdout.splitlines()
        assert "Open FlowUI" in lines[1] and f"{server_url}/" in lines[1]
        assert "admin@example.com" in lines[1]
    finally:
        down = flowui("down", "--project", str(project))
    assert down.returncode == 0, down.stderr


def wait_for_components(up: RunningUp) -> tuple[dict[str, int], list[int]]:
    """Once `flowui up` has spawned the components: their pids by name, and every pid."""
    state_file = up.root / "platform" / "state.json"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not state_file.exists():
        assert up.process.poll() is None, up.stderr
        assert time.monotonic() < deadline, "`flowui up` never started the components"
        time.sleep(0.1)
    state = json.loads(state_file.read_text())
    components = {c["name"]: c["pid"] for c in state["components"]}
    pids = [up.process.pid]
    for pid in components.values():
        pids += process_tree_pids(pid)
    assert len(pids) >= 4
    return components, pids


def test_ctrl_c_stops_every_component_of_a_starting_platform(
    tmp_path: Path, stop_at_end: list[RunningUp]
) -> None:
    up = launch_up(tmp_path, "interrupted", FLOWUI_ADMIN_PASSWORD=ADMIN_PASSWORD)
    stop_at_end.append(up)
    _, pids = wait_for_components(up)

    up.process.send_signal(signal.SIGINT)
    assert up.process.wait(timeout=60) == 130, up.stderr
    assert "Interrupted; the platform is stopped." in up.stderr
    assert ADMIN_PASSWORD not in up.stderr
    assert_no_process_left(pids)
    assert not (up.root / "platform" / "state.json").exists()
    assert flowui("status", "--project", str(up.project)).returncode == 3


def test_a_component_that_dies_is_named_with_its_log_and_the_others_are_stopped(
    tmp_path: Path, stop_at_end: list[RunningUp]
) -> None:
    up = launch_up(tmp_path, "dying")
    stop_at_end.append(up)
    components, pids = wait_for_components(up)

    os.kill(components["dag-processor"], signal.SIGKILL)
    assert up.process.wait(timeout=60) == 1, up.stderr
    log = up.root / "platform" / "logs" / "dag-processor.log"
    assert f"dag-processor (pid {components['dag-processor']}) exited" in up.stderr
    assert str(log) in up.stderr
    assert_no_process_left(pids)
