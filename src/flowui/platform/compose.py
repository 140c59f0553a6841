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

from flowui.config import (
    INTERNAL_TOKEN_VARIABLE,
    PROJECT_DIR_VARIABLE,
    SERVER_URL_VARIABLE,
    ConfigError,
    Layer,
    Settings,
    TaskRuntime,
)
from flowui.operators.metadata import IMAGE_REFERENCE
from flowui.platform.environment import (
    ADMIN_USERNAME,
    AIRFLOW_PASSWORD_VARIABLE,
    AIRFLOW_URL_VARIABLE,
    AIRFLOW_USERNAME_VARIABLE,
    EXECUTION_API_TIMEOUT,
    WORKER_SETTINGS,
    PlatformPaths,
)
from flowui.platform.image import default_platform_image
from flowui.platform.production import new_fernet_key
from flowui.storage import write_text_atomically

COMPOSE_FILE_NAME = "docker-compose.yaml"
ENV_FILE_NAME = ".env"
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_SERVER_PORT = 8000
SCHEDULER_HEALTH_PORT = 8974
POSTGRES_USER = "airflow"
AIRFLOW_DATABASE = "airflow"
FLOWUI_DATABASE = "flowui"
# Where the workers and the server find the host's engine (the docker runtime's default).
DOCKER_SOCKET = "/var/run/docker.sock"
# bubblewrap, in the server's and the workers' containers, mounts a /proc of its own for each
# sandbox, which the kernel refuses while the engine masks parts of the container's /proc.
SANDBOX_SECURITY_OPTIONS = ("systempaths=unconfined",)

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

    image: str | None = None  # None: FLOWUI_PLATFORM_IMAGE, else the published one
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


def project_environment(settings: Settings, deploy_mode: str) -> dict[str, str]:
    """The FlowUI settings every FlowUI/Airflow container of a deployment sees (no secrets, no
    config.ini)."""
    root = settings.root.path
    runtime = (
        settings.FLOWUI_DEFAULT_RUNTIME
        if settings.source("FLOWUI_DEFAULT_RUNTIME") is not Layer.DEFAULT
        else TaskRuntime.DOCKER
    )
    environment = {
        "PROJECT_NAME": settings.PROJECT_NAME,
        "FLOWUI_DEPLOY_MODE": deploy_mode,
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
    return environment


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
        # psycopg2 named: with SQLAlchemy 2.1 a bare postgresql:// means psycopg 3.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{database}",
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
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": EXECUTION_API_TIMEOUT,
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.passwords_file),
    }


def http_check(url: str) -> list[str]:
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


# PostgreSQL may not answer yet: the compose file's scripts wait for it themselves, as
# podman-compose before Podman 4.6 starts a service without waiting for `service_healthy`.
_WAIT_FOR_POSTGRES = """\
deadline = time.monotonic() + {wait}
while True:
    try:
        connection = psycopg2.connect(host="postgres", user="{user}", connect_timeout=5,
                                      password=os.environ["POSTGRES_PASSWORD"], dbname="{airflow}")
        break
    except psycopg2.OperationalError as error:
        if time.monotonic() > deadline:
            raise SystemExit("PostgreSQL did not answer within {wait} s: " + str(error))
        time.sleep(1)
"""

# As root: the root's folders, given to the platform's user, and Airflow's admin password file
# (the compose file's airflow-init, and deploy mode aws's).
_ROOT_FOLDERS_SCRIPT = """\
uid, gid = {uid}, {gid}
root = pathlib.Path(os.environ["VOLUME_MOUNT_PATH_HOST"])
passwords = pathlib.Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
folders = [pathlib.Path(os.environ[name]) for name in (
    "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER", "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH")]
for folder in [*folders, passwords.parent]:
    folder.mkdir(parents=True, exist_ok=True)
    for path in (folder, *folder.parents):
        if path != root and root not in path.parents:
            break
        os.chown(path, uid, gid)
passwords.write_text(json.dumps({{"{admin}": os.environ["FLOWUI_ADMIN_PASSWORD"]}}))
passwords.chmod(0o600)
os.chown(passwords, uid, gid)
"""

# airflow-init: the root's folders and password file, then, as the platform's user, `airflow db
# migrate` (Airflow's services wait for it). No `$` in the scripts: compose would interpolate it.
_INIT_SCRIPT = """\
import json, os, pathlib, subprocess, time, psycopg2
{root_folders}{wait_for_postgres}connection.close()
subprocess.run(["airflow", "db", "migrate"], check=True, user=uid, group=gid, extra_groups=[])
"""

# flowui-server's start: FlowUI's database made on the compose file's PostgreSQL when missing,
# then the server (the command's remaining arguments).
_SERVER_START = """\
import os, sys, time, psycopg2
{wait_for_postgres}connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = '{flowui}'")
    if cursor.fetchone() is None:
        try:
            cursor.execute('CREATE DATABASE "{flowui}"')
        except psycopg2.errors.DuplicateDatabase:  # made meanwhile by another replica
            pass
connection.close()
os.execvp(sys.argv[1], sys.argv[1:])
"""
# Airflow's services start once `airflow db migrate` (airflow-init) is done.
MIGRATIONS_WAIT_SECONDS = 600
POSTGRES_WAIT_SECONDS = 120


def _wait_for_postgres() -> str:
    return _WAIT_FOR_POSTGRES.format(
        wait=POSTGRES_WAIT_SECONDS, user=POSTGRES_USER, airflow=AIRFLOW_DATABASE
    )


def root_folders_script(settings: Settings) -> str:
    """Python lines that (as root) give the root's folders to the platform's user and write
    Airflow's password file; they leave `uid` and `gid` set."""
    return _ROOT_FOLDERS_SCRIPT.format(
        uid=settings.FLOWUI_PLATFORM_UID, gid=settings.FLOWUI_PLATFORM_GID, admin=ADMIN_USERNAME
    )


def _init_script(settings: Settings) -> str:
    return _INIT_SCRIPT.format(
        root_folders=root_folders_script(settings), wait_for_postgres=_wait_for_postgres()
    )


def _after_migrations(command: list[str]) -> list[str]:
    """`command`, started once Airflow's database is migrated (`airflow db check-migrations`
    waits for it)."""
    wait = f"airflow db check-migrations --migration-wait-timeout {MIGRATIONS_WAIT_SECONDS}"
    return ["sh", "-c", f"{wait} && exec {' '.join(command)}"]


def _checked_image(settings: Settings, name: str) -> str:
    """The image that setting `name` names, refused (naming where it was set) when it is not
    an image reference."""
    image: str = getattr(settings, name)
    if not IMAGE_REFERENCE.fullmatch(image):
        raise ConfigError(
            f"{settings.where(name)}: {image!r} is not an image reference",
            hint="give one such as postgres:16 or registry.example.com/team/redis:7.2",
        )
    return image


def engine_socket_group(socket: Path) -> int | None:
    """The group that owns the engine's socket on this host (the containers' users join it to
    reach the engine), or None when there is no socket there."""
    try:
        return socket.stat().st_gid
    except OSError:
        return None


def compose_document(settings: Settings, options: ComposeOptions | None = None) -> dict[str, Any]:
    """The docker-compose document of the platform; secrets appear only as ${NAME}."""
    options = options or ComposeOptions()
    if options.workers < 1:
        raise ConfigError(f"--workers {options.workers}: must be at least 1")
    image = options.image or default_platform_image(settings)
    if not IMAGE_REFERENCE.fullmatch(image):
        where = "--image" if options.image else settings.where("FLOWUI_PLATFORM_IMAGE")
        raise ConfigError(f"{where}: {image!r} is not an image reference")
    postgres_image = _checked_image(settings, "FLOWUI_COMPOSE_POSTGRES_IMAGE")
    redis_image = _checked_image(settings, "FLOWUI_COMPOSE_REDIS_IMAGE")
    root = str(settings.root.path)
    # The root at the same path on the host and in every container: paths written in DAGs and
    # runs mean the same file everywhere, also to task containers started by the docker runtime.
    shared_volume = {"type": "bind", "source": root, "target": root}
    # FlowUI and Airflow run as the platform image's user; task containers take the worker's.
    user = f"{settings.FLOWUI_PLATFORM_UID}:{settings.FLOWUI_PLATFORM_GID}"
    project = {
        name: _escape(value) for name, value in project_environment(settings, "compose").items()
    }
    airflow = project | airflow_settings(settings, options)
    server_url = f"http://flowui-server:{DEFAULT_SERVER_PORT}"
    passed = {
        name: reference(name)
        for name in ("GITHUB_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY")
        if getattr(settings, name) is not None
    }
    # Every dependency is one step deep: Podman 4.3 (Debian 12's), to which podman-compose hands
    # `depends_on`, cannot start a container whose dependency has dependencies of its own, and
    # starts a one-shot dependency (airflow-init) again with each of its dependents. Airflow's
    # services wait for the migrations instead.
    healthy = {"condition": "service_healthy"}

    def airflow_service(command: list[str], test: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "image": image,
            "user": user,
            "command": _after_migrations(command),
            "environment": dict(airflow),
            "volumes": [dict(shared_volume)],
            "depends_on": {"postgres": healthy, "redis": healthy},
            "healthcheck": _healthcheck(test),
            "restart": "unless-stopped",
            **extra,
        }

    server_command = [
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
    ]
    server_environment = {}
    if settings.FLOWUI_DATABASE_URL is not None:
        database_url = reference("FLOWUI_DATABASE_URL")
    else:  # FlowUI's database on the compose file's PostgreSQL, made at the server's start
        database_url = (
            f"postgresql+psycopg2://{POSTGRES_USER}:{reference('POSTGRES_PASSWORD')}"
            f"@postgres:5432/{FLOWUI_DATABASE}"
        )
        start = _SERVER_START.format(wait_for_postgres=_wait_for_postgres(), flowui=FLOWUI_DATABASE)
        server_command = ["python", "-c", start, *server_command]
        server_environment["POSTGRES_PASSWORD"] = reference("POSTGRES_PASSWORD")
    services: dict[str, Any] = {
        "postgres": {
            "image": postgres_image,
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
            "image": redis_image,
            "healthcheck": _healthcheck(["CMD", "redis-cli", "ping"], "10s"),
            "restart": "unless-stopped",
        },
        "airflow-init": {
            "image": image,
            "user": "0:0",  # hands the root's folders to the platform's user, then runs as them
            "command": ["python", "-c", _init_script(settings)],
            "environment": airflow
            | {
                "POSTGRES_PASSWORD": reference("POSTGRES_PASSWORD"),
                "FLOWUI_ADMIN_PASSWORD": reference("FLOWUI_ADMIN_PASSWORD"),
            },
            "volumes": [dict(shared_volume)],
            "restart": "no",
        },
        "airflow-api-server": airflow_service(
            ["airflow", "api-server"],
            http_check(f"http://127.0.0.1:{DEFAULT_AIRFLOW_PORT}/api/v2/monitor/health"),
            ports=[f"127.0.0.1:{options.airflow_port}:{DEFAULT_AIRFLOW_PORT}"],
        ),
        "airflow-scheduler": airflow_service(
            ["airflow", "scheduler"],
            http_check(f"http://127.0.0.1:{SCHEDULER_HEALTH_PORT}/health"),
        ),
        "airflow-dag-processor": airflow_service(
            ["airflow", "dag-processor"],
            # --local: the jobs of this container's host name, as Airflow computes it.
            ["CMD", "airflow", "jobs", "check", "--job-type", "DagProcessorJob", "--local"],
        ),
        "airflow-triggerer": airflow_service(
            ["airflow", "triggerer"],
            ["CMD", "airflow", "jobs", "check", "--job-type", "TriggererJob", "--local"],
        ),
        "airflow-worker": airflow_service(
            ["airflow", "celery", "worker"],
            # Not $HOSTNAME: Podman does not set it, and the health check's shell is no bash.
            ["CMD-SHELL", f'celery --app {CELERY_APP} inspect ping -d "celery@$$(hostname)"'],
            deploy={"replicas": options.workers},
        ),
        "flowui-server": {
            "image": image,
            "user": user,
            "command": server_command,
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
            }
            | server_environment,
            "volumes": [dict(shared_volume)],
            "ports": [f"127.0.0.1:{options.server_port}:{DEFAULT_SERVER_PORT}"],
            "depends_on": {"postgres": healthy},
            "healthcheck": _healthcheck(
                http_check(f"http://127.0.0.1:{DEFAULT_SERVER_PORT}/api/health/ready")
            ),
            "restart": "unless-stopped",
        },
    }
    # Tasks run on the workers: they fetch their secrets from FlowUI's server.
    worker, server = services["airflow-worker"], services["flowui-server"]
    worker["environment"] |= passed | {
        SERVER_URL_VARIABLE: server_url,
        INTERNAL_TOKEN_VARIABLE: reference(INTERNAL_TOKEN_VARIABLE),
    }
    # Both run code from operators repositories in sandboxes (imports, process-runtime tasks).
    for service in (worker, server):
        service["security_opt"] = list(SANDBOX_SECURITY_OPTIONS)
    if TaskRuntime.DOCKER in settings.FLOWUI_WORKSPACE_RUNTIMES:
        # The workers start docker-runtime tasks on the host's engine, and the server checks at
        # deploy that their images are there: both reach the engine (root on the host).
        socket = settings.FLOWUI_COMPOSE_ENGINE_SOCKET
        group = engine_socket_group(socket)
        for service in (worker, server):
            service["volumes"].append(
                {
                    "type": "bind",
                    "source": str(socket),
                    "target": DOCKER_SOCKET,
                    "bind": {"create_host_path": False},  # never a directory in its place
                }
            )
            if group is not None:
                service["group_add"] = [group]
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
    warnings: tuple[str, ...] = ()  # what would stop the deployment from working as written


def write_compose(
    settings: Settings, output: Path, options: ComposeOptions | None = None
) -> ComposeFiles:
    """Write `docker-compose.yaml` and `.env` (0600) into `output`, keeping the secrets of an
    existing `.env`, and create the root (compose mounts it). Everything is built before
    anything is written."""
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
    settings.root.path.mkdir(parents=True, exist_ok=True)
    generated = tuple(name for name in GENERATED_SECRETS if name not in existing)
    if settings.FLOWUI_ADMIN_PASSWORD is not None:
        generated = tuple(name for name in generated if name != "FLOWUI_ADMIN_PASSWORD")
    warnings = []
    socket = settings.FLOWUI_COMPOSE_ENGINE_SOCKET
    if TaskRuntime.DOCKER in settings.FLOWUI_WORKSPACE_RUNTIMES and (
        engine_socket_group(socket) is None
    ):
        where = settings.where("FLOWUI_COMPOSE_ENGINE_SOCKET")
        warnings.append(
            f"there is no container engine socket at {socket} ({where}): "
            "compose will not start the workers and the server until there is one; start the "
            "engine, set FLOWUI_COMPOSE_ENGINE_SOCKET (Podman: /run/podman/podman.sock), or "
            "leave docker out of FLOWUI_WORKSPACE_RUNTIMES"
        )
    return ComposeFiles(compose_file, env_file, generated, tuple(warnings))
