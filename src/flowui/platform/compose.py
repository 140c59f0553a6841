"""The docker-compose deployment of the platform (deploy mode `compose`): the compose document
and its `.env` of secrets, built from a project's settings, and writing both."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowui import __version__
from flowui.config import (
    INTERNAL_TOKEN_VARIABLE,
    PROJECT_DIR_VARIABLE,
    SERVER_URL_VARIABLE,
    ConfigError,
    Layer,
    Settings,
    TaskRuntime,
)
from flowui.platform.environment import (
    ADMIN_USERNAME,
    AIRFLOW_PASSWORD_VARIABLE,
    AIRFLOW_URL_VARIABLE,
    AIRFLOW_USERNAME_VARIABLE,
    WORKER_SETTINGS,
    PlatformPaths,
)
from flowui.platform.production import new_fernet_key
from flowui.storage import write_text_atomically

COMPOSE_FILE_NAME = "docker-compose.yaml"
ENV_FILE_NAME = ".env"
DEFAULT_IMAGE = f"flowui/platform:{__version__}"
POSTGRES_IMAGE = "postgres:16"
REDIS_IMAGE = "redis:7.2"
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_SERVER_PORT = 8000
SCHEDULER_HEALTH_PORT = 8974
POSTGRES_USER = "airflow"
AIRFLOW_DATABASE = "airflow"
FLOWUI_DATABASE = "flowui"
DOCKER_SOCKET = "/var/run/docker.sock"

# Every secret of the deployment: generated once, kept in `.env` (0600), referenced from the
# YAML as ${NAME}. FLOWUI_ADMIN_PASSWORD may come from the environment instead.
GENERATED_SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "FLOWUI_SECRET_KEY",
    "FLOWUI_ADMIN_PASSWORD",
    INTERNAL_TOKEN_VARIABLE,
)
# Secrets passed through from the host environment when set there (never generated).
PASSED_SECRETS = ("GITHUB_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "FLOWUI_DATABASE_URL")

AIRFLOW_SERVICES = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@dataclass(frozen=True)
class ComposeOptions:
    """What the command line adds to the settings."""

    image: str = DEFAULT_IMAGE
    workers: int = 1
    airflow_port: int = DEFAULT_AIRFLOW_PORT
    server_port: int = DEFAULT_SERVER_PORT


def _generate(name: str) -> str:
    if name == "AIRFLOW__CORE__FERNET_KEY":
        return new_fernet_key()
    return secrets.token_urlsafe(32)


def reference(name: str) -> str:
    """How the YAML names a value of `.env`: compose refuses to start when it is missing."""
    return f"${{{name}:?{name} is not set in {ENV_FILE_NAME}}}"


def _escape(value: str) -> str:
    # A literal `$` in compose would start an interpolation.
    return value.replace("$", "$$")


def compose_secrets(
    settings: Settings,
    existing: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The `.env` of the deployment: every secret, kept from `existing` (the previous `.env`)
    or generated now; FLOWUI_ADMIN_PASSWORD and pass-through secrets from the settings
    (environment) win over kept values."""
    existing = existing or {}
    values: dict[str, str] = {}
    for name in GENERATED_SECRETS:
        values[name] = existing.get(name) or _generate(name)
    if settings.FLOWUI_ADMIN_PASSWORD is not None:
        values["FLOWUI_ADMIN_PASSWORD"] = settings.FLOWUI_ADMIN_PASSWORD.get_secret_value()
    for name in PASSED_SECRETS:
        value = getattr(settings, name)
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if text:
            values[name] = str(text)
        elif existing.get(name):
            values[name] = existing[name]
    return values


def _project_environment(settings: Settings) -> dict[str, str]:
    """The FlowUI settings every FlowUI/Airflow container sees (no secrets, no config.ini)."""
    root = settings.root.path
    runtime = (
        settings.FLOWUI_DEFAULT_RUNTIME
        if settings.source("FLOWUI_DEFAULT_RUNTIME") is not Layer.DEFAULT
        else TaskRuntime.DOCKER
    )
    environment = {
        "PROJECT_NAME": settings.PROJECT_NAME,
        "FLOWUI_DEPLOY_MODE": "compose",
        "VOLUME_MOUNT_PATH_HOST": str(root),
        # The project directory in the containers: the root, as config.ini is not mounted.
        PROJECT_DIR_VARIABLE: str(root),
        "CODE_REPOSITORY_SOURCE": settings.CODE_REPOSITORY_SOURCE.value,
        "AWS_REGION_NAME": settings.AWS_REGION_NAME,
        "FLOWUI_DEFAULT_RUNTIME": runtime.value,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    # Security settings left unset take the server's defaults for a shared platform.
    for name in (
        "GITHUB_REPOSITORY_NAME",
        "AWS_ACCESS_KEY_ID",
        "FLOWUI_ADMIN_EMAIL",
        "FLOWUI_ALLOW_REGISTRATION",
        "FLOWUI_REPOSITORY_SOURCES",
        "FLOWUI_REPOSITORY_IMPORTERS",
        *WORKER_SETTINGS,
    ):
        value = settings.display_value(name)
        if value:
            environment[name] = value
    return {name: _escape(value) for name, value in environment.items()}


def airflow_settings(settings: Settings, options: ComposeOptions) -> dict[str, str]:
    """The AIRFLOW__* settings of the compose deployment: those of the embedded platform
    (`platform.environment.airflow_settings`) with CeleryExecutor, PostgreSQL and Redis."""
    paths = PlatformPaths(settings.root)
    root = settings.root
    api = f"http://airflow-api-server:{DEFAULT_AIRFLOW_PORT}"
    database = f"{POSTGRES_USER}:{reference('POSTGRES_PASSWORD')}@postgres:5432/{AIRFLOW_DATABASE}"
    return {
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root.airflow_dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root.airflow_plugins),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root.airflow_logs),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(paths.dag_bundles),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "redis://redis:6379/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{database}",
        "AIRFLOW__CORE__FERNET_KEY": reference("AIRFLOW__CORE__FERNET_KEY"),
        "AIRFLOW__API__SECRET_KEY": reference("AIRFLOW__API__SECRET_KEY"),
        # Every component signs and checks the execution API's tokens with the same secret.
        "AIRFLOW__API_AUTH__JWT_SECRET": reference("AIRFLOW__API_AUTH__JWT_SECRET"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # FlowUI decides when a workflow runs; a paused new DAG would leave triggered runs queued.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(
            settings.FLOWUI_TASK_HEARTBEAT_TIMEOUT
        ),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.AIRFLOW__CELERY__WORKER_CONCURRENCY),
        "AIRFLOW__API__HOST": "0.0.0.0",  # inside its container; published on 127.0.0.1 only
        "AIRFLOW__API__PORT": str(DEFAULT_AIRFLOW_PORT),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{options.airflow_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.passwords_file),
    }


def _http_check(url: str) -> list[str]:
    # Python is in every FlowUI/Airflow image; curl may not be.
    code = f"import urllib.request; urllib.request.urlopen('{url}', timeout=5)"
    return ["CMD", "python", "-c", code]


def _healthcheck(test: list[str], start_period: str = "60s") -> dict[str, Any]:
    return {
        "test": test,
        "interval": "30s",
        "timeout": "10s",
        "retries": 5,
        "start_period": start_period,
    }


# airflow-init: the root's folders, FlowUI's database, Airflow's admin password file, then
# `airflow db migrate`. No `$` in it: compose would interpolate it.
_INIT_SCRIPT = f"""\
import json, os, pathlib, subprocess, psycopg2
for name in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER",
             "AIRFLOW__LOGGING__BASE_LOG_FOLDER"):
    pathlib.Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
passwords = pathlib.Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
passwords.parent.mkdir(parents=True, exist_ok=True)
passwords.write_text(json.dumps({{"{ADMIN_USERNAME}": os.environ["FLOWUI_ADMIN_PASSWORD"]}}))
passwords.chmod(0o600)
connection = psycopg2.connect(host="postgres", user="{POSTGRES_USER}",
                              password=os.environ["POSTGRES_PASSWORD"], dbname="{AIRFLOW_DATABASE}")
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = '{FLOWUI_DATABASE}'")
    if cursor.fetchone() is None:
        cursor.execute('CREATE DATABASE "{FLOWUI_DATABASE}"')
connection.close()
subprocess.run(["airflow", "db", "migrate"], check=True)
"""


def compose_document(settings: Settings, options: ComposeOptions | None = None) -> dict[str, Any]:
    """The docker-compose document of the platform; secrets appear only as ${NAME}."""
    options = options or ComposeOptions()
    if options.workers < 1:
        raise ConfigError(f"--workers {options.workers}: must be at least 1")
    root = str(settings.root.path)
    # The root at the same path on the host and in every container: paths written in DAGs and
    # runs mean the same file everywhere, also to task containers started by the docker runtime.
    shared_volume = {"type": "bind", "source": root, "target": root}
    project = _project_environment(settings)
    airflow = project | airflow_settings(settings, options)
    server_url = f"http://flowui-server:{DEFAULT_SERVER_PORT}"
    passed = {
        name: reference(name)
        for name in ("GITHUB_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY")
        if getattr(settings, name) is not None
    }
    healthy = {"condition": "service_healthy"}
    initialised = {"condition": "service_completed_successfully"}

    def airflow_service(command: list[str], test: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "image": options.image,
            "command": command,
            "environment": dict(airflow),
            "volumes": [dict(shared_volume)],
            "depends_on": {"airflow-init": initialised, "postgres": healthy, "redis": healthy},
            "healthcheck": _healthcheck(test),
            "restart": "unless-stopped",
            **extra,
        }

    database_url = (
        reference("FLOWUI_DATABASE_URL")
        if settings.FLOWUI_DATABASE_URL is not None
        else f"postgresql+psycopg2://{POSTGRES_USER}:{reference('POSTGRES_PASSWORD')}"
        f"@postgres:5432/{FLOWUI_DATABASE}"
    )
    services: dict[str, Any] = {
        "postgres": {
            "image": POSTGRES_IMAGE,
            "environment": {
                "POSTGRES_USER": POSTGRES_USER,
                "POSTGRES_PASSWORD": reference("POSTGRES_PASSWORD"),
                "POSTGRES_DB": AIRFLOW_DATABASE,
            },
            "volumes": [
                {"type": "volume", "source": "postgres-data", "target": "/var/lib/postgresql/data"}
            ],
            "healthcheck": _healthcheck(
                ["CMD", "pg_isready", "-U", POSTGRES_USER, "-d", AIRFLOW_DATABASE], "10s"
            ),
            "restart": "unless-stopped",
        },
        "redis": {
            "image": REDIS_IMAGE,
            "healthcheck": _healthcheck(["CMD", "redis-cli", "ping"], "10s"),
            "restart": "unless-stopped",
        },
        "airflow-init": {
            "image": options.image,
            "command": ["python", "-c", _INIT_SCRIPT],
            "environment": airflow
            | {
                "POSTGRES_PASSWORD": reference("POSTGRES_PASSWORD"),
                "FLOWUI_ADMIN_PASSWORD": reference("FLOWUI_ADMIN_PASSWORD"),
            },
            "volumes": [dict(shared_volume)],
            "depends_on": {"postgres": healthy},
            "restart": "no",
        },
        "airflow-api-server": airflow_service(
            ["airflow", "api-server"],
            _http_check(f"http://127.0.0.1:{DEFAULT_AIRFLOW_PORT}/api/v2/monitor/health"),
            ports=[f"127.0.0.1:{options.airflow_port}:{DEFAULT_AIRFLOW_PORT}"],
        ),
        "airflow-scheduler": airflow_service(
            ["airflow", "scheduler"],
            _http_check(f"http://127.0.0.1:{SCHEDULER_HEALTH_PORT}/health"),
        ),
        "airflow-dag-processor": airflow_service(
            ["airflow", "dag-processor"],
            [
                "CMD-SHELL",
                'airflow jobs check --job-type DagProcessorJob --hostname "$${HOSTNAME}"',
            ],
        ),
        "airflow-triggerer": airflow_service(
            ["airflow", "triggerer"],
            ["CMD-SHELL", 'airflow jobs check --job-type TriggererJob --hostname "$${HOSTNAME}"'],
        ),
        "airflow-worker": airflow_service(
            ["airflow", "celery", "worker"],
            ["CMD-SHELL", f'celery --app {CELERY_APP} inspect ping -d "celery@$${{HOSTNAME}}"'],
            deploy={"replicas": options.workers},
        ),
        "flowui-server": {
            "image": options.image,
            "command": [
                "flowui",
                "server",
                "run",
                "--project",
                root,
                # Inside its container; the port is published on the host's 127.0.0.1 only.
                "--host",
                "0.0.0.0",
                "--port",
                str(DEFAULT_SERVER_PORT),
            ],
            "environment": project
            | passed
            | {
                "FLOWUI_DATABASE_URL": database_url,
                "FLOWUI_SECRET_KEY": reference("FLOWUI_SECRET_KEY"),
                "FLOWUI_ADMIN_PASSWORD": reference("FLOWUI_ADMIN_PASSWORD"),
                AIRFLOW_URL_VARIABLE: f"http://airflow-api-server:{DEFAULT_AIRFLOW_PORT}",
                AIRFLOW_USERNAME_VARIABLE: ADMIN_USERNAME,
                AIRFLOW_PASSWORD_VARIABLE: reference("FLOWUI_ADMIN_PASSWORD"),
                INTERNAL_TOKEN_VARIABLE: reference(INTERNAL_TOKEN_VARIABLE),
            },
            "volumes": [dict(shared_volume)],
            "ports": [f"127.0.0.1:{options.server_port}:{DEFAULT_SERVER_PORT}"],
            "depends_on": {
                "airflow-init": initialised,
                "postgres": healthy,
                "airflow-api-server": healthy,
            },
            "healthcheck": _healthcheck(
                _http_check(f"http://127.0.0.1:{DEFAULT_SERVER_PORT}/api/health/ready")
            ),
            "restart": "unless-stopped",
        },
    }
    # Tasks run on the workers: they fetch their secrets from FlowUI's server, and the docker
    # runtime starts their containers on the host's engine.
    worker = services["airflow-worker"]
    worker["environment"] |= passed | {
        SERVER_URL_VARIABLE: server_url,
        INTERNAL_TOKEN_VARIABLE: reference(INTERNAL_TOKEN_VARIABLE),
    }
    worker["volumes"].append({"type": "bind", "source": DOCKER_SOCKET, "target": DOCKER_SOCKET})
    return {
        "name": settings.PROJECT_NAME,
        "services": services,
        "volumes": {"postgres-data": {}},
    }


# --- .env --------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_\-.=+/:@%,]*")


def render_env_file(values: Mapping[str, str]) -> str:
    """`.env` text compose reads: KEY=value, single-quoted (literal) where needed."""
    lines = [
        "# Secrets of the FlowUI docker-compose deployment, written by `flowui deploy compose`.",
        "# Kept across runs; keep this file private (mode 0600) and out of version control.",
    ]
    for name, value in values.items():
        if "\n" in value or "'" in value:
            raise ConfigError(
                f"{name}: a value with a newline or a single quote cannot be written to "
                f"{ENV_FILE_NAME}"
            )
        lines.append(f"{name}={value}" if _PLAIN.fullmatch(value) else f"{name}='{value}'")
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=value pairs of an existing `.env` (as `render_env_file` writes them)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def _yaml_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        # The init script stays readable as a block.
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


@dataclass(frozen=True)
class ComposeFiles:
    compose_file: Path
    env_file: Path
    generated: tuple[str, ...]  # secrets generated by this run (the others were kept)


def write_compose(
    settings: Settings, output: Path, options: ComposeOptions | None = None
) -> ComposeFiles:
    """Write `docker-compose.yaml` and `.env` (0600) into `output`, keeping the secrets of an
    existing `.env`. Everything is built before anything is written."""
    compose_file, env_file = output / COMPOSE_FILE_NAME, output / ENV_FILE_NAME
    existing = read_env_file(env_file)
    document = compose_document(settings, options)
    values = compose_secrets(settings, existing)
    env_text = render_env_file(values)
    header = (
        "# FlowUI platform, written by `flowui deploy compose`; secrets are in .env.\n"
        f"# Start: docker compose -f {COMPOSE_FILE_NAME} up -d\n"
    )
    import yaml

    yaml_text = header + yaml.dump(document, Dumper=_yaml_dumper(), sort_keys=False, width=1000)
    write_text_atomically(env_file, env_text, mode=0o600)
    os.chmod(env_file, 0o600)
    write_text_atomically(compose_file, yaml_text)
    generated = tuple(name for name in GENERATED_SECRETS if name not in existing)
    if settings.FLOWUI_ADMIN_PASSWORD is not None:
        generated = tuple(name for name in generated if name != "FLOWUI_ADMIN_PASSWORD")
    return ComposeFiles(compose_file, env_file, generated)
