"""The supervisor behind `flowui up`: Airflow's components (and FlowUI's server) as child
processes, recorded in a state file so that `flowui status` and `flowui down` work elsewhere.

Launching is `launching.Launcher`'s, health `health.HealthWatch`'s; `Platform` here orders a
start (checks before anything is written, the lock, the migration, the components), supervises
(restarts in the production profile) and stops.

Why FlowUI supervises its own processes rather than handing them to supervisord or circus: both
are a second daemon with its own configuration and control socket that a user of `flowui up`
would install, configure and learn, for a platform that lives as long as one terminal command.
And what "started" and "stopped" mean here is Airflow's, which neither knows: healthy is
Airflow's health answer with heartbeats of this start, a warmed-up execution API and Celery
workers that answer a ping; a stop takes the api-server last (stopping tasks report to it),
whole process groups (tasks' children included) and the sandboxes' fork servers that tasks
started. Deployments that have a supervisor already (Kubernetes, docker-compose, systemd) run
each component under it instead (deploy/), not `flowui up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO

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
from flowui.platform.health import HEALTHY, HealthWatch, PlatformStatus, platform_status
from flowui.platform.launching import (
    API_SERVER,
    SERVER,
    Launcher,
    platform_components,
    port_is_free,
)
from flowui.platform.processes import start_ticks
from flowui.platform.production import check_production, ensure_fernet_key
from flowui.platform.state import (
    ComponentDied,
    ComponentState,
    PlatformAlreadyRunning,
    PlatformError,
    PlatformState,
    StartCancelled,
    log_tail,
    read_state,
)
from flowui.runtime.forkserver import stop_forkservers
from flowui.storage import read_environment_file, write_json_atomically
from flowui.storage.housekeeping import HousekeepingSettings, write_housekeeping_dag

DEFAULT_STARTUP_TIMEOUT = 180.0
DEFAULT_STOP_GRACE = 20.0
MIGRATE_TIMEOUT = 600.0
# The production profile restarts a component that dies, up to this many times in the window.
RESTART_LIMIT = 5
RESTART_WINDOW = 600.0

ProgressCallback = Callable[[str], None]


class Platform:
    """Airflow's api-server, scheduler and dag-processor for one FlowUI project.

    `start()` then `wait_until_healthy()`; `supervise()` (or `poll()`) while it runs; `stop()`
    at the end. `Platform.attach(settings)` gives the platform a state file records, to stop it
    from another process. With `bind_to_parent` the components get SIGTERM if this process
    dies, so call `start()` from the thread that lives as long as the platform (the main one).
    """

    def __init__(
        self,
        settings: Settings,
        port: int = DEFAULT_PORT,
        *,
        server_port: int | None = None,
        server_host: str = HOST,
        bind_to_parent: bool = True,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.paths = PlatformPaths(settings.root)
        self.port = port
        self.server_port = server_port
        self.server_host = server_host
        self.bind_to_parent = bind_to_parent
        self.cancel = cancel or threading.Event()
        self.state: PlatformState | None = None
        self.launcher = Launcher(self.paths, bind_to_parent=bind_to_parent)
        # New at every start; only the platform's processes know it (tasks' secrets).
        self._internal_token = secrets.token_urlsafe(32)
        self._fernet_key: str | None = None  # the production profile's, read at start
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
                self.launcher.spawn(
                    name,
                    [str(airflow_command()), *(a.format(port=self.port) for a in arguments)],
                    self.environment(),
                )
                for name, arguments in self.components.items()
            ]
            if self.server_port is not None:
                command = [
                    str(flowui_command()),
                    *("server", "run", "--host", self.server_host, "--port", str(self.server_port)),
                ]
                environment = server_environment(
                    self.settings, self.port, credentials, self._internal_token
                )
                components.append(self.launcher.spawn(SERVER, command, environment))
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

    def _migrate_database(self) -> None:
        log = self.paths.log("db-migrate")
        try:
            exit_code = self.launcher.run_to_end(
                "db-migrate",
                [str(airflow_command()), "db", "migrate"],
                self.environment(),
                timeout=MIGRATE_TIMEOUT,
                cancel=self.cancel,
            )
        except TimeoutError:
            raise PlatformError(
                f"`airflow db migrate` took more than {MIGRATE_TIMEOUT:.0f} s", hint=f"see {log}"
            ) from None
        if exit_code is None:
            raise StartCancelled("stopped while migrating Airflow's database")
        if exit_code != 0:
            raise PlatformError(
                f"`airflow db migrate` failed with exit code {exit_code}; see {log}",
                hint=f"last lines of {log}:\n{log_tail(log)}",
            )

    # -- health and supervision --------------------------------------------------------------

    def poll(self) -> ComponentDied | None:
        """The first component that is no longer running, as an error to raise or report."""
        if self.state is None:
            return None
        for component in self.state.components:
            if (died := self.launcher.exited(component)) is not None:
                return died
        return None

    def wait_until_healthy(
        self,
        timeout: float = DEFAULT_STARTUP_TIMEOUT,
        on_progress: Callable[[Mapping[str, str | None]], None] | None = None,
    ) -> float:
        """Wait until every component is healthy (`health.HealthWatch` says what that takes);
        returns the seconds it took.

        Raises ComponentDied as soon as a component exits, PlatformError at the deadline
        (with every log's tail), StartCancelled if `cancel` was set.
        """
        if self.state is None:
            raise PlatformError("the platform is not started")
        started = time.monotonic()
        deadline = started + timeout
        watch = HealthWatch(
            self.settings, self.api_url, self.server_url, self.state.started_at, self.cancel
        )
        while True:
            if self.cancel.is_set():
                raise StartCancelled("stopped before the platform was healthy")
            if (died := self.poll()) is not None:
                raise died
            health = watch.check(self.components, deadline)
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
        production = self.settings.FLOWUI_PROFILE is Profile.PRODUCTION
        if not production or not self.launcher.launched(name):
            return False
        now = time.monotonic()
        recent = [t for t in self._restart_times.get(name, []) if now - t < RESTART_WINDOW]
        self._restart_times[name] = recent
        return len(recent) < RESTART_LIMIT

    def restart(self, name: str) -> ComponentState:
        """Start component `name` again as it was started and record it in the state file."""
        assert self.state is not None
        old = next(c for c in self.state.components if c.name == name)
        new = self.launcher.relaunch(old)
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
        # The api-server goes last: tasks being stopped report their end to it.
        self.launcher.stop(state.components if state else [], grace, last=API_SERVER)
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

    def _ask_supervisor_to_stop(self, state: PlatformState, grace: float) -> None:
        assert state.supervisor_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 2 * grace + 25.0  # its two stages, then its SIGKILLs
        while state.supervisor_alive and time.monotonic() < deadline:
            time.sleep(0.1)  # another process: nothing to wait on but its pid

    def status(self, timeout: float = 2.0) -> PlatformStatus:
        return platform_status(self.settings, timeout)
