"""Runs of deployed workflows beyond HTTP: run parameters checked against the workflow's schema,
Airflow's answers turned into API errors, and a task's log, output and result files read from
the run directory (never a path that a request names without validation), or from the bucket
once housekeeping has archived the run there."""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import posixpath
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.airflow_client import AirflowApiError, AirflowClient, DagRun, TaskInstance
from flowui.server.context import ServerContext, StorageBucket
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import Workflow, WorkflowVersion, Workspace
from flowui.storage import FileSystemRoot, InvalidIdError, TaskRunPaths
from flowui.storage.housekeeping import (
    ArchiveError,
    Tombstone,
    copy_archived_file,
    read_archived_file,
    read_tombstone,
)
from flowui.workflows.spec import Runtime
from flowui.workflows.validate import json_pointer

log = logging.getLogger(__name__)

# A task in one of these states writes nothing more to its run directory (until a retry).
FINISHED_TASK_STATES: frozenset[str] = frozenset(
    {"success", "failed", "skipped", "upstream_failed", "removed"}
)
MAX_LOG_CHUNK = 1 << 20  # bytes of log per request; a follower asks again from next_offset
DEFAULT_MEDIA_TYPE = "application/octet-stream"


def check_runs_below_limit(
    session: Session, airflow: AirflowClient, workspace: Workspace, limit: int
) -> None:
    """409 when the workspace's deployed workflows have `limit` runs queued or running."""
    dag_ids = session.scalars(
        select(Workflow.dag_id).where(
            Workflow.workspace_id == workspace.id, Workflow.deployed_version.is_not(None)
        )
    ).all()
    active = airflow.count_runs(dag_ids, ["queued", "running"])
    if active >= limit:
        runs = f"{active} run{'s' if active != 1 else ''}"
        raise ApiError(
            409,
            f"workspace {workspace.name!r} has {runs} queued or running, its limit: start this "
            "one when one of them has ended (platform administrators set the limit)",
        )


def deployed_version(session: Session, workflow: Workflow) -> WorkflowVersion:
    """The version compiled to Airflow; 409 if the workflow has not been deployed."""
    version = None
    if workflow.deployed_version is not None:
        version = session.scalar(
            select(WorkflowVersion).where(
                WorkflowVersion.workflow_id == workflow.id,
                WorkflowVersion.number == workflow.deployed_version,
            )
        )
    if version is None:
        raise ApiError(
            409, f"workflow {workflow.name!r} is not deployed: deploy it before running it"
        )
    return version


def check_deployed(workflow: Workflow) -> None:
    if workflow.deployed_version is None:
        raise ApiError(409, f"workflow {workflow.name!r} is not deployed, so it has no runs yet")


# --- run parameters ----------------------------------------------------------------------------


def run_parameters(schema: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` with the schema's defaults filled in, valid against the schema; else 422 with
    one detail per problem at `/body/parameters/<name>`."""
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    parameters = {
        name: property_schema["default"]
        for name, property_schema in properties.items()
        if isinstance(property_schema, dict) and "default" in property_schema
    }
    parameters.update(given)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    details = {
        detail.where: detail
        for error in validator.iter_errors(parameters)
        for detail in _parameter_problems(error, list(properties))
    }
    if details:
        count = len(details)
        raise ApiError(
            422,
            f"the run parameters are invalid ({count} problem{'s' if count != 1 else ''})",
            details=[details[where] for where in sorted(details)],
        )
    return parameters


def _parameter_problems(error: SchemaViolation, known: list[str]) -> list[ErrorDetail]:
    path = ["body", "parameters", *error.absolute_path]
    nested = bool(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        what = "key" if nested else "parameter"
        return [
            ErrorDetail(
                where=json_pointer(*path, key), message=f"required {what} {key!r} is missing"
            )
            for key in missing
        ]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = [key for key in error.instance if key not in allowed]
        if nested:
            return [
                ErrorDetail(where=json_pointer(*path, key), message=f"unknown key {key!r}")
                for key in unknown
            ]
        hint = f"the workflow's parameters are: {', '.join(known)}" if known else "it has none"
        return [
            ErrorDetail(
                where=json_pointer(*path, key), message=f"unknown parameter {key!r}; {hint}"
            )
            for key in unknown
        ]
    return [ErrorDetail(where=json_pointer(*path), message=error.message)]


# --- Airflow -----------------------------------------------------------------------------------


@contextmanager
def airflow_client(context: ServerContext) -> Iterator[AirflowClient]:
    """A client of the platform's Airflow: 503 if there is none, 502 when Airflow fails."""
    if context.airflow is None:
        raise ApiError(503, "Airflow is not configured for this server")
    with context.airflow.client() as client:
        try:
            yield client
        except AirflowApiError as error:
            raise ApiError(502, str(error)) from None


def _run_not_found(workflow: Workflow, run_id: str) -> ApiError:
    return not_found(f"run {run_id!r} of workflow {workflow.name!r}")


def find_run(client: AirflowClient, workflow: Workflow, run_id: str) -> DagRun:
    try:
        return client.get_run(workflow.dag_id, run_id)
    except AirflowApiError as error:
        if error.status_code == 404:
            raise _run_not_found(workflow, run_id) from None
        raise


def run_tasks(client: AirflowClient, workflow: Workflow, run_id: str) -> list[TaskInstance]:
    """The run's task instances in the order they started (not started last, then by id)."""
    try:
        tasks = client.task_instances(workflow.dag_id, run_id)
    except AirflowApiError as error:
        if error.status_code == 404:
            raise _run_not_found(workflow, run_id) from None
        raise
    return sorted(tasks, key=lambda t: (t.start_date is None, t.start_date, t.task_id))


def find_task(client: AirflowClient, workflow: Workflow, run_id: str, task_id: str) -> TaskInstance:
    for task in run_tasks(client, workflow, run_id):
        if task.task_id == task_id:
            return task
    raise not_found(f"task {task_id!r} in run {run_id!r}")


# --- the run directory, or its archive ---------------------------------------------------------


@dataclass(frozen=True)
class TaskFiles:
    """Where a task's log, output and results are read: its directory in its workspace's tree
    or, once housekeeping has moved the run to the bucket, the archive the run's tombstone
    names."""

    tree: FileSystemRoot
    dag_id: str
    run_id: str
    task_id: str
    paths: TaskRunPaths
    archive: Tombstone | None  # set when the task's directory has gone to the bucket
    storage: StorageBucket | None  # the workspace's bucket, whose client reads the archive

    def archived_path(self, path: Path) -> str:
        """The archive's name of a file of the task's directory (relative to the run)."""
        return f"{self.task_id}/{path.relative_to(self.paths.directory).as_posix()}"


def task_files(context: ServerContext, workflow: Workflow, run_id: str, task_id: str) -> TaskFiles:
    """The task's files, in its workspace's tree; the tree validates both ids before they
    become a path."""
    tree = context.root.workspace(workflow.workspace_id)
    try:
        paths = tree.task_run(workflow.dag_id, run_id, task_id)
        # A retried task writes its directory anew: what the tree has comes first.
        archive = None
        if not paths.directory.exists():
            archive = read_tombstone(tree, workflow.dag_id, run_id)
    except InvalidIdError:
        raise not_found(f"task {task_id!r} in run {run_id!r}") from None
    except ArchiveError as error:
        raise ApiError(502, str(error), code="storage_error") from None
    return TaskFiles(
        tree,
        workflow.dag_id,
        run_id,
        task_id,
        paths,
        archive,
        context.workspace_storage(workflow.workspace_id),
    )


def _archived_bytes(files: TaskFiles, archive: Tombstone, path: Path) -> bytes | None:
    """A file of the task's archived directory; None if the task had no such file. 503 when
    the server has no bucket, 502 when the bucket fails; both say where the run went."""
    relative = files.archived_path(path)
    if archive.file(relative) is None:
        return None
    s3 = _archive_client(files, archive)
    try:
        return read_archived_file(files.tree, s3, files.dag_id, files.run_id, relative)
    except (ArchiveError, FileNotFoundError) as error:
        raise _archive_failed(files, archive, error) from None


def _archive_client(files: TaskFiles, archive: Tombstone) -> Any:
    if files.storage is None:
        raise ApiError(
            503,
            f"run {files.run_id!r} was archived to {archive.uri}, and this server has no "
            "bucket to read it from (FLOWUI_STORAGE_BUCKET)",
        )
    return files.storage.client()


def _archive_failed(files: TaskFiles, archive: Tombstone, error: Exception) -> ApiError:
    return ApiError(
        502,
        f"run {files.run_id!r} was archived to {archive.uri}; reading it failed: {error}",
        code="storage_error",
    )


def _read_bytes(files: TaskFiles, path: Path) -> bytes | None:
    """A file of the task's directory, from the root or the archive; None if there is none."""
    if files.archive is not None:
        return _archived_bytes(files, files.archive, path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class LogChunk:
    content: str
    next_offset: int
    complete: bool


def read_log(files: TaskFiles, offset: int, task_finished: bool) -> LogChunk:
    """The log from byte `offset` on. While the task runs, only whole lines are given (the rest
    comes with the next read), so a follower never sees half a line or half a character."""
    if files.archive is not None:
        archived = _archived_bytes(files, files.archive, files.paths.log) or b""
        size, data = len(archived), archived[offset : offset + MAX_LOG_CHUNK]
    else:
        try:
            with files.paths.log.open("rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                stream.seek(offset)
                data = stream.read(MAX_LOG_CHUNK)
        except FileNotFoundError:
            size, data = 0, b""
    if offset > size:
        raise _offset_past_end(offset, size)
    at_end = offset + len(data) >= size
    if not (task_finished and at_end):
        last_line_end = data.rfind(b"\n")
        if last_line_end >= 0:
            data = data[: last_line_end + 1]
        elif len(data) < MAX_LOG_CHUNK:
            data = b""  # a line still being written
    next_offset = offset + len(data)
    return LogChunk(
        data.decode("utf-8", errors="replace"), next_offset, task_finished and next_offset >= size
    )


def _offset_past_end(offset: int, size: int) -> ApiError:
    return ApiError(
        422,
        f"offset {offset} is past the end of the log ({size} bytes)",
        details=[ErrorDetail(where="/query/offset", message=f"at most {size}")],
    )


def read_output(files: TaskFiles) -> Any:
    data = _read_bytes(files, files.paths.output)
    if data is None:
        raise not_found(f"output of task {files.task_id!r} (it has produced none yet)")
    return json.loads(data)


def media_type(path: Path | PurePosixPath) -> str:
    return mimetypes.guess_type(path.name)[0] or DEFAULT_MEDIA_TYPE


@dataclass(frozen=True)
class ResultFile:
    path: str  # relative to the task's results directory, with '/'
    size: int
    media_type: str


def list_results(files: TaskFiles) -> list[ResultFile]:
    """Every file in the results directory (symbolic links that lead out of it are left out)."""
    if files.archive is not None:
        prefix = files.archived_path(files.paths.results) + "/"
        return [
            ResultFile(
                file.path.removeprefix(prefix), file.size, media_type(PurePosixPath(file.path))
            )
            for file in files.archive.files
            if file.path.startswith(prefix)
        ]
    results = files.paths.results.resolve()
    found = []
    for directory, _subdirectories, names in os.walk(results):
        for name in names:
            file = Path(directory) / name
            target = file.resolve()
            if target.is_relative_to(results) and target.is_file():
                relative = file.relative_to(results).as_posix()
                found.append(ResultFile(relative, target.stat().st_size, media_type(file)))
    return sorted(found, key=lambda result: result.path)


@dataclass(frozen=True)
class DisplayedResult:
    file_type: str
    path: str  # relative to the task's results directory


def displayed_result(files: TaskFiles) -> DisplayedResult | None:
    """The result the operator declared for the GUI to show, if any."""
    data = _read_bytes(files, files.paths.display_result)
    if data is None:
        return None
    declared = json.loads(data)
    file_type = str(declared.get("file_type", ""))
    # The runtime writes the path relative to the task's directory (results/...).
    path = str(declared.get("path", ""))
    if files.archive is not None:
        shown = files.paths.directory / posixpath.normpath(path)
        if (
            not shown.is_relative_to(files.paths.results)
            or files.archive.file(files.archived_path(shown)) is None
        ):
            return None
        return DisplayedResult(file_type, shown.relative_to(files.paths.results).as_posix())
    file = (files.paths.directory / path).resolve()
    results = files.paths.results.resolve()
    if not file.is_relative_to(results) or not file.is_file():
        return None
    return DisplayedResult(file_type, file.relative_to(results).as_posix())


class TaskPlacement(BaseModel):
    """Where a task's latest try ran, as its runtime recorded it (placement.json)."""

    runtime: Runtime
    host: str | None = Field(default=None, description="The machine that started the try.")
    container_id: str | None = Field(default=None, description="docker: the container's id.")
    image: str | None = Field(default=None, description="docker: the image it ran.")
    pod: str | None = Field(default=None, description="kubernetes: the pod's name.")
    namespace: str | None = Field(default=None, description="kubernetes: the pod's namespace.")
    job_id: str | None = Field(default=None, description="aws_batch: the Batch job's id.")
    queue: str | None = Field(default=None, description="aws_batch: the job queue.")


def task_placement(
    root: FileSystemRoot, workflow: Workflow, run_id: str, task_id: str
) -> TaskPlacement | None:
    """Where the task's latest try ran; None before a runtime has recorded it (or if what it
    recorded cannot be read)."""
    try:
        tree = root.workspace(workflow.workspace_id)
        file = tree.task_run(workflow.dag_id, run_id, task_id).placement
        return TaskPlacement.model_validate_json(file.read_bytes())
    except FileNotFoundError:
        return None
    except (InvalidIdError, OSError, ValidationError) as error:
        log.warning("placement of task %s in run %s is unreadable: %s", task_id, run_id, error)
        return None


@dataclass(frozen=True)
class ResultDownload:
    file: Path
    media_type: str
    temporary: bool  # a copy fetched from the archive: delete it once it is sent


def result_file(files: TaskFiles, relative: str) -> ResultDownload:
    """The result file `relative` names: 400 for a path that tries to leave the results
    directory, 404 for a file that is not there (or a link that leads out of it)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts or "\x00" in relative:
        raise ApiError(
            400,
            f"result path {relative!r} must be relative and inside the task's results directory",
            details=[ErrorDetail(where="/path/path", message="no '..', no leading '/'")],
        )
    if files.archive is not None:
        return _archived_result(files, files.archive, relative)
    results = files.paths.results.resolve()
    target = (results / relative).resolve()
    if not target.is_relative_to(results) or not target.is_file():
        raise not_found(f"result file {relative!r}")
    return ResultDownload(target, media_type(target), temporary=False)


def _archived_result(files: TaskFiles, archive: Tombstone, relative: str) -> ResultDownload:
    """A result file of an archived task, copied from the bucket into a temporary file (checked
    against its sha256 before a byte of it is sent)."""
    archived = files.archived_path(files.paths.results / relative)
    if archive.file(archived) is None:
        raise not_found(f"result file {relative!r}")
    s3 = _archive_client(files, archive)
    descriptor, name = tempfile.mkstemp(prefix="flowui-result-")
    os.close(descriptor)
    target = Path(name)
    try:
        copy_archived_file(files.tree, s3, files.dag_id, files.run_id, archived, target)
    except (ArchiveError, FileNotFoundError) as error:
        target.unlink(missing_ok=True)
        raise _archive_failed(files, archive, error) from None
    return ResultDownload(target, media_type(PurePosixPath(relative)), temporary=True)
