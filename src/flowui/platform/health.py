"""How the platform's components are: Airflow's health answer (with each job's heartbeat), the
Celery workers' ping, FlowUI's server's liveness; `flowui status`'s report and the watch a start
waits on."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from flowui.config import Profile, Settings
from flowui.platform.environment import PlatformPaths, airflow_executor
from flowui.platform.launching import (
    API_SERVER,
    DAG_PROCESSOR,
    SCHEDULER,
    SERVER,
    TRIGGERER,
    platform_components,
)
from flowui.platform.production import WORKER_PREFIX, celery_node, ping_workers, worker_names
from flowui.platform.state import PlatformState, read_state

HEALTHY = "healthy"
# Airflow's components that report a heartbeat in its health answer, by its key there.
_HEARTBEATS = {
    SCHEDULER: ("scheduler", "latest_scheduler_heartbeat"),
    DAG_PROCESSOR: ("dag_processor", "latest_dag_processor_heartbeat"),
    TRIGGERER: ("triggerer", "latest_triggerer_heartbeat"),
}


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


class HealthWatch:
    """The health of a platform that is starting, asked round after round.

    Healthy includes the api-server's execution API, which tasks talk to: it is built on its
    first request (about 10 s), so the watch makes that request, in a thread, instead of the
    first task. A scheduler, dag-processor or triggerer counts only after a heartbeat of this
    start (`since`): a job of the previous start can look alive for a while.
    """

    def __init__(
        self,
        settings: Settings,
        api_url: str,
        server_url: str | None,
        since: datetime,
        cancel: threading.Event,
    ) -> None:
        self.settings = settings
        self.api_url = api_url
        self.server_url = server_url
        self.since = since
        self.cancel = cancel
        self._execution_api_ready = threading.Event()
        self._warm_up: threading.Thread | None = None

    def check(self, components: Iterable[str], deadline: float) -> dict[str, str | None]:
        """One round: each component's health (and the server's, if there is one)."""
        workers = None
        broker = self.settings.AIRFLOW__CELERY__BROKER_URL
        if broker is not None and (names := worker_names(self.settings)):
            workers = ping_workers(broker, timeout=0.5, expected=len(names))
        health = component_health(
            components, fetch_health(self.api_url, timeout=1.0), self.since, workers
        )
        if health[API_SERVER] == HEALTHY and self._warm_up is None:
            # In a thread, so that Ctrl-C and a dying component are noticed meanwhile.
            self._warm_up = threading.Thread(
                target=self._warm_up_execution_api, args=(deadline,), daemon=True
            )
            self._warm_up.start()
        if health[API_SERVER] == HEALTHY and not self._execution_api_ready.is_set():
            health[API_SERVER] = "starting"
        if self.server_url is not None:
            health[SERVER] = server_health(self.server_url)
        return health

    def _warm_up_execution_api(self, deadline: float) -> None:
        import httpx

        while not self.cancel.is_set() and (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.api_url}/execution/health", timeout=remaining)
                if response.status_code == 200:
                    self._execution_api_ready.set()
                    return
            self.cancel.wait(0.5)
