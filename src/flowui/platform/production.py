"""The production profile of `flowui up`: its services checked before anything starts, its
Fernet key, and its Celery workers' names and health."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from flowui.config import (
    CONFIG_FILE_NAME,
    SETTINGS,
    AirflowExecutor,
    ConfigError,
    Profile,
    Settings,
)
from flowui.storage import write_text_atomically

CONNECT_TIMEOUT = 5  # seconds to reach PostgreSQL or Redis before calling it unreachable
WORKER_PREFIX = "worker-"


def uses_celery(settings: Settings) -> bool:
    return (
        settings.FLOWUI_PROFILE is Profile.PRODUCTION
        and settings.AIRFLOW__CORE__EXECUTOR is AirflowExecutor.CELERY
    )


def worker_names(settings: Settings) -> list[str]:
    """The components `flowui up` names its Celery workers (none unless they are used)."""
    if not uses_celery(settings):
        return []
    return [f"{WORKER_PREFIX}{i}" for i in range(1, settings.FLOWUI_CELERY_WORKERS + 1)]


def celery_node(worker: str) -> str:
    """The Celery node name of a worker component: unique among the workers of this host."""
    return f"{worker}@{socket.gethostname()}"


def ping_workers(broker_url: str, timeout: float = 1.0, expected: int | None = None) -> set[str]:
    """The Celery nodes that answer a ping on `broker_url` within `timeout` seconds (less
    once `expected` nodes have answered)."""
    from celery import Celery  # here: only the production profile needs it

    app = Celery("flowui-status", broker=broker_url)
    try:
        replies = app.control.ping(timeout=timeout, limit=expected)
    except Exception:  # an unreachable broker: no worker answers
        return set()
    finally:
        app.close()
    return {node for reply in replies for node in reply}


# --- checks before anything starts ---------------------------------------------------------


def _missing(name: str, what: str, example: str) -> str:
    return (
        f"{name} is not set: the production profile keeps {what}; set it in "
        f"{CONFIG_FILE_NAME} [{SETTINGS[name].section}] or the environment, e.g. {example}"
    )


def _is_postgresql(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] == "postgresql"


def _database_problem(settings: Settings, name: str) -> str | None:
    """Why the PostgreSQL database of setting `name` cannot be used, or None if it can."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = str(getattr(settings, name))
    where = settings.where(name)
    if not _is_postgresql(url):
        return f"{where}: {make_url(url).render_as_string()} is not PostgreSQL (postgresql://…)"
    target = make_url(url)
    engine = create_engine(target, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        shown = target.render_as_string(hide_password=True)
        return f"{where}: cannot connect to PostgreSQL at {shown}: {reason}"
    finally:
        engine.dispose()
    return None


def _broker_problem(settings: Settings) -> str | None:
    import redis

    name = "AIRFLOW__CELERY__BROKER_URL"
    url = str(settings.AIRFLOW__CELERY__BROKER_URL)
    where = settings.where(name)
    if url.split(":", 1)[0] not in ("redis", "rediss"):
        return f"{where}: the production profile's broker is Redis (redis://host:6379/N)"
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as error:
        host = url.rpartition("@")[2]  # never the password
        return f"{where}: cannot reach Redis at {host}: {error}"
    finally:
        client.close()
    return None


def check_production(settings: Settings) -> None:
    """Raise ConfigError naming every setting of the production profile that is missing,
    wrong or whose server is unreachable; changes nothing."""
    problems: list[str] = []
    databases = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "Airflow's metadata in PostgreSQL",
        "FLOWUI_DATABASE_URL": "FlowUI's server data in PostgreSQL",
    }
    for name, what in databases.items():
        if getattr(settings, name) is None:
            example = "postgresql+psycopg2://flowui@127.0.0.1:5432/" + (
                "airflow" if name.startswith("AIRFLOW") else "flowui"
            )
            problems.append(_missing(name, what, example))
        elif (problem := _database_problem(settings, name)) is not None:
            problems.append(problem)
    airflow_db = settings.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
    flowui_db = settings.FLOWUI_DATABASE_URL
    if airflow_db and flowui_db and _same_database(airflow_db, flowui_db):
        problems.append(
            "FLOWUI_DATABASE_URL and AIRFLOW__DATABASE__SQL_ALCHEMY_CONN name the same "
            "database: each needs its own (both keep an alembic_version table)"
        )
    if uses_celery(settings):
        if settings.AIRFLOW__CELERY__BROKER_URL is None:
            problems.append(
                _missing(
                    "AIRFLOW__CELERY__BROKER_URL",
                    "Celery's queue in Redis",
                    "redis://127.0.0.1:6379/0",
                )
            )
        elif (problem := _broker_problem(settings)) is not None:
            problems.append(problem)
    if problems:
        raise ConfigError(
            problems, hint="`flowui config show` lists every setting and where it comes from"
        )


def _same_database(first: str, second: str) -> bool:
    from sqlalchemy.engine import make_url

    a, b = make_url(first), make_url(second)
    return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)


# --- the Fernet key ----------------------------------------------------------------------------


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def ensure_fernet_key(settings: Settings, key_file: Path) -> str:
    """AIRFLOW__CORE__FERNET_KEY from the environment, else the one kept in `key_file`
    (mode 0600), else a new one written there: never a default, never lost at a restart."""
    if settings.AIRFLOW__CORE__FERNET_KEY is not None:
        return settings.AIRFLOW__CORE__FERNET_KEY.get_secret_value()
    try:
        kept = key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        os.chmod(key_file, 0o600)
        return kept
    key = new_fernet_key()
    write_text_atomically(key_file, key + "\n", mode=0o600)
    return key
