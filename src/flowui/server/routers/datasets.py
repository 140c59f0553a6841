"""Datasets of a workspace: upload (streamed, with a size limit), list, read, download, delete,
and sync with the workspace's bucket.

The multipart body of an upload is parsed as it arrives: the file goes straight to disk under
the workspace's dataset folder, so an upload of any size never sits in memory.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from flowui.server.context import ServerContext, StorageBucket
from flowui.server.deps import (
    ContextDep,
    Id,
    ReadAccess,
    SessionDep,
    WorkspaceAccess,
    WriteAccess,
)
from flowui.server.errors import ApiError, ErrorDetail, error_responses, not_found
from flowui.server.models import Dataset
from flowui.server.services.datasets import (
    MAX_FILENAME_LENGTH,
    IncomingFile,
    Location,
    UploadTooLarge,
    content_disposition,
    content_type_of,
    dataset_file,
    location_of,
    match_latest_version,
    new_storage_id,
    publish_upload,
    remove_dataset_files,
)
from flowui.storage import FileSystemRoot
from flowui.storage.datasets import DatasetStore
from flowui.storage.s3sync import (
    BucketUnavailable,
    Direction,
    SyncError,
    dataset_ids,
    sync_dataset,
)
from flowui.workflows.validate import json_pointer

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(
    prefix="/api/workspaces/{workspace_id}/datasets",
    tags=["datasets"],
    responses=error_responses(413, 415, 502),  # uploads, and the workspace's bucket
)

MAX_NAME_LENGTH = 200
# Room for the multipart framing and the name field around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
_MAX_FIELD_BYTES = 4 * 1024

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "file"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_NAME_LENGTH,
                            "description": "The dataset's name, unique in the workspace.",
                        },
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


class DatasetOut(BaseModel):
    id: int
    name: str
    storage_id: str = Field(
        description="The dataset's id in the workspace's dataset store "
        "(workspaces/{workspace_id}/dataset/{storage_id} under the root): the workspace's tasks "
        "read it from there."
    )
    filename: str = Field(description="The uploaded file's name, as data.")
    content_type: str
    size: int = Field(description="In bytes.")
    sha256: str
    created_at: datetime
    created_by: str | None = Field(description="E-mail of who uploaded it.")
    location: Location = Field(
        description="Where its versions are: the workspace's dataset store (file_system), "
        "the workspace's bucket, or both."
    )
    storage_bucket: str | None = Field(
        description="The workspace's own bucket ({FLOWUI_STORAGE_BUCKET}-workspace-{id}) that "
        "its datasets sync with; null when the platform has no bucket."
    )


class SyncRequest(BaseModel):
    direction: Direction = Field(
        description="push: copy what the bucket lacks to it; pull: copy what the file system "
        "lacks from the bucket; both."
    )


class SyncOut(BaseModel):
    bucket: str
    pushed: list[str] = Field(description="Versions copied to the bucket (v0001, ...).")
    pulled: list[str] = Field(description="Versions copied from the bucket to the file system.")
    unchanged: list[str] = Field(description="Versions on both sides already, with equal data.")
    bytes_copied: int
    sha256: dict[str, str] = Field(
        description="The sha256 of each version above, by name: checked on both sides."
    )


def _dataset_out(
    dataset: Dataset, session: Session, context: ServerContext, places: dict[str, set[str]]
) -> DatasetOut:
    """`places`: where each storage id is, as `_places` found."""
    storage = context.workspace_storage(dataset.workspace_id)
    creator = dataset.created_by
    return DatasetOut(
        id=dataset.id,
        name=dataset.name,
        storage_id=dataset.storage_id,
        filename=dataset.filename,
        content_type=dataset.content_type,
        size=dataset.size,
        sha256=dataset.sha256,
        created_at=dataset.created_at,
        created_by=creator.email if creator else None,
        location=location_of(places.get(dataset.storage_id, set())),
        storage_bucket=storage.name if storage else None,
    )


def _bucket_failed(storage: StorageBucket, error: Exception) -> ApiError:
    return ApiError(502, f"the bucket {storage.name} cannot be used: {error}", code="storage_error")


def _places(context: ServerContext, workspace_id: int) -> dict[str, set[str]]:
    """Where every dataset of the workspace is, its tree or its bucket: one listing of the
    bucket's dataset folders (a page per thousand), not one per dataset. Without a bucket, no
    call to S3."""
    storage = context.workspace_storage(workspace_id)
    if storage is None:
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dataset_ids(context.root.workspace(workspace_id), storage.client(), storage.name)
    except (BotoCoreError, ClientError) as error:
        raise _bucket_failed(storage, error) from None


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        f"the upload is invalid: {message}",
        details=[ErrorDetail(where=json_pointer("body", field), message=message)],
    )


def _too_large(error: UploadTooLarge) -> ApiError:
    return ApiError(413, str(error), details=[ErrorDetail(where="/body/file", message=str(error))])


def _decode_filename(raw: bytes) -> str:
    # Browsers (and httpx) escape exactly these three in a multipart file name (WHATWG HTML).
    text = raw.decode("utf-8", errors="replace")
    return text.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class _UploadForm:
    """The fields `name` and `file` of a multipart body, parsed chunk by chunk.

    The callbacks run inside `write`, which the route calls in a worker thread: the file's bytes
    go to disk there without blocking the event loop.
    """

    def __init__(self, boundary: bytes, context: ServerContext, tree: FileSystemRoot) -> None:
        self._context = context
        self._tree = tree  # the workspace's, where the file is received
        self.name: str | None = None
        self.file: IncomingFile | None = None
        self.filename = ""
        self.content_type = ""
        self.file_complete = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._field = ""
        self._data = bytearray()
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except UploadTooLarge as error:
            raise _too_large(error) from None
        except FormParserError as error:
            raise ApiError(
                400,
                f"the multipart body is malformed: {error}",
                details=[ErrorDetail(where="/body", message=str(error))],
            ) from None

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = ""
        self._data = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_name = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get("content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", errors="replace")
        if field not in ("name", "file"):
            raise _invalid(field[:100], "unexpected form field; an upload has a name and a file")
        if (field == "name" and self.name is not None) or (
            field == "file" and self.file is not None
        ):
            raise _invalid(field, "given twice")
        self._field = field
        if field == "file":
            self.filename = _decode_filename(options.get(b"filename", b"")) or "data"
            if len(self.filename) > MAX_FILENAME_LENGTH:
                raise _invalid(
                    "file", f"the file name is longer than {MAX_FILENAME_LENGTH} characters"
                )
            if "\x00" in self.filename:
                raise _invalid("file", "the file name contains a NUL character")
            self.content_type = content_type_of(
                self._headers.get("content-type", b"").decode("latin-1")
            )
            self.file = IncomingFile(self._tree, self.filename, self._context.max_upload_bytes)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field == "file":
            assert self.file is not None
            self.file.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > _MAX_FIELD_BYTES:
            raise _invalid(self._field, f"longer than {MAX_NAME_LENGTH} characters")

    def _part_end(self) -> None:
        if self._field == "file":
            self.file_complete = True
            return
        try:
            name = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("name", "not UTF-8 text") from None
        if not name.strip():
            raise _invalid("name", "a dataset needs a name")
        if len(name) > MAX_NAME_LENGTH:
            raise _invalid("name", f"longer than {MAX_NAME_LENGTH} characters")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise _invalid("name", "a name is one line of text, without control characters")
        self.name = name


def _store_upload(
    form: _UploadForm, access: WorkspaceAccess, session: Session, context: ServerContext
) -> Dataset:
    """Publish the received file into the workspace's tree and record it; neither is left
    behind if the other fails."""
    assert form.name is not None and form.file is not None
    tree = context.root.workspace(access.workspace.id)
    taken = session.scalar(
        select(Dataset.id).where(
            Dataset.workspace_id == access.workspace.id, Dataset.name == form.name
        )
    )
    if taken is not None:
        raise _name_taken(form.name)
    sha256 = form.file.finish()
    storage_id = new_storage_id()
    meta = {
        "name": form.name,
        "filename": form.filename,
        "content_type": form.content_type,
        "size": form.file.size,
        "source": "upload",
    }
    try:
        publish_upload(tree, storage_id, form.file, sha256, meta)
        dataset = Dataset(
            workspace_id=access.workspace.id,
            storage_id=storage_id,
            name=form.name,
            filename=form.filename,
            content_type=form.content_type,
            size=form.file.size,
            sha256=sha256,
            created_by_id=access.user.id,
        )
        session.add(dataset)
        session.commit()
    except IntegrityError:
        session.rollback()
        remove_dataset_files(tree, storage_id)
        raise _name_taken(form.name) from None
    except BaseException:
        remove_dataset_files(tree, storage_id)
        raise
    return dataset


def _name_taken(name: str) -> ApiError:
    return ApiError(
        409,
        f"a dataset named {name!r} already exists in this workspace",
        details=[ErrorDetail(where="/body/name", message="taken")],
    )


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_BODY)
async def upload(
    request: Request, access: WriteAccess, session: SessionDep, context: ContextDep
) -> DatasetOut:
    """Upload a file as a new dataset (multipart/form-data with `name` and `file`).

    Streamed to the server's storage; larger than the server's upload limit is refused (413).
    """
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise ApiError(415, "send the upload as multipart/form-data with the fields name and file")
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "the multipart/form-data content type has no boundary")
    limit = context.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        raise _too_large(UploadTooLarge(limit))
    form = _UploadForm(boundary, context, context.root.workspace(access.workspace.id))
    try:
        try:
            async for chunk in request.stream():
                await run_in_threadpool(form.write, chunk)
        except ClientDisconnect:
            raise ApiError(400, "the upload was interrupted before it was complete") from None
        if form.name is None:
            raise _invalid("name", "a dataset needs a name")
        if form.file is None or not form.file_complete:
            raise _invalid("file", "the upload has no complete file")
        dataset = await run_in_threadpool(_store_upload, form, access, session, context)
        # A new storage id has nothing in the bucket yet.
        return await run_in_threadpool(_dataset_out, dataset, session, context, {})
    finally:
        form.discard()


def _get_dataset(access: WorkspaceAccess, session: Session, dataset_id: int) -> Dataset:
    dataset = session.scalar(
        select(Dataset).where(Dataset.id == dataset_id, Dataset.workspace_id == access.workspace.id)
    )
    if dataset is None:
        raise not_found(f"dataset {dataset_id}")
    return dataset


@router.get("")
def list_datasets(access: ReadAccess, session: SessionDep, context: ContextDep) -> list[DatasetOut]:
    """The workspace's datasets, newest first, with where each one is (502 when the
    workspace's bucket cannot be listed)."""
    datasets = session.scalars(
        select(Dataset)
        .where(Dataset.workspace_id == access.workspace.id)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
    )
    places = _places(context, access.workspace.id)
    return [_dataset_out(dataset, session, context, places) for dataset in datasets]


@router.get("/{dataset_id}")
def read_dataset(
    dataset_id: Id, access: ReadAccess, session: SessionDep, context: ContextDep
) -> DatasetOut:
    dataset = _get_dataset(access, session, dataset_id)
    return _dataset_out(dataset, session, context, _places(context, access.workspace.id))


@router.get(
    "/{dataset_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_dataset(
    dataset_id: Id, access: ReadAccess, session: SessionDep, context: ContextDep
) -> FileResponse:
    """The uploaded file, under its original name."""
    dataset = _get_dataset(access, session, dataset_id)
    path = dataset_file(context.root.workspace(access.workspace.id), dataset.storage_id)
    if path is None:
        raise ApiError(404, f"the files of dataset {dataset_id} are missing from the storage")
    return FileResponse(
        path,
        media_type=dataset.content_type,
        headers={
            "Content-Disposition": content_disposition(dataset.filename),
            # Served as a download, never rendered as a page of this site.
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(
    dataset_id: Id, access: WriteAccess, session: SessionDep, context: ContextDep
) -> None:
    """Delete the dataset and its files."""
    dataset = _get_dataset(access, session, dataset_id)
    storage_id = dataset.storage_id
    session.delete(dataset)
    session.commit()
    remove_dataset_files(context.root.workspace(access.workspace.id), storage_id)


@router.post("/{dataset_id}/sync")
def sync_with_bucket(
    dataset_id: Id,
    body: SyncRequest,
    access: WriteAccess,
    session: SessionDep,
    context: ContextDep,
) -> SyncOut:
    """Copy the versions one side lacks, between the workspace's tree and its bucket, checking
    each file's sha256; answers when the copy is done.

    409 without a bucket, or when a version differs between the two sides (nothing is copied
    then); 502 when the bucket cannot be used.
    """
    dataset = _get_dataset(access, session, dataset_id)
    storage = context.workspace_storage(access.workspace.id)
    tree = context.root.workspace(access.workspace.id)
    if storage is None:
        raise ApiError(
            409,
            "this server has no bucket to sync datasets with: set FLOWUI_STORAGE_BUCKET and "
            "restart the server",
        )
    storage_id = dataset.storage_id
    # The copy may take minutes: it holds no database connection meanwhile.
    session.commit()
    try:
        report = sync_dataset(tree, storage.client(), storage.name, storage_id, body.direction)
    except BucketUnavailable as error:
        raise _bucket_failed(storage, error) from None
    except SyncError as error:
        raise ApiError(409, str(error)) from None
    match_latest_version(tree, dataset)
    session.commit()
    store = DatasetStore(tree)
    checked = sorted(report.pushed + report.pulled + report.unchanged)
    return SyncOut(
        bucket=storage.name,
        pushed=report.pushed,
        pulled=report.pulled,
        unchanged=report.unchanged,
        bytes_copied=report.bytes_copied,
        sha256={name: str(store.get(storage_id, name).meta["sha256"]) for name in checked},
    )
