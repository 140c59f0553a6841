"""The supervisor behind `flowui up`: Airflow's components as child processes in their own
process groups, recorded in a state file so that `flowui status` and `flowui down` work elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ValidationError

from flowui.config import ConfigError, DeployMode, Profile, Settings
from flowui.platform.environment import (
    DEFAULT_PORT,
    HOST,
    AdminCredentials,
    PlatformPaths,
    airflow_command,
    airflow_environment,
    airflow_executor,
    api_url,
    ensure_admin_credentials,
    flowui_command,
    server_environment,
)
from flowui.platform.processes import (
    ProcessInfo,
    die_with_parent,
    is_alive,
    process_trees,
    signal_group,
    start_ticks,
)
from flowui.platform.production import (
    WORKER_PREFIX,
    celery_node,
    check_production,
    ensure_fernet_key,
    ping_workers,
    worker_names,
)
from flowui.runtime.forkserver import stop_forkservers
from flowui.storage import read_environment_file, write_json_atomically
from flowui.storage.housekeeping import HousekeepingSettings, write_housekeeping_dag

DEFAULT_STARTUP_TIMEOUT = 180.0
DEFAULT_STOP_GRACE = 20.0
MIGRATE_TIMEOUT = 600.0
HEALTHY = "healthy"

API_SERVER, SCHEDULER, DAG_PROCESSOR = "api-server", "scheduler", "dag-processor"
TRIGGERER = "triggerer"
SERVER = "server"  # FlowUI's own REST API, started after Airflow's components
# Task logs are files on this machine: no component serves them on 0.0.0.0.
COMPONENTS: dict[str, tuple[str, ...]] = {
    API_SERVER: ("api-server", "--host", HOST, "--port", "{port}"),
    SCHEDULER: ("scheduler", "--skip-serve-logs"),
    DAG_PROCESSOR: ("dag-processor",),
}
# Airflow's components that report a heartbeat in its health answer, by its key there.
_HEARTBEATS = {
    SCHEDULER: ("scheduler", "latest_scheduler_heartbeat"),
    DAG_PROCESSOR: ("dag_processor", "latest_dag_processor_heartbeat"),
    TRIGGERER: ("triggerer", "latest_triggerer_heartbeat"),
}
# The production profile restarts a component that dies, up to this many times in the window.
RESTART_LIMIT = 5
RESTART_WINDOW = 600.0


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


class PlatformError(Exception):
    """The platform cannot start, stay up or stop; `hint` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)


class PlatformAlreadyRunning(PlatformError):
    """Another `flowui up` runs this project's platform."""


class ComponentDied(PlatformError):
    """A component exited while it should have been running."""

    def __init__(self, component: ComponentState, exit_code: int | None) -> None:
        self.component = component
        self.exit_code = exit_code
        if exit_code is not None and exit_code < 0:
            code = f" (killed by {signal.Signals(-exit_code).name})"
        else:
            code = f" with exit code {exit_code}" if exit_code is not None else ""
        super().__init__(
            f"{component.name} (pid {component.pid}) exited{code}; its log is {component.log_file}",
            hint=f"last lines of {component.log_file}:\n{log_tail(component.log_file)}",
        )


class StartCancelled(PlatformError):
    """The start was interrupted (Ctrl-C or SIGTERM) before the platform was healthy."""


_LOG_HEADER = "===== flowui up:"


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines that the latest start wrote to a log file ('' if none)."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - 64 * 1024))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    starts = [i for i, line in enumerate(all_lines) if line.startswith(_LOG_HEADER)]
    return "\n".join(all_lines[starts[-1] if starts else 0 :][-lines:])


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


# --- state file -------------------------------------------------------------------------------


class ComponentState(BaseModel):
    name: str
    pid: int
    process_group: int
    start_ticks: int | None
    log_file: Path
    restarts: int = 0  # times the supervisor started it again after it died


class PlatformState(BaseModel):
    """What `flowui up` records in `{root}/platform/state.json` for other terminals."""

    supervisor_pid: int | None  # None when started with --detach
    supervisor_start_ticks: int | None
    port: int
    api_url: str
    server_url: str | None = None  # None when started without the FlowUI server
    profile: Profile = Profile.EMBEDDED
    executor: str = "LocalExecutor"
    started_at: datetime
    components: list[ComponentState]

    def component_alive(self, name: str) -> bool:
        return any(is_alive(c.pid, c.start_ticks) for c in self.components if c.name == name)

    @property
    def supervisor_alive(self) -> bool:
        return self.supervisor_pid is not None and is_alive(
            self.supervisor_pid, self.supervisor_start_ticks
        )

    @property
    def components_alive(self) -> bool:
        return any(self.component_alive(c.name) for c in self.components)

    @property
    def any_alive(self) -> bool:
        return self.supervisor_alive or self.components_alive


def read_state(settings: Settings) -> PlatformState | None:
    """The recorded platform of this project, alive or stale; None if there is none."""
    path = PlatformPaths(settings.root).state_file
    try:
        return PlatformState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError):
        return None  # unreadable: as good as absent, the next `up` rewrites it


# --- status -----------------------------------------------------------------------------------


class ComponentStatus(BaseModel):
    name: str
    running: bool
    pid: int | None
    health: str | None  # Airflow's word (healthy/unhealthy), None when it could not be asked
    url: str | None
    log_file: Path
    restarts: int = 0


class PlatformStatus(BaseModel):
    state: Literal["running", "degraded", "stopped"]
    profile: Profile
    executor: str
    gui_url: str | None  # FlowUI's web GUI (the server's root): where a user starts
    admin_email: str | None  # the first administrator's login to the GUI
    api_url: str | None  # Airflow's API
    airflow_ui_url: str | None  # Airflow's own UI: the expert's view
    started_at: datetime | None
    supervisor_pid: int | None
    stale_state_file: bool  # a state file named processes that are all gone
    components: list[ComponentStatus]


def fetch_health(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    """Airflow's `/api/v2/monitor/health` answer, or None when the api-server does not answer."""
    import httpx  # here: importing it costs `flowui --help` half a second

    try:
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=timeout)
        response.raise_for_status()
        health = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return health if isinstance(health, dict) else None


def server_health(url: str, timeout: float = 1.0) -> str | None:
    """HEALTHY when FlowUI's server answers its liveness check, else None."""
    import httpx

    try:
        response = httpx.get(f"{url}/api/health/live", timeout=timeout)
    except httpx.HTTPError:
        return None
    return HEALTHY if response.status_code == 200 else None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        stamp = datetime.fromisoformat(value)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return None


def component_health(
    components: Iterable[str],
    health: Mapping[str, object] | None,
    since: datetime | None = None,
    workers: set[str] | None = None,
) -> dict[str, str | None]:
    """The health of each of Airflow's `components` from its health answer, and of the Celery
    workers from the nodes that answered a ping (`workers`, None when not asked).

    With `since`, a scheduler, dag-processor or triggerer counts as healthy only after a
    heartbeat at or after that time: a job of the previous start can look alive for a while.
    """
    components = list(components)
    result: dict[str, str | None] = dict.fromkeys(components)
    for name in components:
        if name.startswith(WORKER_PREFIX) and workers is not None:
            result[name] = HEALTHY if celery_node(name) in workers else "no answer"
    if health is None:
        return result
    result[API_SERVER] = HEALTHY
    for name, (key, beat) in _HEARTBEATS.items():
        if name not in result:
            continue
        part = health.get(key)
        status = part.get("status") if isinstance(part, dict) else None
        if status == HEALTHY and since is not None:
            heartbeat = _timestamp(part.get(beat) if isinstance(part, dict) else None)
            if heartbeat is None or heartbeat < since:
                status = "starting"
        result[name] = status if isinstance(status, str) else None
    return result


def _component_url(state: PlatformState, name: str) -> str | None:
    if name == API_SERVER:
        return f"{state.api_url}/"
    if name == SERVER and state.server_url is not None:
        return f"{state.server_url}/"
    return None


def platform_status(settings: Settings, timeout: float = 2.0) -> PlatformStatus:
    """The status of this project's platform, as recorded in its state file and asked live."""
    state = read_state(settings)
    paths = PlatformPaths(settings.root)
    if state is None:
        return PlatformStatus(
            state="stopped",
            profile=settings.FLOWUI_PROFILE,
            executor=airflow_executor(settings),
            gui_url=None,
            admin_email=None,
            api_url=None,
            airflow_ui_url=None,
            started_at=None,
            supervisor_pid=None,
            stale_state_file=False,
            components=[
                ComponentStatus(
                    name=name,
                    running=False,
                    pid=None,
                    health=None,
                    url=None,
                    log_file=paths.log(name),
                )
                for name in platform_components(settings)
            ],
        )
    alive = {c.name: state.component_alive(c.name) for c in state.components}
    workers = None
    broker = settings.AIRFLOW__CELERY__BROKER_URL
    running_workers = [n for n in alive if n.startswith(WORKER_PREFIX) and alive[n]]
    if broker is not None and running_workers:
        workers = ping_workers(broker, timeout, expected=len(running_workers))
    health = component_health(
        alive,
        fetch_health(state.api_url, timeout) if any(alive.values()) else None,
        workers=workers,
    )
    if state.server_url is not None and alive.get(SERVER):
        health[SERVER] = server_health(state.server_url, timeout)
    components = [
        ComponentStatus(
            name=c.name,
            running=alive[c.name],
            pid=c.pid,
            health=health.get(c.name) if alive[c.name] else None,
            url=_component_url(state, c.name) if alive[c.name] else None,
            log_file=c.log_file,
            restarts=c.restarts,
        )
        for c in state.components
    ]
    running = [c.running for c in components]
    overall: Literal["running", "degraded", "stopped"] = (
        "running"
        if all(running) and all(c.health == HEALTHY for c in components)
        else "degraded"
        if any(running)
        else "stopped"
    )
    serving_gui = state.server_url is not None and alive.get(SERVER, False)
    return PlatformStatus(
        state=overall,
        profile=state.profile,
        executor=state.executor,
        gui_url=f"{state.server_url}/" if serving_gui else None,
        admin_email=settings.admin_email if serving_gui else None,
        api_url=state.api_url,
        airflow_ui_url=f"{state.api_url}/",
        started_at=state.started_at,
        supervisor_pid=state.supervisor_pid if state.supervisor_alive else None,
        stale_state_file=not state.any_alive,
        components=components,
    )


# --- the supervisor ---------------------------------------------------------------------------


ProgressCallback = Callable[[str], None]


class Platform:
    """Airflow's api-server, scheduler and dag-processor for one FlowUI project.

    `start()` then `wait_until_healthy()`; `poll()` while supervising; `stop()` at the end.
    `Platform.attach(settings)` gives the platform a state file records, to stop it from
    another process. With `bind_to_parent` the components get SIGTERM if this process dies,
    so call `start()` from the thread that lives as long as the platform (the main thread).
    """

    def __init__(
        self,
        settings: Settings,
        port: int = DEFAULT_PORT,
        *,
        server_port: int | None = None,
        bind_to_parent: bool = True,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.paths = PlatformPaths(settings.root)
        self.port = port
        self.server_port = server_port
        self.bind_to_parent = bind_to_parent
        self.cancel = cancel or threading.Event()
        self.state: PlatformState | None = None
        # New at every start; only the platform's processes know it (tasks' secrets).
        self._internal_token = secrets.token_urlsafe(32)
        self._fernet_key: str | None = None  # the production profile's, read at start
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        # How each component was started, to start it again (production profile).
        self._launches: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._restart_times: dict[str, list[float]] = {}
        self._lock: IO[str] | None = None

    @classmethod
    def attach(cls, settings: Settings) -> Platform | None:
        """The platform recorded in the project's state file, or None if there is none."""
        state = read_state(settings)
        if state is None:
            return None
        server_port = int(state.server_url.rsplit(":", 1)[1]) if state.server_url else None
        platform = cls(settings, state.port, server_port=server_port, bind_to_parent=False)
        platform.state = state
        return platform

    @property
    def api_url(self) -> str:
        return api_url(self.port)

    @property
    def server_url(self) -> str | None:
        return api_url(self.server_port) if self.server_port is not None else None

    @property
    def component_pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.state.components} if self.state else {}

    @property
    def components(self) -> dict[str, tuple[str, ...]]:
        return platform_components(self.settings)

    def environment(self) -> dict[str, str]:
        server = None
        if self.server_url is not None:
            server = (self.server_url, self._internal_token)
        environment = airflow_environment(self.settings, self.port, server=server)
        if self._fernet_key is not None:
            environment["AIRFLOW__CORE__FERNET_KEY"] = self._fernet_key
        return environment

    # -- start --------------------------------------------------------------------------------

    def start(self, on_progress: ProgressCallback | None = None) -> AdminCredentials:
        """Migrate the database and start the profile's components; returns the admin's login.

        Raises PlatformAlreadyRunning if this project's platform runs, PlatformError if the
        port is taken, a server of the production profile is missing or unreachable (before
        anything is written), or the migration fails; StartCancelled if `cancel` was set.
        """
        if self.settings.FLOWUI_DEPLOY_MODE is not DeployMode.LOCAL:
            raise PlatformError(
                "`flowui up` runs the local deploy mode only; FLOWUI_DEPLOY_MODE is "
                f"{self.settings.FLOWUI_DEPLOY_MODE.value}",
                hint="set FLOWUI_DEPLOY_MODE=local, or deploy with the tools of that mode",
            )
        report = on_progress or (lambda _message: None)
        try:
            read_environment_file(self.settings.root.cloud_environment)
        except ValueError as error:
            raise PlatformError(
                str(error), hint="run `flowui aws apply` to write it again"
            ) from None
        production = self.settings.FLOWUI_PROFILE is Profile.PRODUCTION
        if production:
            report("Checking PostgreSQL and Redis")
            try:
                check_production(self.settings)
            except ConfigError as error:
                raise PlatformError(str(error), hint=error.hint) from None
        self.settings.root.create()
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._check_not_running()
            if not port_is_free(self.port):
                raise PlatformError(
                    f"port {self.port} on {HOST} is in use", hint="choose another with --port N"
                )
            if self.server_port is not None and not port_is_free(self.server_port):
                raise PlatformError(
                    f"port {self.server_port} on {HOST} is in use",
                    hint="choose another with --server-port N",
                )
            credentials = ensure_admin_credentials(self.settings)
            # Refreshed at every start: the housekeeping DAG runs with the current settings.
            write_housekeeping_dag(
                self.settings.root,
                HousekeepingSettings(
                    root=str(self.settings.root.path),
                    bucket=self.settings.FLOWUI_STORAGE_BUCKET,
                    region=self.settings.AWS_REGION_NAME,
                    archive_runs_after_days=self.settings.FLOWUI_ARCHIVE_RUNS_AFTER_DAYS,
                    interval_hours=self.settings.FLOWUI_HOUSEKEEPING_INTERVAL_HOURS,
                    dry_run=self.settings.FLOWUI_HOUSEKEEPING_DRY_RUN,
                ),
            )
            if production:
                self._fernet_key = ensure_fernet_key(self.settings, self.paths.fernet_key_file)
            report("Migrating Airflow's database")
            self._migrate_database()
            report("Starting " + ", ".join(self.components))
            started_at = datetime.now(UTC)
            components = [
                self._spawn(
                    name,
                    [str(airflow_command()), *(a.format(port=self.port) for a in arguments)],
                    self.environment(),
                )
                for name, arguments in self.components.items()
            ]
            if self.server_port is not None:
                command = [str(flowui_command()), "server", "run", "--port", str(self.server_port)]
                environment = server_environment(
                    self.settings, self.port, credentials, self._internal_token
                )
                components.append(self._spawn(SERVER, command, environment))
            supervisor = None if not self.bind_to_parent else os.getpid()
            self.state = PlatformState(
                supervisor_pid=supervisor,
                supervisor_start_ticks=start_ticks(supervisor) if supervisor else None,
                port=self.port,
                api_url=self.api_url,
                server_url=self.server_url,
                profile=self.settings.FLOWUI_PROFILE,
                executor=airflow_executor(self.settings),
                started_at=started_at,
                components=components,
            )
            write_json_atomically(self.paths.state_file, self.state.model_dump(mode="json"))
        except BaseException:
            self.stop()
            raise
        return credentials

    def _take_lock(self) -> None:
        self.paths.directory.mkdir(parents=True, exist_ok=True)
        handle = self.paths.lock_file.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise self._already_running(read_state(self.settings)) from None
        self._lock = handle  # held while this process supervises; the OS frees it at exit

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _already_running(self, state: PlatformState | None) -> PlatformAlreadyRunning:
        where = f" at {state.api_url}/" if state else ""
        who = f" (supervisor pid {state.supervisor_pid})" if state and state.supervisor_pid else ""
        return PlatformAlreadyRunning(
            f"the platform of {self.settings.project_dir} is already running{where}{who}",
            hint="see it with `flowui status`, stop it with `flowui down`",
        )

    def _check_not_running(self) -> None:
        state = read_state(self.settings)
        if state is not None and state.any_alive:
            raise self._already_running(state)
        # A stale file (every recorded process gone) is replaced by this start.
        self.paths.state_file.unlink(missing_ok=True)

    def _open_log(self, name: str) -> IO[bytes]:
        log = self.paths.log(name).open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n{_LOG_HEADER} {name} starting at {stamp} =====\n".encode())
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

    def _migrate_database(self) -> None:
        command = [str(airflow_command()), "db", "migrate"]
        process = self._popen("db-migrate", command, self.environment())
        deadline = time.monotonic() + MIGRATE_TIMEOUT
        try:
            while process.poll() is None:
                if self.cancel.is_set():
                    raise StartCancelled("stopped while migrating Airflow's database")
                if time.monotonic() > deadline:
                    raise PlatformError(
                        f"`airflow db migrate` took more than {MIGRATE_TIMEOUT:.0f} s",
                        hint=f"see {self.paths.log('db-migrate')}",
                    )
                self.cancel.wait(0.1)
        finally:
            if process.poll() is None:
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if process.returncode != 0:
            log = self.paths.log("db-migrate")
            raise PlatformError(
                f"`airflow db migrate` failed with exit code {process.returncode}; see {log}",
                hint=f"last lines of {log}:\n{log_tail(log)}",
            )

    def _spawn(
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

    # -- health and supervision --------------------------------------------------------------

    def poll(self) -> ComponentDied | None:
        """The first component that is no longer running, as an error to raise or report."""
        if self.state is None:
            return None
        for component in self.state.components:
            process = self._processes.get(component.name)
            if process is not None:
                if process.poll() is not None:
                    return ComponentDied(component, process.returncode)
            elif not is_alive(component.pid, component.start_ticks):
                return ComponentDied(component, None)
        return None

    def wait_until_healthy(
        self,
        timeout: float = DEFAULT_STARTUP_TIMEOUT,
        on_progress: Callable[[Mapping[str, str | None]], None] | None = None,
    ) -> float:
        """Wait until Airflow reports every component healthy; returns the seconds it took.

        Healthy includes the api-server's execution API, which tasks talk to: it is built on
        its first request (about 10 s), so this makes that request instead of the first task.
        Raises ComponentDied as soon as a component exits, PlatformError at the deadline
        (with every log's tail), StartCancelled if `cancel` was set.
        """
        if self.state is None:
            raise PlatformError("the platform is not started")
        started = time.monotonic()
        deadline = started + timeout
        since = self.state.started_at
        execution_api_ready = threading.Event()
        warm_up: threading.Thread | None = None
        while True:
            if self.cancel.is_set():
                raise StartCancelled("stopped before the platform was healthy")
            if (died := self.poll()) is not None:
                raise died
            workers = None
            broker = self.settings.AIRFLOW__CELERY__BROKER_URL
            if broker is not None and (names := worker_names(self.settings)):
                workers = ping_workers(broker, timeout=0.5, expected=len(names))
            health = component_health(
                self.components, fetch_health(self.api_url, timeout=1.0), since, workers
            )
            if health[API_SERVER] == HEALTHY and warm_up is None:
                # In a thread, so that Ctrl-C and a dying component are noticed meanwhile.
                warm_up = threading.Thread(
                    target=self._warm_up_execution_api,
                    args=(execution_api_ready, deadline),
                    daemon=True,
                )
                warm_up.start()
            if health[API_SERVER] == HEALTHY and not execution_api_ready.is_set():
                health[API_SERVER] = "starting"
            if self.server_url is not None:
                health[SERVER] = server_health(self.server_url)
            if on_progress is not None:
                on_progress(health)
            if all(status == HEALTHY for status in health.values()):
                return time.monotonic() - started
            if time.monotonic() > deadline:
                waiting = [name for name, status in health.items() if status != HEALTHY]
                tails = "\n".join(
                    f"--- {self.paths.log(name)}\n{log_tail(self.paths.log(name), 15)}"
                    for name in waiting
                )
                raise PlatformError(
                    f"not healthy after {timeout:.0f} s: {', '.join(waiting)}",
                    hint=f"last lines of their logs:\n{tails}",
                )
            self.cancel.wait(0.25)

    def _warm_up_execution_api(self, ready: threading.Event, deadline: float) -> None:
        import httpx

        while not self.cancel.is_set() and (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.api_url}/execution/health", timeout=remaining)
                if response.status_code == 200:
                    ready.set()
                    return
            self.cancel.wait(0.5)

    def supervise(
        self,
        poll_interval: float = 0.5,
        on_restart: Callable[[ComponentDied, ComponentState], None] | None = None,
    ) -> ComponentDied | None:
        """Block until `cancel` is set (returns None) or a component dies (returns it).

        In the production profile a component that dies is started again (`on_restart` is
        told), unless it died RESTART_LIMIT times within RESTART_WINDOW seconds.
        """
        while not self.cancel.is_set():
            if (died := self.poll()) is not None:
                if not self._may_restart(died.component.name):
                    return died
                restarted = self.restart(died.component.name)
                if on_restart is not None:
                    on_restart(died, restarted)
                continue
            self.cancel.wait(poll_interval)
        return None

    def _may_restart(self, name: str) -> bool:
        if self.settings.FLOWUI_PROFILE is not Profile.PRODUCTION or name not in self._launches:
            return False
        now = time.monotonic()
        recent = [t for t in self._restart_times.get(name, []) if now - t < RESTART_WINDOW]
        self._restart_times[name] = recent
        return len(recent) < RESTART_LIMIT

    def restart(self, name: str) -> ComponentState:
        """Start component `name` again as it was started (its old process group is killed
        first, so nothing of it is left) and record it in the state file."""
        assert self.state is not None
        old = next(c for c in self.state.components if c.name == name)
        self._terminate(process_trees([(old.pid, old.start_ticks)]), grace=0)
        signal_group(old.process_group, signal.SIGKILL)
        self._processes.pop(name).wait()
        command, environment = self._launches[name]
        new = self._spawn(name, command, environment).model_copy(
            update={"restarts": old.restarts + 1}
        )
        self._restart_times.setdefault(name, []).append(time.monotonic())
        self.state = self.state.model_copy(
            update={"components": [new if c.name == name else c for c in self.state.components]}
        )
        write_json_atomically(self.paths.state_file, self.state.model_dump(mode="json"))
        return new

    # -- stop ----------------------------------------------------------------------------------

    def stop(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Stop every component: SIGTERM to each process group, SIGKILL after `grace` seconds.

        The scheduler and dag-processor go first, the api-server last (stopping tasks report
        to it). From another process, a live supervisor (`flowui up`) is asked first, so that
        it stops its children itself and exits cleanly. The state file is removed at the end.
        """
        state = self.state
        if state is not None and state.supervisor_alive and state.supervisor_pid != os.getpid():
            self._ask_supervisor_to_stop(state, grace)
        recorded = {c.name: (c.pid, c.start_ticks) for c in state.components} if state else {}
        for name, process in self._processes.items():
            recorded.setdefault(name, (process.pid, None))
        # The api-server goes last: tasks being stopped report their end to it.
        others = [pid_ticks for name, pid_ticks in recorded.items() if name != API_SERVER]
        for stage in (others, [recorded[API_SERVER]] if API_SERVER in recorded else []):
            self._terminate(process_trees(stage), grace)
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1.0)
        self._processes.clear()
        # Started by tasks, not by us, they live outside the components' process trees.
        stop_forkservers(self.settings.root.path)
        supervised_elsewhere = state is not None and (
            state.supervisor_alive and state.supervisor_pid != os.getpid()
        )
        if state is not None and not state.components_alive and not supervised_elsewhere:
            with contextlib.suppress(OSError):
                current = read_state(self.settings)
                if current is None or current.started_at == state.started_at:
                    self.paths.state_file.unlink(missing_ok=True)
        self._release_lock()

    def _terminate(self, targets: Mapping[int, ProcessInfo], grace: float) -> None:
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

    def _ask_supervisor_to_stop(self, state: PlatformState, grace: float) -> None:
        assert state.supervisor_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 2 * grace + 25.0  # its two stages, then its SIGKILLs
        while state.supervisor_alive and time.monotonic() < deadline:
            time.sleep(0.1)  # another process: nothing to wait on but its pid

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

    def status(self, timeout: float = 2.0) -> PlatformStatus:
        return platform_status(self.settings, timeout)
