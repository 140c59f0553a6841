"""A small typed client of Airflow's REST API v2: how FlowUI reads and drives Airflow.

Paths and bodies follow Airflow 3.3's OpenAPI document
(`airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml`). The models keep only the
fields FlowUI reads; Airflow's other fields are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

RunState = Literal["queued", "running", "success", "failed"]
FINISHED_RUN_STATES: frozenset[str] = frozenset({"success", "failed"})
DEFAULT_TIMEOUT = 30.0
_PAGE_SIZE = 100  # Airflow's default [api] maximum_page_limit

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class AirflowApiError(Exception):
    """Airflow refused a request, or did not answer (`status_code` None)."""

    def __init__(self, status_code: int | None, message: str, method: str, path: str) -> None:
        self.status_code = status_code
        self.message = message
        self.method = method
        self.path = path
        status = f"HTTP {status_code}" if status_code is not None else "no answer"
        super().__init__(f"Airflow {method} {path}: {status}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ComponentHealth(_Model):
    status: str | None = None


class Health(_Model):
    """`/api/v2/monitor/health`: the metadata database and the components' heartbeats."""

    metadatabase: ComponentHealth
    scheduler: ComponentHealth
    dag_processor: ComponentHealth | None = None
    triggerer: ComponentHealth | None = None

    @property
    def healthy(self) -> bool:
        """Database, scheduler and dag-processor healthy (FlowUI runs no triggerer)."""
        parts = (self.metadatabase, self.scheduler, self.dag_processor)
        return all(part is not None and part.status == "healthy" for part in parts)


class VersionInfo(_Model):
    version: str
    git_version: str | None = None


class DagTag(_Model):
    name: str


class Dag(_Model):
    dag_id: str
    is_paused: bool
    is_stale: bool = False
    fileloc: str | None = None
    relative_fileloc: str | None = None
    bundle_name: str | None = None
    has_import_errors: bool = False
    last_parsed_time: datetime | None = None
    tags: list[DagTag] = []


class DagRun(_Model):
    run_id: str = Field(alias="dag_run_id")
    dag_id: str
    state: str
    run_type: str | None = None
    logical_date: datetime | None = None
    run_after: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_RUN_STATES


class TaskInstance(_Model):
    task_id: str
    dag_id: str
    run_id: str = Field(alias="dag_run_id")
    map_index: int = -1
    state: str | None = None
    try_number: int = 0
    max_tries: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    operator: str | None = None
    hostname: str | None = None
    pid: int | None = None


class LogEntry(_Model):
    """One event of a task's structured log (Airflow 3 keeps logs as JSON lines)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event: str
    timestamp: datetime | None = None
    level: str | None = None


class TaskLog(_Model):
    entries: list[LogEntry]

    @property
    def text(self) -> str:
        lines = []
        for entry in self.entries:
            stamp = f"{entry.timestamp.isoformat()} " if entry.timestamp else ""
            level = f"[{entry.level}] " if entry.level else ""
            lines.append(f"{stamp}{level}{entry.event}")
        return "\n".join(lines)


class DagImportError(_Model):
    filename: str
    stack_trace: str
    timestamp: datetime | None = None


def _segment(value: str | int) -> str:
    # Run ids carry ':' and '+' (manual__2026-01-01T00:00:00+00:00): encode everything.
    return quote(str(value), safe="")


def _message(response: httpx.Response) -> str:
    """Airflow's own explanation: `detail` as text, or each validation error with its place."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    if isinstance(detail, dict):
        return str(detail.get("reason") or detail.get("message") or detail)
    return str(detail) if detail is not None else response.reason_phrase


def _token_rejected(response: httpx.Response) -> bool:
    # Airflow answers 401 for an expired token and 403 for one it cannot verify; a plain 403
    # ("Forbidden") is about the user's rights, which a new token does not change.
    if response.status_code == 401:
        return True
    return response.status_code == 403 and _message(response) == "Invalid JWT token"


class AirflowClient:
    """Talks to one Airflow api-server as one user.

    The JWT from `POST /auth/token` is fetched on first use and again when Airflow rejects it.
    Use as a context manager, or call `close()`.

    Example:
        with AirflowClient("http://127.0.0.1:8080", "admin", password) as airflow:
            run = airflow.trigger_run("my_dag", {"rows": 10})
            airflow.wait_for_run("my_dag", run.run_id, timeout=60)
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**(headers or {}), **self._headers(authenticated)}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as error:
            raise AirflowApiError(
                None, f"cannot reach Airflow at {self.base_url}: {error}", method, path
            ) from error

    def _headers(self, authenticated: bool) -> dict[str, str]:
        if not authenticated:
            return {}
        if self._token is None:
            self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _fetch_token(self) -> str:
        response = self._send(
            "POST",
            "/auth/token",
            authenticated=False,
            json={"username": self._username, "password": self._password},
        )
        if response.status_code >= 400:
            raise AirflowApiError(response.status_code, _message(response), "POST", "/auth/token")
        token = response.json().get("access_token")
        if not isinstance(token, str):
            raise AirflowApiError(
                response.status_code, "the answer has no access_token", "POST", "/auth/token"
            )
        return token

    def _request(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        allow_404: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        response = self._send(method, path, authenticated=authenticated, **kwargs)
        if authenticated and _token_rejected(response):
            self._token = None  # expired, or signed by an Airflow with another secret: log in again
            response = self._send(method, path, **kwargs)
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code >= 400:
            raise AirflowApiError(response.status_code, _message(response), method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise AirflowApiError(
                response.status_code, "the answer is not JSON", method, path
            ) from error

    def _parse(self, model: type[M], data: Any, method: str, path: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise AirflowApiError(
                200, f"unexpected answer: {error.errors()[0]['msg']}", method, path
            ) from error

    def _pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        offset = 0
        while True:
            page = self._json("GET", path, params={**params, "limit": _PAGE_SIZE, "offset": offset})
            items = page.get(key, [])
            yield from items
            offset += len(items)
            if not items or offset >= (page.get("total_entries") or 0):
                return

    @staticmethod
    def _wait(condition: Callable[[], T | None], timeout: float, interval: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} within {timeout:g} s")
            time.sleep(interval)  # polling a remote server: the condition is checked above

    # -- platform ------------------------------------------------------------------------------

    def health(self) -> Health:
        path = "/api/v2/monitor/health"
        return self._parse(Health, self._json("GET", path, authenticated=False), "GET", path)

    def version(self) -> VersionInfo:
        path = "/api/v2/version"
        return self._parse(VersionInfo, self._json("GET", path, authenticated=False), "GET", path)

    def import_errors(self, filename: str | None = None) -> list[DagImportError]:
        """Files the dag-processor could not load, with Airflow's stack trace."""
        path = "/api/v2/importErrors"
        params = {"filename": filename} if filename else {}
        return [
            self._parse(DagImportError, item, "GET", path)
            for item in self._pages(path, "import_errors", params)
        ]

    # -- DAGs ------------------------------------------------------------------------------------

    def get_dag(self, dag_id: str) -> Dag | None:
        """The DAG, or None if Airflow does not know it (yet)."""
        path = f"/api/v2/dags/{_segment(dag_id)}"
        data = self._json("GET", path, allow_404=True)
        return None if data is None else self._parse(Dag, data, "GET", path)

    def wait_for_dag(
        self,
        dag_id: str,
        timeout: float = 60.0,
        interval: float = 0.5,
        *,
        parsed_since: datetime | None = None,
    ) -> Dag:
        """Wait until the dag-processor has parsed `dag_id` (at or after `parsed_since`: a
        rewritten DAG file, not its older version); the error lists import errors."""

        def parsed() -> Dag | None:
            dag = self.get_dag(dag_id)
            if dag is None or parsed_since is None:
                return dag
            fresh = dag.last_parsed_time is not None and dag.last_parsed_time >= parsed_since
            return dag if fresh else None

        try:
            return self._wait(parsed, timeout, interval, "")
        except TimeoutError:
            errors = "; ".join(
                f"{error.filename}: {error.stack_trace.strip().splitlines()[-1]}"
                for error in self.import_errors()
            )
            found = f" Import errors: {errors}" if errors else " There are no import errors."
            raise TimeoutError(
                f"Airflow did not load DAG {dag_id!r} within {timeout:g} s.{found}"
            ) from None

    def patch_dag(self, dag_id: str, is_paused: bool) -> Dag:
        path = f"/api/v2/dags/{_segment(dag_id)}"
        data = self._json(
            "PATCH", path, params={"update_mask": "is_paused"}, json={"is_paused": is_paused}
        )
        return self._parse(Dag, data, "PATCH", path)

    def delete_dag(self, dag_id: str, *, missing_ok: bool = False) -> bool:
        """Delete the DAG's records (runs, task instances); its file stays where it is.

        Returns False if Airflow did not know it and `missing_ok`; raises otherwise.
        """
        path = f"/api/v2/dags/{_segment(dag_id)}"
        return self._request("DELETE", path, allow_404=missing_ok) is not None

    # -- runs --------------------------------------------------------------------------------

    def trigger_run(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | None = None,
        *,
        run_id: str | None = None,
        note: str | None = None,
    ) -> DagRun:
        """Start a run now; `conf` carries the run parameters."""
        path = f"/api/v2/dags/{_segment(dag_id)}/dagRuns"
        body: dict[str, Any] = {
            # Required by Airflow 3, null allowed: the run is not tied to a schedule slot.
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": dict(conf or {}),
        }
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return self._parse(DagRun, self._json("POST", path, json=body), "POST", path)

    def _run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}"

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        path = self._run_path(dag_id, run_id)
        return self._parse(DagRun, self._json("GET", path), "GET", path)

    def list_runs(
        self,
        dag_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        state: RunState | Sequence[RunState] | None = None,
    ) -> list[DagRun]:
        """The most recent runs first, from `offset` on; `state` keeps runs in that state (or
        in any of those states)."""
        path = f"/api/v2/dags/{_segment(dag_id)}/dagRuns"
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if offset:
            params["offset"] = offset
        if state is not None:
            params["state"] = state if isinstance(state, str) else list(state)
        data = self._json("GET", path, params=params)
        return [self._parse(DagRun, item, "GET", path) for item in data.get("dag_runs", [])]

    def count_runs(self, dag_ids: Sequence[str], state: Sequence[RunState]) -> int:
        """How many runs of these DAGs are in one of these states, in one request."""
        if not dag_ids:
            return 0
        path = "/api/v2/dags/~/dagRuns/list"
        body = {"dag_ids": list(dag_ids), "states": list(state), "page_limit": 0}
        data = self._json("POST", path, json=body)
        try:
            return int(data["total_entries"])
        except (TypeError, KeyError, ValueError) as error:
            raise AirflowApiError(
                200, "unexpected answer: no total_entries", "POST", path
            ) from error

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = 300.0, interval: float = 0.5
    ) -> DagRun:
        """Wait until the run has finished (success or failed) and return it."""

        def finished() -> DagRun | None:
            run = self.get_run(dag_id, run_id)
            return run if run.finished else None

        return self._wait(finished, timeout, interval, f"run {run_id} of {dag_id} did not finish")

    def cancel_run(self, dag_id: str, run_id: str) -> DagRun:
        """Mark the run failed: Airflow stops its running tasks and schedules no more."""
        path = self._run_path(dag_id, run_id)
        data = self._json("PATCH", path, params={"update_mask": "state"}, json={"state": "failed"})
        return self._parse(DagRun, data, "PATCH", path)

    # -- task instances ------------------------------------------------------------------------

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        path = f"{self._run_path(dag_id, run_id)}/taskInstances"
        return [
            self._parse(TaskInstance, item, "GET", path)
            for item in self._pages(path, "task_instances", {})
        ]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> TaskLog:
        """The whole log of one try of a task (Airflow's side; FlowUI's own is in {root}/runs)."""
        path = (
            f"{self._run_path(dag_id, run_id)}/taskInstances/{_segment(task_id)}/logs/{try_number}"
        )
        data = self._json(
            "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
        )
        content = data.get("content", []) if isinstance(data, dict) else []
        # On a parse error Airflow sends plain lines instead of events.
        entries = [{"event": item} if isinstance(item, str) else item for item in content]
        return self._parse(TaskLog, {"entries": entries}, "GET", path)

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str = "return_value",
        *,
        map_index: int = -1,
    ) -> Any:
        """The value a task pushed under `key` (its return value by default)."""
        path = (
            f"{self._run_path(dag_id, run_id)}/taskInstances/{_segment(task_id)}"
            f"/xcomEntries/{_segment(key)}"
        )
        data = self._json("GET", path, params={"map_index": map_index})
        if not isinstance(data, dict) or "value" not in data:
            raise AirflowApiError(200, "the answer has no value", "GET", path)
        return data["value"]

    def clear_task(
        self,
        dag_id: str,
        run_id: str,
        task_ids: list[str],
        *,
        include_downstream: bool = False,
        only_failed: bool = False,
    ) -> list[TaskInstance]:
        """Clear tasks of a run so that Airflow runs them again (a new try each)."""
        path = f"/api/v2/dags/{_segment(dag_id)}/clearTaskInstances"
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "include_downstream": include_downstream,
            "only_failed": only_failed,
            "reset_dag_runs": True,  # a finished run goes back to queued
        }
        data = self._json("POST", path, json=body)
        return [
            self._parse(TaskInstance, item, "POST", path) for item in data.get("task_instances", [])
        ]
