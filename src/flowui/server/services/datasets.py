"""Datasets uploaded through the API, kept in their workspace's dataset store
(`workspaces/{id}/dataset/{storage_id}` under the root; the functions here take the workspace's
tree) and, when the platform has a bucket, synced with the workspace's bucket's
`dataset/{storage_id}/`.

An upload is written, as it arrives, to a hidden temporary file in the tree's dataset folder
(hashed and counted on the way, never held in memory whole), then published as version v0001
of a new dataset of the DatasetStore, so tasks read it like any other dataset. The storage id
is generated; the uploaded file's name is kept as data only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.context import StorageBucket
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import Dataset
from flowui.storage import FileSystemRoot
from flowui.storage.datasets import DatasetStore, DatasetVersion
from flowui.storage.s3sync import (
    BucketUnavailable,
    Direction,
    SyncError,
    SyncReport,
    dataset_ids,
    sync_dataset,
)

# Where a dataset's versions are: the root's dataset store, the bucket, or both.
Location = Literal["file_system", "bucket", "both"]

MAX_FILENAME_LENGTH = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
# The stored data file keeps a plain extension of the uploaded name (data.csv), nothing else.
_EXTENSION = re.compile(r"\.[a-z0-9]{1,16}")


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the upload limit of {_describe_size(limit)}")
        self.limit = limit


def _describe_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit} ({size} bytes)"
    return f"{size} bytes"


def new_storage_id() -> str:
    return f"upload-{secrets.token_hex(8)}"


def content_type_of(header: str | None) -> str:
    """The media type of an uploaded part if it is a well-formed type/subtype, else bytes."""
    media_type = (header or "").split(";", 1)[0].strip().lower()
    return media_type if _CONTENT_TYPE.fullmatch(media_type) else DEFAULT_CONTENT_TYPE


class IncomingFile:
    """A file being received into a hidden temporary file of the root's dataset folder."""

    def __init__(self, root: FileSystemRoot, filename: str, limit: int) -> None:
        extension = os.path.splitext(filename)[1].lower()
        root.datasets.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(
            prefix=".upload-",
            suffix=extension if _EXTENSION.fullmatch(extension) else "",
            dir=root.datasets,
        )
        self.path = Path(path)
        self._stream = os.fdopen(handle, "wb")
        self._digest = hashlib.sha256()
        self._limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._limit:
            raise UploadTooLarge(self._limit)
        self._digest.update(data)
        self._stream.write(data)

    def finish(self) -> str:
        """Close the file; its sha256 (hex)."""
        self._stream.close()
        return self._digest.hexdigest()

    def discard(self) -> None:
        self._stream.close()
        self.path.unlink(missing_ok=True)


def publish_upload(
    root: FileSystemRoot,
    storage_id: str,
    incoming: IncomingFile,
    sha256: str,
    meta: dict[str, Any],
) -> DatasetVersion:
    """The received file (moved, not copied) as the first version of the new dataset
    `storage_id`; `sha256` is what `IncomingFile.finish` returned."""
    version, _created = DatasetStore(root).publish(
        storage_id, incoming.path, meta, move=True, sha256=sha256
    )
    return version


def dataset_file(root: FileSystemRoot, storage_id: str) -> Path | None:
    """The data file of the dataset's latest version; None if its files are gone."""
    try:
        path = DatasetStore(root).get(storage_id).file
    except (ValueError, OSError):
        return None
    return path if path.is_file() else None


def location_of(places: set[str]) -> Location:
    """The location of a dataset found in `places` ("root", "bucket": as `dataset_ids` of
    flowui.storage.s3sync says); one found nowhere is where uploads go."""
    if "bucket" not in places:
        return "file_system"
    return "both" if "root" in places else "bucket"


def match_latest_version(root: FileSystemRoot, dataset: Dataset) -> None:
    """Describe the dataset's latest version in its row, once a sync brought a newer one: the
    list and the download then tell what tasks read."""
    try:
        latest = DatasetStore(root).get(dataset.storage_id)
    except ValueError:
        return
    if latest.meta.get("sha256") == dataset.sha256:
        return
    dataset.sha256 = str(latest.meta["sha256"])
    dataset.size = latest.file.stat().st_size
    # A version published elsewhere than by an upload may not name its file or type.
    filename = latest.meta.get("filename")
    if (
        isinstance(filename, str)
        and 0 < len(filename) <= MAX_FILENAME_LENGTH
        and "\x00" not in filename
    ):
        dataset.filename = filename
    if isinstance(latest.meta.get("content_type"), str):
        dataset.content_type = content_type_of(latest.meta["content_type"])


def remove_dataset_files(root: FileSystemRoot, storage_id: str) -> None:
    shutil.rmtree(root.dataset(storage_id), ignore_errors=True)


def content_disposition(filename: str) -> str:
    """An attachment header naming the file as uploaded, reduced to a safe last component.

    The ASCII `filename` is a fallback for old clients; `filename*` (RFC 6266/5987) carries the
    name in UTF-8, percent-encoded, so no quote, backslash or line break reaches the header.
    """
    last = re.split(r"[/\\]", filename)[-1]
    readable = "".join(
        "_" if unicodedata.category(char).startswith("C") else char for char in last
    ).strip(" .")
    readable = readable or "dataset"
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\%' else "_" for char in readable
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(readable, safe='')}"


def find_dataset(session: Session, workspace_id: int, dataset_id: int) -> Dataset:
    dataset = session.scalar(
        select(Dataset).where(Dataset.id == dataset_id, Dataset.workspace_id == workspace_id)
    )
    if dataset is None:
        raise not_found(f"dataset {dataset_id}")
    return dataset


def dataset_named(session: Session, workspace_id: int, name: str) -> int | None:
    """The id of the workspace's dataset of that name, if there is one."""
    return session.scalar(
        select(Dataset.id).where(Dataset.workspace_id == workspace_id, Dataset.name == name)
    )


def name_taken(name: str) -> ApiError:
    return ApiError(
        409,
        f"a dataset named {name!r} already exists in this workspace",
        details=[ErrorDetail(where="/body/name", message="taken")],
    )


def workspace_datasets(session: Session, workspace_id: int) -> list[Dataset]:
    """Newest first, each with its creator (one query)."""
    return list(
        session.scalars(
            select(Dataset)
            .where(Dataset.workspace_id == workspace_id)
            .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        )
    )


def bucket_failed(storage: StorageBucket, error: Exception) -> ApiError:
    return ApiError(502, f"the bucket {storage.name} cannot be used: {error}", code="storage_error")


def dataset_places(tree: FileSystemRoot, storage: StorageBucket | None) -> dict[str, set[str]]:
    """Where every dataset of the workspace is, its tree or its bucket: one listing of the
    bucket's dataset folders (a page per thousand), not one per dataset. Without a bucket, no
    call to S3."""
    if storage is None:
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dataset_ids(tree, storage.client(), storage.name)
    except (BotoCoreError, ClientError) as error:
        raise bucket_failed(storage, error) from None


def sync_bucket(storage: StorageBucket | None) -> StorageBucket:
    """The workspace's bucket to sync with; 409 when the platform has none."""
    if storage is None:
        raise ApiError(
            409,
            "this server has no bucket to sync datasets with: set FLOWUI_STORAGE_BUCKET and "
            "restart the server",
        )
    return storage


def sync_dataset_versions(
    tree: FileSystemRoot, storage: StorageBucket, storage_id: str, direction: Direction
) -> SyncReport:
    """Copy the versions one side lacks between the tree and the bucket (409 when a version
    differs between the two sides; 502 when the bucket cannot be used)."""
    try:
        return sync_dataset(tree, storage.client(), storage.name, storage_id, direction)
    except BucketUnavailable as error:
        raise bucket_failed(storage, error) from None
    except SyncError as error:
        raise ApiError(409, str(error)) from None


def version_checksums(tree: FileSystemRoot, storage_id: str, versions: list[str]) -> dict[str, str]:
    """The sha256 of each named version of the dataset, as its metadata says."""
    store = DatasetStore(tree)
    return {name: str(store.get(storage_id, name).meta["sha256"]) for name in sorted(versions)}
