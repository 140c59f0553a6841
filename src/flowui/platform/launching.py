"""Launching the platform's processes and stopping them: each component in its own process group
with its own log, startable again as it was first started, stopped group by group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO

from flowui.config import Profile, Settings
from flowui.platform.environment import HOST, PlatformPaths
from flowui.platform.processes import (
    ProcessInfo,
    die_with_parent,
    is_alive,
    process_trees,
    signal_group,
    start_ticks,
)
from flowui.platform.production import celery_node, worker_names
from flowui.platform.state import LOG_HEADER, ComponentDied, ComponentState

API_SERVER, SCHEDULER, DAG_PROCESSOR = "api-server", "scheduler", "dag-processor"
TRIGGERER = "triggerer"
SERVER = "server"  # FlowUI's own REST API, started after Airflow's components
# Task logs are files on this machine: no component serves them on 0.0.0.0.
COMPONENTS: dict[str, tuple[str, ...]] = {
    API_SERVER: ("api-server", "--host", HOST, "--port", "{port}"),
    SCHEDULER: ("scheduler", "--skip-serve-logs"),
    DAG_PROCESSOR: ("dag-processor",),
}


def platform_components(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Airflow's components of the project's profile: `airflow` arguments by name."""
    if settings.FLOWUI_PROFILE is Profile.EMBEDDED:
        return dict(COMPONENTS)
    components = COMPONENTS | {TRIGGERER: ("triggerer", "--skip-serve-logs")}
    for worker in worker_names(settings):
        components[worker] = (
            "celery",
            "worker",
            "--celery-hostname",
            celery_node(worker),
            "--concurrency",
            str(settings.AIRFLOW__CELERY__WORKER_CONCURRENCY),
            "--skip-serve-logs",
        )
    return components


def port_is_free(port: int) -> bool:
    """True if a server could listen on `port` of the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does: connections of a stopped server in TIME_WAIT do not block the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port of the loopback interface that nothing listens on now (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Launcher:
    """The processes one `flowui up` started.

    Each runs in its own process group (the terminal's Ctrl-C reaches the supervisor only),
    appends to its log under the platform's logs, and with `bind_to_parent` gets SIGTERM when
    the launching thread's process dies.
    """

    def __init__(self, paths: PlatformPaths, *, bind_to_parent: bool) -> None:
        self.paths = paths
        self.bind_to_parent = bind_to_parent
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        # How each component was started, to start it again.
        self._launches: dict[str, tuple[list[str], dict[str, str]]] = {}

    def _open_log(self, name: str) -> IO[bytes]:
        log = self.paths.log(name).open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n{LOG_HEADER} {name} starting at {stamp} =====\n".encode())
        log.flush()
        return log

    def _popen(
        self, name: str, command: list[str], environment: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        with self._open_log(name) as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(environment),
                cwd=self.paths.airflow_home,
                start_new_session=True,  # own process group; the terminal's Ctrl-C is ours
                preexec_fn=die_with_parent if self.bind_to_parent else None,
            )

    def run_to_end(
        self,
        name: str,
        command: list[str],
        environment: Mapping[str, str],
        *,
        timeout: float,
        cancel: threading.Event,
    ) -> int | None:
        """Run a one-off step, logged under `name`, until it exits: its exit code, or None when
        `cancel` was set first. Past `timeout`, TimeoutError. Either way nothing of it is left
        running."""
        process = self._popen(name, command, environment)
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None:
                if cancel.is_set():
                    return None
                if time.monotonic() > deadline:
                    raise TimeoutError(name)
                cancel.wait(0.1)
        finally:
            if process.poll() is None:
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def spawn(
        self, name: str, command: list[str], environment: Mapping[str, str]
    ) -> ComponentState:
        process = self._popen(name, command, environment)
        self._processes[name] = process
        self._launches[name] = (command, dict(environment))
        return ComponentState(
            name=name,
            pid=process.pid,
            process_group=process.pid,
            start_ticks=start_ticks(process.pid),
            log_file=self.paths.log(name),
        )

    def exited(self, component: ComponentState) -> ComponentDied | None:
        """The component's end, if it is no longer running (ours or another process's)."""
        process = self._processes.get(component.name)
        if process is not None:
            if process.poll() is not None:
                return ComponentDied(component, process.returncode)
        elif not is_alive(component.pid, component.start_ticks):
            return ComponentDied(component, None)
        return None

    def launched(self, name: str) -> bool:
        """True if this launcher started `name`, so it can start it again."""
        return name in self._launches

    def relaunch(self, old: ComponentState) -> ComponentState:
        """Start the component again as it was started; its old process group is killed first,
        so nothing of it is left."""
        self.terminate(process_trees([(old.pid, old.start_ticks)]), grace=0)
        signal_group(old.process_group, signal.SIGKILL)
        self._processes.pop(old.name).wait()
        command, environment = self._launches[old.name]
        return self.spawn(old.name, command, environment).model_copy(
            update={"restarts": old.restarts + 1}
        )

    def stop(self, recorded: list[ComponentState], grace: float, last: str) -> None:
        """Stop the recorded components and every process this launcher started: SIGTERM to
        each process group, SIGKILL after `grace` seconds; component `last` after the others."""
        targets = {c.name: (c.pid, c.start_ticks) for c in recorded}
        for name, process in self._processes.items():
            targets.setdefault(name, (process.pid, None))
        first = [pid_ticks for name, pid_ticks in targets.items() if name != last]
        for stage in (first, [targets[last]] if last in targets else []):
            self.terminate(process_trees(stage), grace)
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1.0)
        self._processes.clear()

    def terminate(self, targets: Mapping[int, ProcessInfo], grace: float) -> None:
        """SIGTERM to every process group among `targets`, SIGKILL to what is left after grace."""
        groups = {info.process_group for info in targets.values()}
        groups.discard(os.getpgrp())  # never our own group
        for group in groups:
            signal_group(group, signal.SIGTERM)
        if self._wait_gone(targets, grace):
            return
        for info in targets.values():
            if is_alive(info.pid, info.start_ticks):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(info.pid, signal.SIGKILL)
        for group in groups:
            signal_group(group, signal.SIGKILL)
        self._wait_gone(targets, 10.0)

    def _wait_gone(self, targets: Mapping[int, ProcessInfo], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            for process in self._processes.values():
                process.poll()  # reap our children, or they linger as zombies
            if not any(is_alive(i.pid, i.start_ticks) for i in targets.values()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
