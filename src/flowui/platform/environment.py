"""How the platform's Airflow is set up: its files under the root, its AIRFLOW__* settings,
the environment of its processes and the admin's login."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flowui.config import (
    INTERNAL_TOKEN_VARIABLE,
    PROJECT_DIR_VARIABLE,
    SERVER_URL_VARIABLE,
    AirflowExecutor,
    Profile,
    Settings,
)
from flowui.storage import FileSystemRoot, read_environment_file, write_text_atomically

# Given by `flowui up` to FlowUI's server only: where Airflow answers and the login it uses there.
AIRFLOW_URL_VARIABLE = "FLOWUI_AIRFLOW_URL"
AIRFLOW_USERNAME_VARIABLE = "FLOWUI_AIRFLOW_USERNAME"
AIRFLOW_PASSWORD_VARIABLE = "FLOWUI_AIRFLOW_PASSWORD"
HOST = "127.0.0.1"  # every server FlowUI starts listens on the loopback interface only
DEFAULT_PORT = 8080
ADMIN_USERNAME = "admin"
# Seconds a task waits for each answer of the api-server's execution API (Airflow: 5). A busy
# small machine answers a task's start in more: the task then failed before it ran.
EXECUTION_API_TIMEOUT = "30"

# Settings of FlowUI's own server that Airflow and the tasks it runs have no use for.
_WITHHELD_VARIABLES = ("FLOWUI_SECRET_KEY", "FLOWUI_ADMIN_PASSWORD")
# Settings that Airflow's processes read (the process runtime's sandbox and fork servers, the
# kubernetes runtime's pods), whichever layer set them: config.ini is not read there.
WORKER_SETTINGS = (
    "FLOWUI_SANDBOX",
    "FLOWUI_SANDBOX_UID_BASE",
    "FLOWUI_SANDBOX_CPU_SECONDS",
    "FLOWUI_SANDBOX_PROCESSES",
    "FLOWUI_TASK_NETWORK",
    "FLOWUI_FORKSERVER_IDLE_SECONDS",
    "FLOWUI_KUBERNETES_NAMESPACE",
    "FLOWUI_KUBERNETES_VOLUME_CLAIM",
    "FLOWUI_KUBERNETES_NODE_SELECTOR",
    "FLOWUI_KUBERNETES_TOLERATIONS",
)


@dataclass(frozen=True)
class PlatformPaths:
    """Where the supervisor keeps its state, logs and the admin password, under the root."""

    root: FileSystemRoot

    @property
    def directory(self) -> Path:
        return self.root.platform

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.directory / "supervisor.lock"

    @property
    def passwords_file(self) -> Path:
        """Simple auth manager's passwords (JSON `{"admin": "..."}`), mode 0600."""
        return self.directory / "airflow_passwords.json"

    @property
    def fernet_key_file(self) -> Path:
        """The production profile's generated Fernet key, mode 0600."""
        return self.directory / "fernet_key"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    @property
    def airflow_home(self) -> Path:
        return self.root.airflow

    @property
    def database(self) -> Path:
        return self.airflow_home / "airflow.db"

    @property
    def dag_bundles(self) -> Path:
        # Airflow's default is a shared /tmp/airflow: two platforms on one machine would collide.
        return self.airflow_home / "dag_bundles"


def airflow_command() -> Path:
    """The `airflow` executable installed next to this Python."""
    return Path(sys.executable).parent / "airflow"


def flowui_command() -> Path:
    """The `flowui` executable installed next to this Python."""
    return Path(sys.executable).parent / "flowui"


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def airflow_executor(settings: Settings) -> str:
    """The executor of the project's profile."""
    if settings.FLOWUI_PROFILE is Profile.EMBEDDED:
        return AirflowExecutor.LOCAL.value
    return settings.AIRFLOW__CORE__EXECUTOR.value


def airflow_settings(settings: Settings, port: int) -> dict[str, str]:
    """The AIRFLOW__* settings of the local platform (deploy mode `local`) in its profile;
    the production profile's Fernet key is not among them (`Platform.environment` adds it)."""
    paths = PlatformPaths(settings.root)
    root = settings.root
    url = api_url(port)
    embedded = {
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root.airflow_dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root.airflow_plugins),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root.airflow_logs),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(paths.dag_bundles),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{paths.database}",
        "AIRFLOW__CORE__EXECUTOR": airflow_executor(settings),
        # LocalExecutor forks this many workers up front, about 130 MB each.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # FlowUI decides when a workflow runs; a paused new DAG would leave triggered runs queued.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # New DAG files are found within seconds instead of 5 minutes: the folder is listed
        # every 2 s, and whether a listing is due is checked every second (default 5 s).
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        # Dependent tasks follow each other faster; costs some idle CPU of the scheduler.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        # A task learns that its run was cancelled at its next heartbeat (default every 5 s).
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": url,
        # Task processes report to the api-server; the default would be localhost:8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": EXECUTION_API_TIMEOUT,
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.passwords_file),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(
            settings.FLOWUI_TASK_HEARTBEAT_TIMEOUT
        ),
    }
    if settings.FLOWUI_PROFILE is Profile.EMBEDDED:
        return embedded
    del embedded["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # As many task slots as the Celery workers have; LocalExecutor gets the same number.
    slots = settings.FLOWUI_CELERY_WORKERS * settings.AIRFLOW__CELERY__WORKER_CONCURRENCY
    production = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": str(settings.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN),
        "AIRFLOW__CORE__PARALLELISM": str(slots),
    }
    if settings.AIRFLOW__CORE__EXECUTOR is AirflowExecutor.CELERY:
        production |= {
            "AIRFLOW__CELERY__BROKER_URL": str(settings.AIRFLOW__CELERY__BROKER_URL),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(
                settings.AIRFLOW__CELERY__WORKER_CONCURRENCY
            ),
        }
        if settings.AIRFLOW__CELERY__RESULT_BACKEND is not None:
            production["AIRFLOW__CELERY__RESULT_BACKEND"] = str(
                settings.AIRFLOW__CELERY__RESULT_BACKEND
            )
    return embedded | production


def bytecode_cache(environ: Mapping[str, str]) -> Path:
    """Where Airflow's processes keep compiled bytecode when the environment forbids it
    next to the sources (PYTHONDONTWRITEBYTECODE): one cache per user, shared by projects."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "flowui" / "pycache"


def airflow_environment(
    settings: Settings,
    port: int,
    environ: Mapping[str, str] | None = None,
    *,
    server: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of the platform.

    A copy of `environ` (default os.environ) without inherited AIRFLOW* variables (a shell set
    up for another Airflow must not leak in) and without FlowUI's own server secrets, plus
    `airflow_settings`; with `server` (URL, internal token), where tasks fetch their secrets.
    """
    environ = os.environ if environ is None else environ
    clean = {
        name: value
        for name, value in environ.items()
        if not name.startswith("AIRFLOW") and name not in _WITHHELD_VARIABLES
    }
    clean["PYTHONUNBUFFERED"] = "1"  # log files show output as it happens
    if clean.pop("PYTHONDONTWRITEBYTECODE", None):
        # Without bytecode every component compiles Airflow anew at each start: twice as slow.
        # A separate cache keeps the source trees (operators repositories) free of it.
        clean.setdefault("PYTHONPYCACHEPREFIX", str(bytecode_cache(environ)))
    clean.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # never probe a metadata endpoint
    if server is not None:
        clean[SERVER_URL_VARIABLE], clean[INTERNAL_TOKEN_VARIABLE] = server
    clean |= {name: _as_setting(settings, name) for name in WORKER_SETTINGS}
    # The aws_batch runtime's job definitions and queues, from `flowui aws apply`.
    clean |= read_environment_file(settings.root.cloud_environment)
    return clean | airflow_settings(settings, port)


def _as_setting(settings: Settings, name: str) -> str:
    value = settings.display_value(name)
    assert value is not None, f"{name} has a default"
    return value


def server_environment(
    settings: Settings, airflow_port: int, credentials: AdminCredentials, internal_token: str
) -> dict[str, str]:
    """The environment of FlowUI's server: the project, Airflow's URL and login, the admin's
    password (for the first administrator) and the server's own secrets; no AIRFLOW* settings."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    return environ | {
        PROJECT_DIR_VARIABLE: str(settings.project_dir),
        AIRFLOW_URL_VARIABLE: api_url(airflow_port),
        AIRFLOW_USERNAME_VARIABLE: credentials.username,
        AIRFLOW_PASSWORD_VARIABLE: credentials.password,
        "FLOWUI_ADMIN_PASSWORD": credentials.password,
        INTERNAL_TOKEN_VARIABLE: internal_token,
        "PYTHONUNBUFFERED": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str
    # environment: FLOWUI_ADMIN_PASSWORD; generated: new now (show it once); file: kept from before
    source: Literal["environment", "generated", "file"]
    passwords_file: Path


def _read_password(passwords_file: Path) -> str | None:
    try:
        value = json.loads(passwords_file.read_text(encoding="utf-8")).get(ADMIN_USERNAME)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def ensure_admin_credentials(settings: Settings) -> AdminCredentials:
    """The Airflow admin's credentials, writing the 0600 passwords file Airflow reads."""
    passwords_file = PlatformPaths(settings.root).passwords_file
    stored = _read_password(passwords_file)
    source: Literal["environment", "generated", "file"]
    if settings.FLOWUI_ADMIN_PASSWORD is not None:
        password, source = settings.FLOWUI_ADMIN_PASSWORD.get_secret_value(), "environment"
    elif stored is not None:
        password, source = stored, "file"
    else:
        password, source = secrets.token_urlsafe(18), "generated"
    if stored != password:
        text = json.dumps({ADMIN_USERNAME: password}) + "\n"
        write_text_atomically(passwords_file, text, mode=0o600)
    os.chmod(passwords_file, 0o600)
    return AdminCredentials(ADMIN_USERNAME, password, source, passwords_file)
