"""`flowui up`, `flowui status`, `flowui down`: run the local platform (Airflow) and check on it."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flowui.cli import project as project_commands
from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.cli.project import ProjectDirOption
from flowui.config import (
    CONFIG_FILE_NAME,
    Profile,
    Settings,
    find_project_dir,
)
from flowui.platform import (
    DEFAULT_PORT,
    HOST,
    AdminCredentials,
    Platform,
    PlatformError,
    PlatformPaths,
    StartCancelled,
    platform_status,
)
from flowui.platform.environment import airflow_executor
from flowui.platform.health import HEALTHY
from flowui.platform.production import WORKER_PREFIX
from flowui.platform.state import ComponentDied, ComponentState
from flowui.platform.supervisor import DEFAULT_STARTUP_TIMEOUT, DEFAULT_STOP_GRACE
from flowui.sandbox import unavailable_reason

DEFAULT_SERVER_PORT = 8000

# Exit codes of `flowui status`, as `systemctl status` uses them.
STATUS_DEGRADED = 1
STATUS_STOPPED = 3
EXIT_INTERRUPTED = 130


def _fail_platform(error: PlatformError) -> NoReturn:
    fail(str(error), hint=error.hint)


@contextmanager
def _spinner(description: str) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        progress.add_task(description, total=None)
        yield progress


def _describe_health(health: Mapping[str, str | None]) -> str:
    parts = [f"{name} {'✓' if status == HEALTHY else '…'}" for name, status in health.items()]
    return "Waiting for Airflow: " + ", ".join(parts)


@contextmanager
def _stop_on_signals(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM and a closed terminal ask the supervisor to stop the platform cleanly."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    # Installed explicitly: a process started in the background inherits SIGINT ignored.
    previous = {signum: signal.signal(signum, lambda *_: cancel.set()) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ensure_project(project: Path | None) -> None:
    """Create the project like `flowui init` does when it has no config.ini yet."""
    project_dir = find_project_dir(project)
    if not (project_dir / CONFIG_FILE_NAME).is_file():
        project_commands.init(
            directory=project_dir,
            name=None,
            deploy_mode=None,
            root=None,
            force=False,
            json_output=False,
        )


def _print_ready(platform: Platform, credentials: AdminCredentials, took: float) -> None:
    url = platform.api_url
    if credentials.source == "generated":
        kept = escape(str(credentials.passwords_file))
        password = f"[bold]{escape(credentials.password)}[/]  (generated now, kept in {kept})"
    elif credentials.source == "environment":
        password = "from FLOWUI_ADMIN_PASSWORD"
    else:
        password = f"in {escape(str(credentials.passwords_file))}"
    console.print(f"[green]FlowUI platform is up[/] (healthy in {took:.1f} s)", highlight=False)
    settings = platform.settings
    if settings.FLOWUI_PROFILE is Profile.PRODUCTION:
        workers = [name for name in platform.components if name.startswith(WORKER_PREFIX)]
        parts = [airflow_executor(settings), "PostgreSQL"]
        if workers:
            parts.append(f"{len(workers)} Celery workers on Redis")
        console.print("  production profile: " + ", ".join(parts), highlight=False)
    if platform.server_url is not None:
        email = escape(platform.settings.admin_email)
        console.print(
            f"\n  [bold]Open FlowUI  {platform.server_url}/[/]   sign in as [bold]{email}[/]",
            highlight=False,
        )
        console.print(f"  password     {password}\n", highlight=False)
        console.print(f"  FlowUI API   {platform.server_url}/api/docs", highlight=False)
        console.print(
            f"  Airflow UI   {url}/   Airflow's own view, for experts "
            f"(user {credentials.username}, same password)",
            highlight=False,
        )
    else:
        console.print(f"  Airflow UI   {url}/", highlight=False)
        console.print(f"  Airflow user {credentials.username}", highlight=False)
        console.print(f"  password     {password}", highlight=False)
    console.print(f"  Airflow API  {url}/api/v2", highlight=False)
    console.print(f"  logs         {escape(str(platform.paths.logs))}", highlight=False)
    _print_sandbox(settings)


def _print_sandbox(settings: Settings) -> None:
    """How repository code is confined here; a warning when it cannot be."""
    policy = settings.sandbox_policy
    if not policy.enabled:
        err_console.print(
            "[bold yellow]warning:[/] FLOWUI_SANDBOX=none: code from operators repositories "
            "runs unconfined (every repository source is trusted)",
            highlight=False,
        )
        return
    refused = "imports and process-runtime tasks"
    if policy.inspection_jobs is not None:
        console.print("  imports      model files inspected as AWS Batch jobs", highlight=False)
        refused = "process-runtime tasks"
    reason = unavailable_reason(policy.uid(), sys.executable)
    if reason is None:
        console.print("  sandbox      bubblewrap (repository code is confined)", highlight=False)
    else:
        err_console.print(
            f"[bold yellow]warning:[/] no sandbox: {escape(reason)}; {refused} will be refused "
            "until it can run (docs/security-model.md)",
            highlight=False,
        )


def up(
    project: Path | None = ProjectDirOption,
    port: int = typer.Option(
        DEFAULT_PORT, "--port", min=1, max=65535, help=f"Port of Airflow's api-server on {HOST}."
    ),
    server_port: int = typer.Option(
        DEFAULT_SERVER_PORT,
        "--server-port",
        min=1,
        max=65535,
        help="Port of FlowUI's server (REST API and GUI).",
    ),
    server_host: str = typer.Option(
        HOST,
        "--server-host",
        help="Address FlowUI's server listens on; 0.0.0.0 serves other machines (a pod's "
        "Service): sign-up is then off and only platform administrators import repositories, "
        "unless settings say otherwise. Airflow's api-server stays on the loopback interface.",
    ),
    detach: bool = typer.Option(
        False,
        "--detach/--foreground",
        help="Return once the platform is healthy and leave it running (stop it with "
        "`flowui down`), instead of supervising it in the foreground.",
    ),
    timeout: float = typer.Option(
        DEFAULT_STARTUP_TIMEOUT, "--timeout", min=1, help="Seconds allowed to become healthy."
    ),
    profile: Profile | None = typer.Option(
        None,
        "--profile",
        help="embedded (SQLite, LocalExecutor) or production (PostgreSQL, Redis, Celery "
        "workers, triggerer); default: FLOWUI_PROFILE.",
        show_default=False,
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Celery workers of the production profile; default: FLOWUI_CELERY_WORKERS.",
        show_default=False,
    ),
) -> None:
    """Start the local platform: FlowUI's server and Airflow's api-server, scheduler and
    dag-processor; in the production profile also a triggerer and Celery workers.

    Creates the project (config.ini and root) if it has none.
    Waits until Airflow is healthy, prints its URLs and the admin's login, then supervises it.
    Ctrl-C stops everything. If a component dies, the embedded profile stops the others
    (exit code 1); the production profile starts it again (at most 5 times in 10 minutes).
    The production profile checks PostgreSQL and Redis before anything starts.
    The admin's password is FLOWUI_ADMIN_PASSWORD, else one generated and shown once.

    Example: [bold]flowui up --project ./platform --port 8080[/]
    """
    _check_listen_address(server_host)
    _ensure_project(project)
    overrides = {}
    if profile is not None:
        overrides["FLOWUI_PROFILE"] = profile.value
    if workers is not None:
        overrides["FLOWUI_CELERY_WORKERS"] = str(workers)
    settings = project_commands.settings_or_exit(project, overrides)
    cancel = threading.Event()
    with _stop_on_signals(cancel):
        platform = Platform(
            settings,
            port,
            server_port=server_port,
            server_host=server_host,
            bind_to_parent=not detach,
            cancel=cancel,
        )
        try:
            with _spinner("Starting") as progress:
                task = progress.task_ids[0]
                credentials = platform.start(
                    on_progress=lambda message: progress.update(task, description=message)
                )
                took = platform.wait_until_healthy(
                    timeout,
                    on_progress=lambda health: progress.update(
                        task, description=_describe_health(health)
                    ),
                )
        except StartCancelled:
            platform.stop()
            err_console.print("Interrupted; the platform is stopped.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except PlatformError as error:
            platform.stop()
            _fail_platform(error)
        _print_ready(platform, credentials, took)
        if detach:
            console.print("Running in the background; stop it with `flowui down`.")
            return
        console.print("Press Ctrl-C to stop, or run `flowui down` in another terminal.")
        died = platform.supervise(on_restart=_report_restart)
        if died is not None:
            err_console.print(f"[bold red]error:[/] {escape(str(died))}", highlight=False)
            if died.hint:
                err_console.print(escape(died.hint), highlight=False)
            err_console.print("Stopping the other components.")
            platform.stop()
            raise typer.Exit(1)
        with _spinner("Stopping"):
            platform.stop()
        console.print("Stopped.")


def _check_listen_address(host: str) -> None:
    """Fails, before anything is created or started, when the server could not listen on
    `host` (a name that does not resolve, an address of another machine)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind) as probe:
            probe.bind(address)
    except OSError as error:
        reason = error.strerror or str(error)
        fail(
            f"--server-host {host}: FlowUI's server cannot listen there ({reason})",
            hint=f"give an address of this machine: {HOST} (the default) for this machine "
            "only, 0.0.0.0 for every interface",
        )


def _report_restart(died: ComponentDied, restarted: ComponentState) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(str(died))}", highlight=False)
    err_console.print(
        f"Started {restarted.name} again (pid {restarted.pid}, restart {restarted.restarts}).",
        highlight=False,
    )


def status(project: Path | None = ProjectDirOption, json_output: bool = JsonOption) -> None:
    """Show each component of the local platform: running or not, pid, health, URL.

    Exit code 0 when all run healthy, 1 when some do not, 3 when the platform is stopped.

    Example: [bold]flowui status --project ./platform --json[/]
    """
    settings = project_commands.settings_or_exit(project)
    report = platform_status(settings)
    if json_output:
        print_json(report.model_dump(mode="json"))
    else:
        started = (
            f" since {report.started_at:%Y-%m-%d %H:%M:%S %Z}"
            if report.started_at and report.state != "stopped"
            else ""
        )
        console.print(
            f"Platform of {escape(str(settings.project_dir))}: [bold]{report.state}[/]{started}"
            f" ({report.profile.value} profile, {report.executor})",
            highlight=False,
        )
        if report.gui_url and report.admin_email:
            console.print(
                f"[bold]Open FlowUI  {report.gui_url}[/]   sign in as "
                f"[bold]{escape(report.admin_email)}[/]",
                highlight=False,
            )
        table = Table(show_edge=False, pad_edge=False)
        for column in ("COMPONENT", "STATE", "PID", "HEALTH", "RESTARTS", "URL"):
            table.add_column(column, no_wrap=True)
        for component in report.components:
            running = component.running
            table.add_row(
                component.name,
                Text("running", style="green") if running else Text("stopped", style="red"),
                str(component.pid) if running and component.pid else "",
                component.health or "",
                str(component.restarts) if component.restarts else "",
                component.url or "",
            )
        console.print(table)
        logs = PlatformPaths(settings.root).logs
        console.print(f"logs: {escape(str(logs))}/<component>.log", highlight=False)
        if report.stale_state_file:
            console.print(
                "[dim]note:[/] the state file names processes that are gone "
                "(the platform was not stopped cleanly); `flowui up` starts it again.",
                highlight=False,
            )
    if report.state == "degraded":
        raise typer.Exit(STATUS_DEGRADED)
    if report.state == "stopped":
        raise typer.Exit(STATUS_STOPPED)


def down(
    project: Path | None = ProjectDirOption,
    grace: float = typer.Option(
        DEFAULT_STOP_GRACE,
        "--grace",
        min=0,
        help="Seconds each component gets to stop after SIGTERM before SIGKILL.",
    ),
) -> None:
    """Stop the local platform, also one started in another terminal or with --detach.

    Example: [bold]flowui down --project ./platform[/]
    """
    settings = project_commands.settings_or_exit(project)
    platform = Platform.attach(settings)
    if platform is None or platform.state is None:
        console.print("The platform is not running.")
        return
    state = platform.state
    if not state.any_alive:
        platform.stop()  # removes the stale state file
        console.print("The platform was not running (removed a stale state file).")
        return
    with _spinner("Stopping the platform"):
        platform.stop(grace)
    survivors = [c for c in state.components if state.component_alive(c.name)]
    if survivors:
        names = ", ".join(f"{c.name} (pid {c.pid})" for c in survivors)
        fail(f"could not stop {names}", hint="stop them by hand with kill -9 PID")
    stopped = ", ".join(f"{c.name} (pid {c.pid})" for c in state.components)
    console.print(f"Stopped {stopped}.", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `up`, `status` and `down` to `app`."""
    app.command("up")(up)
    app.command("status")(status)
    app.command("down")(down)
