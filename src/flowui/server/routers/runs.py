"""Runs of a deployed workflow: trigger with parameters, list, follow each task's state and log,
read its output and result files, cancel a run, retry a task.

States come from Airflow's REST API; logs, outputs and results from the run directory, or from
the bucket once housekeeping has archived the run (same answers).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from flowui.server.airflow_client import DagRun, RunState, TaskInstance
from flowui.server.deps import ContextDep, Id, ReadAccess, SessionDep, WriteAccess
from flowui.server.errors import ApiError, error_responses
from flowui.server.models import Workflow
from flowui.server.services import audit
from flowui.server.services.runs import (
    FINISHED_TASK_STATES,
    TaskPlacement,
    airflow_client,
    check_deployed,
    check_runs_below_limit,
    deployed_version,
    displayed_result,
    find_run,
    find_task,
    list_results,
    read_log,
    read_output,
    result_file,
    run_parameters,
    run_tasks,
    task_files,
    task_placement,
)
from flowui.server.services.workflows import find_workflow
from flowui.storage import FileSystemRoot

router = APIRouter(
    prefix="/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs",
    tags=["runs"],
    responses=error_responses(502, 503),  # runs live in Airflow: failing, or not configured
)

RunId = Annotated[
    str,
    Path(min_length=1, max_length=250, description="Airflow's run id, URL-encoded (':', '+')."),
]
TaskId = Annotated[str, Path(min_length=1, max_length=250, description="The task's id.")]


class RunCreate(BaseModel):
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Run parameters, valid against the workflow's parameters JSON Schema; "
        "omitted ones take their defaults.",
    )


class RunOut(BaseModel):
    run_id: str
    state: str = Field(description="queued, running, success or failed.")
    run_type: str | None = Field(description="manual, scheduled, ...")
    parameters: dict[str, Any] = Field(description="The run's parameters, defaults included.")
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None = Field(description="Seconds from start to end.")


class RunTask(BaseModel):
    task_id: str
    state: str | None = Field(description="Airflow's task state; null before it is scheduled.")
    try_number: int = Field(description="The current try; 0 before the first.")
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None = Field(description="Seconds from start to end.")
    placement: TaskPlacement | None = Field(
        description="Where its latest try ran (runtime, host, and the container, pod or Batch "
        "job); null before it has started."
    )


class RunDetail(RunOut):
    tasks: list[RunTask]


class TaskLogChunk(BaseModel):
    content: str = Field(description="The log from `offset` on (whole lines while it runs).")
    next_offset: int = Field(description="Where to read on from, to follow the log.")
    complete: bool = Field(description="The task has finished and this is the end of its log.")
    state: str | None = Field(description="The task's state when the log was read.")


class ResultFileOut(BaseModel):
    path: str = Field(description="Relative to the task's results directory.")
    size: int = Field(description="Bytes.")
    media_type: str


class DisplayResultOut(BaseModel):
    file_type: str = Field(description="html, png, jpeg, svg, csv, json, md, txt or pdf.")
    path: str = Field(description="The file to show, relative to the results directory.")


class TaskResults(BaseModel):
    files: list[ResultFileOut]
    display_result: DisplayResultOut | None = Field(
        description="What the operator asked the GUI to show, if it declared something."
    )


def _run_out(run: DagRun) -> RunOut:
    return RunOut(**_run_fields(run))


def _run_fields(run: DagRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "state": run.state,
        "run_type": run.run_type,
        "parameters": run.conf or {},
        "queued_at": run.queued_at,
        "started_at": run.start_date,
        "ended_at": run.end_date,
        "duration": run.duration,
    }


def _task_out(task: TaskInstance, placement: TaskPlacement | None) -> RunTask:
    return RunTask(
        task_id=task.task_id,
        state=task.state,
        try_number=task.try_number,
        started_at=task.start_date,
        ended_at=task.end_date,
        duration=task.duration,
        placement=placement,
    )


def _run_detail(
    root: FileSystemRoot, workflow: Workflow, run: DagRun, tasks: list[TaskInstance]
) -> RunDetail:
    return RunDetail(
        **_run_fields(run),
        tasks=[
            _task_out(task, task_placement(root, workflow, run.run_id, task.task_id))
            for task in tasks
        ],
    )


def _record_accepted(
    session: SessionDep, request: Request, action: str, workflow: Workflow, **detail: str
) -> None:
    """Record a change Airflow has accepted: the run lives in Airflow, so the event is this
    request's only database write, committed once Airflow said yes."""
    audit.record(
        session,
        request,
        action,
        workspace_id=workflow.workspace_id,
        target=workflow.name,
        detail={"workflow_id": workflow.id, **detail},
    )
    session.commit()


def _deployed(session: SessionDep, workspace_id: int, workflow_id: int) -> Workflow:
    workflow = find_workflow(session, workspace_id, workflow_id)
    check_deployed(workflow)
    return workflow


def _deployed_to_read(workflow_id: Id, access: ReadAccess, session: SessionDep) -> Workflow:
    return _deployed(session, access.workspace.id, workflow_id)


def _deployed_to_change(workflow_id: Id, access: WriteAccess, session: SessionDep) -> Workflow:
    return _deployed(session, access.workspace.id, workflow_id)


# The deployed workflow of the path, for its readers / for those who may change it.
ReadableWorkflow = Annotated[Workflow, Depends(_deployed_to_read)]
ChangeableWorkflow = Annotated[Workflow, Depends(_deployed_to_change)]


@router.post("", status_code=status.HTTP_201_CREATED)
def trigger(
    workflow_id: Id,
    access: WriteAccess,
    request: Request,
    session: SessionDep,
    context: ContextDep,
    body: RunCreate | None = None,
) -> RunOut:
    """Start a run of the deployed version now (422 with `/body/parameters/<name>` for each
    invalid parameter; 409 when the workspace has as many runs queued or running as its limit
    allows)."""
    workflow = find_workflow(session, access.workspace.id, workflow_id)
    version = deployed_version(session, workflow)
    if workflow.is_paused:
        raise ApiError(409, f"workflow {workflow.name!r} is paused: resume it to run it")
    schema = version.document.get("parameters") or {"type": "object", "properties": {}}
    parameters = run_parameters(schema, (body or RunCreate()).parameters)
    limit = access.workspace.limits(context.default_limits).active_runs
    with airflow_client(context) as airflow:
        check_runs_below_limit(session, airflow, access.workspace, limit)
        run = airflow.trigger_run(workflow.dag_id, parameters)
    _record_accepted(session, request, "run.start", workflow, run_id=run.run_id)
    return _run_out(run)


@router.get("")
def list_runs(
    workflow: ReadableWorkflow,
    context: ContextDep,
    state: Annotated[list[RunState] | None, Query(description="Only runs in these states.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[RunOut]:
    """The workflow's runs, newest first."""
    with airflow_client(context) as airflow:
        runs = airflow.list_runs(workflow.dag_id, limit=limit, offset=offset, state=state or None)
    return [_run_out(run) for run in runs]


@router.get("/{run_id}")
def read(workflow: ReadableWorkflow, run_id: RunId, context: ContextDep) -> RunDetail:
    """The run and every task's state, try number, start, end, duration and where it ran."""
    with airflow_client(context) as airflow:
        run = find_run(airflow, workflow, run_id)
        return _run_detail(context.root, workflow, run, run_tasks(airflow, workflow, run_id))


@router.post("/{run_id}/cancel")
def cancel(
    workflow: ChangeableWorkflow,
    run_id: RunId,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> RunOut:
    """Stop the run: it becomes failed, Airflow stops its running tasks and starts no more."""
    with airflow_client(context) as airflow:
        run = find_run(airflow, workflow, run_id)
        if run.finished:
            raise ApiError(409, f"run {run_id!r} has already finished ({run.state})")
        cancelled = airflow.cancel_run(workflow.dag_id, run_id)
    _record_accepted(session, request, "run.cancel", workflow, run_id=run_id)
    return _run_out(cancelled)


@router.post("/{run_id}/tasks/{task_id}/retry")
def retry_task(
    workflow: ChangeableWorkflow,
    run_id: RunId,
    task_id: TaskId,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> RunDetail:
    """Run a finished task again as a new try, and the tasks downstream of it after it."""
    with airflow_client(context) as airflow:
        task = find_task(airflow, workflow, run_id, task_id)
        if task.state not in FINISHED_TASK_STATES:
            state = task.state or "not started"
            raise ApiError(409, f"task {task_id!r} is {state}: retry it once it has finished")
        airflow.clear_task(workflow.dag_id, run_id, [task_id], include_downstream=True)
        _record_accepted(session, request, "run.retry", workflow, run_id=run_id, task_id=task_id)
        run = find_run(airflow, workflow, run_id)
        return _run_detail(context.root, workflow, run, run_tasks(airflow, workflow, run_id))


@router.get("/{run_id}/tasks/{task_id}/log")
def read_task_log(
    workflow: ReadableWorkflow,
    run_id: RunId,
    task_id: TaskId,
    context: ContextDep,
    offset: Annotated[int, Query(ge=0, description="Byte offset: a previous `next_offset`.")] = 0,
) -> TaskLogChunk:
    """The task's log from `offset` on; every try appends to it. Follow it by asking again
    from `next_offset` until `complete`."""
    with airflow_client(context) as airflow:
        # The state first: a task seen finished has written all of its log.
        task = find_task(airflow, workflow, run_id, task_id)
    files = task_files(context, workflow, run_id, task_id)
    chunk = read_log(files, offset, task.state in FINISHED_TASK_STATES)
    return TaskLogChunk(
        content=chunk.content,
        next_offset=chunk.next_offset,
        complete=chunk.complete,
        state=task.state,
    )


@router.get("/{run_id}/tasks/{task_id}/output")
def read_task_output(
    workflow: ReadableWorkflow,
    run_id: RunId,
    task_id: TaskId,
    context: ContextDep,
) -> dict[str, Any]:
    """The task's validated output (its output.json); 404 until the task has produced one."""
    output: dict[str, Any] = read_output(task_files(context, workflow, run_id, task_id))
    return output


@router.get("/{run_id}/tasks/{task_id}/results")
def list_task_results(
    workflow: ReadableWorkflow,
    run_id: RunId,
    task_id: TaskId,
    context: ContextDep,
) -> TaskResults:
    """The files the task wrote to its results directory, and the one it asked to display."""
    files = task_files(context, workflow, run_id, task_id)
    display = displayed_result(files)
    return TaskResults(
        files=[
            ResultFileOut(path=file.path, size=file.size, media_type=file.media_type)
            for file in list_results(files)
        ],
        display_result=(
            DisplayResultOut(file_type=display.file_type, path=display.path) if display else None
        ),
    )


@router.get(
    "/{run_id}/tasks/{task_id}/results/{path:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_task_result(
    workflow: ReadableWorkflow,
    run_id: RunId,
    task_id: TaskId,
    path: str,
    context: ContextDep,
) -> FileResponse:
    """One result file, with its media type (as an attachment: never rendered by the API)."""
    download = result_file(task_files(context, workflow, run_id, task_id), path)
    return FileResponse(
        download.file,
        media_type=download.media_type,
        filename=PurePosixPath(path).name,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        background=BackgroundTask(download.file.unlink) if download.temporary else None,
    )
