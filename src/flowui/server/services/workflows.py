"""Workflows of a workspace beyond HTTP: generated DAG ids, the changes between two versions,
export file names, and bringing a deployed DAG live in Airflow."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowui.server.context import AirflowConnection
from flowui.storage import validate_id
from flowui.workflows.validate import json_pointer

DAG_ID_PREFIX = "flowui_"
AIRFLOW_LOAD_TIMEOUT = 60.0  # seconds the deploy waits for the dag-processor
_SLUG_MAX_LENGTH = 80


def new_dag_id() -> str:
    """A DAG id of random hex digits: no text a user wrote ever becomes a DAG id or a path."""
    return validate_id(f"{DAG_ID_PREFIX}{secrets.token_hex(8)}", "dag id")


class Change(BaseModel):
    """One difference between two workflow documents."""

    op: Literal["add", "remove", "replace"]
    path: str = Field(description="JSON pointer (RFC 6901) into the documents.")
    old: Any = Field(default=None, description="The value before (absent for add).")
    new: Any = Field(default=None, description="The value after (absent for remove).")


def _same(old: Any, new: Any) -> bool:
    # In Python True == 1 and 1 == 1.0; in JSON they are different values.
    return type(old) is type(new) and old == new


def document_changes(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> list[Change]:
    """Every change from `old` to `new`, found recursively; lists are compared by index."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in [*old, *(key for key in new if key not in old)]:
            where = (*path, key)
            if key not in new:
                changes.append(Change(op="remove", path=json_pointer(*where), old=old[key]))
            elif key not in old:
                changes.append(Change(op="add", path=json_pointer(*where), new=new[key]))
            else:
                changes.extend(document_changes(old[key], new[key], where))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            where = (*path, index)
            if index >= len(new):
                changes.append(Change(op="remove", path=json_pointer(*where), old=old[index]))
            elif index >= len(old):
                changes.append(Change(op="add", path=json_pointer(*where), new=new[index]))
            else:
                changes.extend(document_changes(old[index], new[index], where))
        return changes
    if _same(old, new):
        return []
    return [Change(op="replace", path=json_pointer(*path), old=old, new=new)]


def export_filename(name: str) -> str:
    """A file name made of the workflow's name: lower-case ASCII letters, digits and '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX_LENGTH].strip("-")
    return f"{slug or 'workflow'}.json"


def bring_dag_live(
    airflow: AirflowConnection,
    dag_id: str,
    *,
    written_at: datetime,
    is_paused: bool,
    timeout: float = AIRFLOW_LOAD_TIMEOUT,
) -> None:
    """Wait until Airflow has parsed the DAG files written at `written_at`, then pause or
    unpause it as the workflow says. Raises AirflowApiError, or TimeoutError (with Airflow's
    import errors) when the dag-processor did not load it in time."""
    with airflow.client() as client:
        dag = client.wait_for_dag(dag_id, timeout, interval=0.3, parsed_since=written_at)
        if dag.is_paused != is_paused:
            client.patch_dag(dag_id, is_paused=is_paused)


def set_dag_paused(airflow: AirflowConnection, dag_id: str, is_paused: bool) -> None:
    with airflow.client() as client:
        client.patch_dag(dag_id, is_paused=is_paused)


def forget_dag(airflow: AirflowConnection, dag_id: str) -> None:
    """Delete the DAG's records in Airflow (it may never have loaded it)."""
    with airflow.client() as client:
        client.delete_dag(dag_id, missing_ok=True)
