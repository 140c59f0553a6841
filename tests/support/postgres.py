"""Throw-away databases on the machine's PostgreSQL server, for the tests that run on it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server; dropped afterwards."""
    import psycopg2

    name = f"flowui_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 ({error}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            pytrace=False,
        )
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
