"""Datasets of a workspace: upload (streamed, with a size limit), list, read, download, delete,
and sync with the workspace's bucket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from flowui.server.context import ServerContext
from flowui.server.deps import ContextDep, Id, ReadAccess, SessionDep, WriteAccess
from flowui.server.errors import ApiError, error_responses
from flowui.server.models import Dataset
from flowui.server.services import audit
from flowui.server.services.datasets import (
    Location,
    UploadTooLarge,
    content_disposition,
    dataset_file,
    dataset_places,
    find_dataset,
    location_of,
    match_latest_version,
    remove_dataset_files,
    sync_bucket,
    sync_dataset_versions,
    version_checksums,
    workspace_datasets,
)
from flowui.server.services.uploads import (
    FORM_OVERHEAD_BYTES,
    MAX_NAME_LENGTH,
    UploadForm,
    store_upload,
    too_large,
)
from flowui.storage.s3sync import Direction

router = APIRouter(
    prefix="/api/workspaces/{workspace_id}/datasets",
    tags=["datasets"],
    responses=error_responses(413, 415, 502),  # uploads, and the workspace's bucket
)

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
    dataset: Dataset, context: ServerContext, places: dict[str, set[str]]
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


def _places(context: ServerContext, workspace_id: int) -> dict[str, set[str]]:
    return dataset_places(
        context.root.workspace(workspace_id), context.workspace_storage(workspace_id)
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
        raise too_large(UploadTooLarge(limit))
    form = UploadForm(boundary, context.root.workspace(access.workspace.id), limit)
    try:
        try:
            async for chunk in request.stream():
                await run_in_threadpool(form.write, chunk)
        except ClientDisconnect:
            raise ApiError(400, "the upload was interrupted before it was complete") from None
        form.check_complete()
        assert form.name is not None and form.file is not None  # check_complete saw both
        # Committed with the dataset by store_upload; dropped with the session if it fails.
        audit.record(
            session,
            request,
            "dataset.upload",
            workspace_id=access.workspace.id,
            target=form.name,
            detail={"filename": form.filename, "size": form.file.size},
        )
        dataset = await run_in_threadpool(
            store_upload, form, session, access.workspace.id, access.user.id
        )
        # A new storage id has nothing in the bucket yet.
        return await run_in_threadpool(_dataset_out, dataset, context, {})
    finally:
        form.discard()


@router.get("")
def list_datasets(access: ReadAccess, session: SessionDep, context: ContextDep) -> list[DatasetOut]:
    """The workspace's datasets, newest first, with where each one is (502 when the
    workspace's bucket cannot be listed)."""
    places = _places(context, access.workspace.id)
    return [
        _dataset_out(dataset, context, places)
        for dataset in workspace_datasets(session, access.workspace.id)
    ]


@router.get("/{dataset_id}")
def read_dataset(
    dataset_id: Id, access: ReadAccess, session: SessionDep, context: ContextDep
) -> DatasetOut:
    dataset = find_dataset(session, access.workspace.id, dataset_id)
    return _dataset_out(dataset, context, _places(context, access.workspace.id))


@router.get(
    "/{dataset_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_dataset(
    dataset_id: Id, access: ReadAccess, session: SessionDep, context: ContextDep
) -> FileResponse:
    """The uploaded file, under its original name."""
    dataset = find_dataset(session, access.workspace.id, dataset_id)
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
    dataset_id: Id,
    access: WriteAccess,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> None:
    """Delete the dataset and its files."""
    dataset = find_dataset(session, access.workspace.id, dataset_id)
    storage_id = dataset.storage_id
    audit.record(
        session,
        request,
        "dataset.delete",
        workspace_id=access.workspace.id,
        target=dataset.name,
        detail={"dataset_id": dataset.id},
    )
    session.delete(dataset)
    session.commit()
    remove_dataset_files(context.root.workspace(access.workspace.id), storage_id)


@router.post("/{dataset_id}/sync")
def sync_with_bucket(
    dataset_id: Id,
    body: SyncRequest,
    access: WriteAccess,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> SyncOut:
    """Copy the versions one side lacks, between the workspace's tree and its bucket, checking
    each file's sha256; answers when the copy is done.

    409 without a bucket, or when a version differs between the two sides (nothing is copied
    then); 502 when the bucket cannot be used.
    """
    dataset = find_dataset(session, access.workspace.id, dataset_id)
    storage = sync_bucket(context.workspace_storage(access.workspace.id))
    tree = context.root.workspace(access.workspace.id)
    storage_id = dataset.storage_id
    # The copy may take minutes: it holds no database connection meanwhile.
    session.commit()
    report = sync_dataset_versions(tree, storage, storage_id, body.direction)
    match_latest_version(tree, dataset)
    audit.record(
        session,
        request,
        "dataset.sync",
        workspace_id=access.workspace.id,
        target=dataset.name,
        detail={
            "dataset_id": dataset.id,
            "bucket": storage.name,
            "direction": body.direction,
            "pushed": report.pushed,
            "pulled": report.pulled,
        },
    )
    session.commit()
    return SyncOut(
        bucket=storage.name,
        pushed=report.pushed,
        pulled=report.pulled,
        unchanged=report.unchanged,
        bytes_copied=report.bytes_copied,
        sha256=version_checksums(
            tree, storage_id, report.pushed + report.pulled + report.unchanged
        ),
    )
