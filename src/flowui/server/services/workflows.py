"""Workflows of a workspace beyond HTTP: stored workflows and their versions (found, listed,
validated, saved), generated DAG ids, the changes between two versions, export file names, when
a schedule runs next, and deploying a version: checked, its DAG compiled and brought live in
Airflow, or the DAG folder as it was."""

from __future__ import annotations

import functools
import os
import re
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel, Field
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowui.server.airflow_client import AirflowApiError
from flowui.server.context import AirflowConnection, ServerContext
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import User, Workflow, WorkflowVersion, Workspace
from flowui.server.services.catalog import workspace_catalog
from flowui.server.services.secrets import unset_secret_problems
from flowui.storage import FileSystemRoot, validate_id, write_text_atomically
from flowui.workflows import spec
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.compile import compile_workflow, dag_paths
from flowui.workflows.limits import limit_problems
from flowui.workflows.runtimes import platform_image_lookup, runtime_environment, runtime_problems
from flowui.workflows.validate import WorkflowError, json_pointer, parse_workflow

DAG_ID_PREFIX = "flowui_"
AIRFLOW_LOAD_TIMEOUT = 60.0  # seconds the deploy waits for the dag-processor
_SLUG_MAX_LENGTH = 80
# Airflow's meanings of the presets (airflow.utils.dates.cron_presets).
PRESET_CRON_EXPRESSIONS = {
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
    "yearly": "0 0 1 1 *",
}


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


def next_run_at(workflow: spec.Workflow, now: datetime) -> datetime | None:
    """When Airflow starts the next scheduled run of `workflow` after `now` (aware, UTC), or
    None when nothing is scheduled after `now`.

    As Airflow 3 runs the DAG that `flowui.airflow.dag_factory` builds:

    - cron and preset: a cron string's default timetable, CronTriggerTimetable, starts a run
      AT each cron time. Its `next_dagrun_info` takes the first cron time after the latest
      run, never one before `_align_to_next(start_date)` (the first cron time at or after
      start_date), and none after end_date. So: the first cron time strictly after `now` and
      at or after start_date; None when that is after end_date.
    - once: OnceTimetable runs once, at `at` (the DAG's start_date), unless that is after
      end_date: `at` while it is ahead, else None.
    - none: Airflow schedules nothing.

    The cron expression is read in the DAG's timezone, which Airflow takes from start_date
    (a fixed offset, as documents are JSON; UTC when start_date is unset or has none). Dates
    without an offset are UTC, as Airflow reads them with its default timezone.

    Runs due in the past are not told: that needs Airflow's run history. With catchup, Airflow
    first starts a run for every cron time since start_date, each as soon as it can; without,
    a cron time missed while paused gets one run at once; a `once` deployed after its `at`
    runs at once. The answer is still the next time on the schedule after `now`.
    """
    schedule = workflow.schedule
    now = _aware(now)
    end_date = _aware(workflow.end_date) if workflow.end_date else None
    if schedule.type == "once":
        at = _aware(schedule.at)
        if at <= now or (end_date is not None and at > end_date):
            return None
        return at.astimezone(UTC)
    if schedule.type == "cron":
        expression = schedule.expression
    elif schedule.type == "preset":
        expression = PRESET_CRON_EXPRESSIONS[schedule.preset]
    else:
        return None
    start_date = _aware(workflow.start_date) if workflow.start_date else None
    after = now
    if start_date is not None and start_date > now:
        # croniter gives times strictly after its start: this lets start_date itself count.
        after = start_date - timedelta(microseconds=1)
    local = after.astimezone(start_date.tzinfo if start_date is not None else UTC)
    offset = local.utcoffset() or timedelta()
    # Cron times are whole minutes, so the minute of `after` decides: lists asked for within
    # the same minute share the (slow) cron arithmetic.
    minute = local.replace(second=0, microsecond=0, tzinfo=None)
    scheduled = _next_cron_time(expression, minute, offset)
    if scheduled is None or (end_date is not None and scheduled > end_date):
        return None
    return scheduled


@functools.lru_cache(maxsize=4096)
def _next_cron_time(expression: str, after: datetime, offset: timedelta) -> datetime | None:
    """The first time of `expression` strictly after `after`, a wall-clock time at `offset`
    from UTC, in UTC; None if it never comes."""
    start = after.replace(tzinfo=timezone(offset))
    try:
        scheduled: datetime = croniter(expression, start).get_next(datetime)
    except CroniterBadDateError:  # a date that never comes, such as "0 0 30 2 *"
        return None
    return scheduled.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def deploy_to_airflow(
    context: ServerContext,
    workflow: spec.Workflow,
    dag_id: str,
    catalog: OperatorCatalog,
    *,
    workspace_id: int,
    default_runtime: str,
    is_paused: bool,
) -> None:
    """Compile `workflow` into the DAG folder and, when the server knows an Airflow, wait until
    Airflow has loaded it. If Airflow does not take it (AirflowApiError, TimeoutError), the DAG
    folder gets back what it held (the deployed version's files, or none) before the error goes
    on: what Airflow runs stays what the database says is deployed."""
    before = {
        path: path.read_bytes() if path.exists() else None
        for path in dag_paths(context.root, dag_id)
    }
    written_at = datetime.now(UTC)
    compile_workflow(
        workflow,
        dag_id,
        catalog,
        context.root,
        workspace_id=workspace_id,
        default_runtime=default_runtime,
    )
    if context.airflow is None:
        return
    try:
        bring_dag_live(context.airflow, dag_id, written_at=written_at, is_paused=is_paused)
    except (AirflowApiError, TimeoutError):
        for path, content in before.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                write_text_atomically(path, content.decode("utf-8"))
        raise


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


# --- stored workflows and their versions -----------------------------------------------------


def find_workflow(session: Session, workspace_id: int, workflow_id: int) -> Workflow:
    """The workspace's workflow, or 404 (another workspace's does not exist for the caller)."""
    workflow = session.get(Workflow, workflow_id)
    if workflow is None or workflow.workspace_id != workspace_id:
        raise not_found(f"workflow {workflow_id}")
    return workflow


def find_version(session: Session, workflow: Workflow, number: int) -> WorkflowVersion:
    version = session.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == number
        )
    )
    if version is None:
        raise not_found(f"version {number} of workflow {workflow.id}")
    return version


def current_document(session: Session, workflow: Workflow) -> dict[str, Any]:
    return find_version(session, workflow, workflow.current_version).document


def workspace_workflows(
    session: Session, workspace_id: int, *, search: str | None, limit: int, offset: int
) -> list[tuple[Workflow, dict[str, Any]]]:
    """A page of the workspace's workflows by name, each with its current document."""
    query = (
        select(Workflow, WorkflowVersion.document)
        .join(
            WorkflowVersion,
            and_(
                WorkflowVersion.workflow_id == Workflow.id,
                WorkflowVersion.number == Workflow.current_version,
            ),
        )
        .where(Workflow.workspace_id == workspace_id)
        .order_by(Workflow.name, Workflow.id)
        .limit(limit)
        .offset(offset)
    )
    if search:
        query = query.where(Workflow.name.icontains(search, autoescape=True))
    return [(workflow, document) for workflow, document in session.execute(query)]


def deployed_documents(session: Session, workflows: list[Workflow]) -> dict[int, dict[str, Any]]:
    """By workflow id, in one query, the deployed version's document of the workflows whose
    next run it tells: deployed, active, and edited since (else the current one tells it)."""
    workflow_ids = [
        workflow.id
        for workflow in workflows
        if workflow.deployed_version not in (None, workflow.current_version)
        and not workflow.is_paused
    ]
    if not workflow_ids:
        return {}
    rows = session.execute(
        select(WorkflowVersion.workflow_id, WorkflowVersion.document)
        .join(
            Workflow,
            and_(
                Workflow.id == WorkflowVersion.workflow_id,
                Workflow.deployed_version == WorkflowVersion.number,
            ),
        )
        .where(Workflow.id.in_(workflow_ids))
    )
    return {workflow_id: document for workflow_id, document in rows}


def version_history(session: Session, workflow: Workflow) -> list[tuple[int, datetime, str | None]]:
    """(number, when, by whom) of every version, oldest first."""
    rows = session.execute(
        select(WorkflowVersion.number, WorkflowVersion.created_at, User.email)
        .outerjoin(User, User.id == WorkflowVersion.created_by_id)
        .where(WorkflowVersion.workflow_id == workflow.id)
        .order_by(WorkflowVersion.number)
    )
    return [(number, created_at, email) for number, created_at, email in rows]


def invalid_document(problems: list[WorkflowError], where: str, message: str) -> ApiError:
    """422 with each problem at `where` + its pointer into the document."""
    details = [ErrorDetail(where=where + p.pointer, message=p.message) for p in problems]
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return ApiError(422, f"{message} ({count})", details=details)


def validated_document(
    session: Session, root: FileSystemRoot, workspace_id: int, document: Any, where: str
) -> spec.Workflow:
    """The workflow of `document` against the workspace's operators, or 422."""
    catalog = workspace_catalog(session, root, workspace_id)
    workflow, problems = parse_workflow(document, catalog)
    if workflow is not None and "\x00" in workflow.name:
        problems = [WorkflowError("/name", "name must not contain NUL characters")]
    if workflow is None or problems:
        raise invalid_document(problems, where, "the workflow document is invalid")
    return workflow


def check_name_free(
    session: Session, workspace_id: int, name: str, where: str, workflow_id: int | None
) -> None:
    """409 at `where`/name when another workflow of the workspace has that name."""
    query = select(Workflow.id).where(Workflow.workspace_id == workspace_id, Workflow.name == name)
    if workflow_id is not None:
        query = query.where(Workflow.id != workflow_id)
    if session.scalar(query) is not None:
        message = f"a workflow named {name!r} already exists in this workspace"
        raise ApiError(409, message, details=[ErrorDetail(where=f"{where}/name", message=message)])


def _commit_save(
    session: Session, workspace_id: int, name: str, where: str, workflow_id: int | None
) -> None:
    """Commit a save; another save that won a race is a conflict, not a 500."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        check_name_free(session, workspace_id, name, where, workflow_id)
        raise ApiError(
            409, "the workflow was saved by someone else meanwhile: reload it and save again"
        ) from None


def create_workflow(
    session: Session,
    root: FileSystemRoot,
    workspace_id: int,
    user_id: int,
    document: dict[str, Any],
    where: str,
) -> Workflow:
    """A new workflow of the workspace, its document saved as version 1 (422, 409 otherwise)."""
    parsed = validated_document(session, root, workspace_id, document, where)
    check_name_free(session, workspace_id, parsed.name, where, None)
    workflow = Workflow(
        workspace_id=workspace_id,
        name=parsed.name,
        dag_id=new_dag_id(),
        current_version=1,
        created_by_id=user_id,
    )
    workflow.versions.append(WorkflowVersion(number=1, document=document, created_by_id=user_id))
    session.add(workflow)
    _commit_save(session, workspace_id, parsed.name, where, None)
    return workflow


def save_version(
    session: Session,
    root: FileSystemRoot,
    workflow: Workflow,
    user_id: int,
    document: dict[str, Any],
    where: str,
) -> bool:
    """Save `document` as the workflow's next version; False (nothing saved) when it is the
    current document again."""
    parsed = validated_document(session, root, workflow.workspace_id, document, where)
    if not document_changes(current_document(session, workflow), document):
        return False
    check_name_free(session, workflow.workspace_id, parsed.name, where, workflow.id)
    workflow.current_version += 1
    workflow.name = parsed.name
    session.add(
        WorkflowVersion(
            workflow_id=workflow.id,
            number=workflow.current_version,
            document=document,
            created_by_id=user_id,
        )
    )
    _commit_save(session, workflow.workspace_id, parsed.name, where, workflow.id)
    return True


def deployable(
    session: Session, context: ServerContext, workspace: Workspace, workflow: Workflow
) -> tuple[spec.Workflow, OperatorCatalog, str]:
    """The current version ready to deploy, with the catalog and the default runtime it is
    compiled with; 422 at `/document/...` when it no longer validates against the operators
    imported now, when a task's runtime is not ready for it, or when it asks for more than the
    workspace's limits allow."""
    version = workflow.current_version
    catalog = workspace_catalog(session, context.root, workspace.id)
    parsed, problems = parse_workflow(current_document(session, workflow), catalog)
    if parsed is None or problems:
        message = f"version {version} cannot be deployed with the operators imported now"
        raise invalid_document(problems, "/document", message)
    default_runtime = workspace.effective_default_runtime(context.default_runtime)
    problems = runtime_problems(
        parsed,
        catalog,
        default_runtime=default_runtime,
        environ=runtime_environment(context.root),
        image_available=platform_image_lookup(os.environ),
        workspace_id=workspace.id,
        batch_registered=context.batch_registered,
    )
    if problems:
        message = f"version {version} cannot be deployed: its tasks' runtimes are not ready for it"
        raise invalid_document(problems, "/document", message)
    problems = unset_secret_problems(session, workspace.id, parsed, catalog)
    if problems:
        message = f"version {version} cannot be deployed: secrets its tasks need are not set"
        raise invalid_document(problems, "/document", message)
    limits = workspace.limits(context.default_limits)
    problems = limit_problems(parsed, catalog, limits, default_runtime=default_runtime)
    if problems:
        message = (
            f"version {version} cannot be deployed: it asks for more than its workspace's limits "
            "allow"
        )
        raise invalid_document(problems, "/document", message)
    return parsed, catalog, default_runtime
