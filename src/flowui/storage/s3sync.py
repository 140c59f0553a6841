"""Dataset sync between the root's dataset store and an S3 bucket, and single objects (model
artifacts, results) between a bucket and the root.

In the bucket a dataset keeps the root's layout: `dataset/{dataset-id}/v0001/data.csv` and
`.../v0001/meta.json`. Versions never change, so syncing is copying the versions one side lacks:
`push` (root to bucket), `pull` (bucket to root) or both. Every data file travels with its
sha256 (from meta.json): an upload carries it as object metadata and S3's own SHA-256 checksum;
a download is checked against it before the version appears in the root. meta.json is written
last in the bucket and the version directory appears whole in the root, so a sync that stops
half-way leaves nothing the other side takes for a version, and the next sync completes it.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flowui.storage.datasets import (
    META_FILE,
    DatasetStore,
    file_sha256,
    version_name,
    version_number,
)
from flowui.storage.paths import FileSystemRoot, validate_id

Direction = Literal["push", "pull", "both"]
BUCKET_PREFIX = "dataset"
# Called with (what is being copied, bytes copied since the last call).
Progress = Callable[[str, int], None]


class SyncError(Exception):
    """A sync that cannot be done: a version that differs on the two sides, a bucket that
    cannot be reached, data that does not match its checksum. Says which and where."""


class BucketUnavailable(SyncError):
    """S3 refused or could not be reached (no bucket, no access, no network)."""


def s3_errors() -> tuple[type[Exception], ...]:
    """What boto3 raises when S3 refuses or cannot be reached (imported only when needed)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error)


def upload_with_sha256(
    s3: Any,
    source: Path,
    bucket: str,
    key: str,
    sha256: str,
    callback: Callable[[int], None] | None = None,
) -> None:
    """Upload a file with its sha256 as object metadata (read back by FlowUI) and S3's own
    SHA-256 checksum (checked by S3 on arrival); one part up to 64 MiB."""
    from boto3.s3.transfer import TransferConfig

    s3.upload_file(
        str(source),
        bucket,
        key,
        ExtraArgs={"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"},
        Callback=callback,
        Config=TransferConfig(multipart_threshold=64 << 20),
    )


@dataclass
class SyncReport:
    dataset_id: str
    bucket: str
    pushed: list[str] = field(default_factory=list)  # version names
    pulled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bytes_copied: int = 0


def _key(dataset_id: str, version: str, name: str) -> str:
    return f"{BUCKET_PREFIX}/{dataset_id}/{version}/{name}"


def remote_versions(s3: Any, bucket: str, dataset_id: str) -> dict[str, dict[str, Any]]:
    """The dataset's complete versions in the bucket (those with a meta.json), by name."""
    versions: dict[str, dict[str, Any]] = {}
    prefix = f"{BUCKET_PREFIX}/{dataset_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            parts = item["Key"][len(prefix) :].split("/")
            if len(parts) == 2 and parts[1] == META_FILE and version_number(parts[0]):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                try:
                    meta = json.loads(body)
                except ValueError:
                    raise SyncError(f"s3://{bucket}/{item['Key']}: not JSON") from None
                if meta.get("version") != parts[0] or not isinstance(meta.get("sha256"), str):
                    raise SyncError(
                        f"s3://{bucket}/{item['Key']}: not the meta.json of version {parts[0]}"
                    )
                versions[parts[0]] = meta
    return versions


def dataset_ids(root: FileSystemRoot, s3: Any, bucket: str) -> dict[str, set[str]]:
    """Every dataset id on either side, with where it is: {"root", "bucket"}."""
    where: dict[str, set[str]] = {}
    if root.datasets.is_dir():
        for entry in root.datasets.iterdir():
            if entry.is_dir() and not entry.name.startswith("."):
                where.setdefault(entry.name, set()).add("root")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{BUCKET_PREFIX}/", Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            where.setdefault(common["Prefix"].split("/")[1], set()).add("bucket")
    return where


def sync_dataset(
    root: FileSystemRoot,
    s3: Any,
    bucket: str,
    dataset_id: str,
    direction: Direction = "both",
    progress: Progress | None = None,
) -> SyncReport:
    """Copy the versions of `dataset_id` that one side lacks to it; see the module's text."""
    from boto3.s3.transfer import TransferConfig

    validate_id(dataset_id, "dataset id")
    tell = progress or (lambda _what, _amount: None)
    store = DatasetStore(root)
    report = SyncReport(dataset_id, bucket)
    # Downloads in one part up to 64 MiB, as uploads are made.
    transfer = TransferConfig(multipart_threshold=64 << 20)
    try:
        local = {
            version_name(n): store.get(dataset_id, str(n)).meta for n in store.versions(dataset_id)
        }
        remote = remote_versions(s3, bucket, dataset_id)
        differing = [
            name
            for name in sorted(local.keys() & remote.keys())
            if local[name]["sha256"] != remote[name]["sha256"]
        ]
        if differing:
            raise SyncError(
                f"dataset {dataset_id}: {', '.join(differing)} differ between the root and "
                f"s3://{bucket}/{BUCKET_PREFIX}/{dataset_id}/ (same version, other data); "
                "nothing was copied"
            )
        report.unchanged = sorted(local.keys() & remote.keys())
        if direction in ("push", "both"):
            for name in sorted(local.keys() - remote.keys()):
                version = store.get(dataset_id, name)
                what = f"{dataset_id} {name} to s3://{bucket}"
                size = version.file.stat().st_size
                upload_with_sha256(
                    s3,
                    version.file,
                    bucket,
                    _key(dataset_id, name, version.file.name),
                    version.meta["sha256"],
                    functools.partial(tell, what),
                )
                s3.put_object(
                    Bucket=bucket,
                    Key=_key(dataset_id, name, META_FILE),
                    Body=json.dumps(version.meta, indent=2).encode(),
                    ContentType="application/json",
                )
                report.pushed.append(name)
                report.bytes_copied += size
        if direction in ("pull", "both"):
            for name in sorted(remote.keys() - local.keys()):
                meta = remote[name]
                what = f"{dataset_id} {name} from s3://{bucket}"
                key = _key(dataset_id, name, str(meta.get("file")))

                def download(path: Any, key: str = key, what: str = what) -> None:
                    s3.download_file(
                        bucket,
                        key,
                        str(path),
                        Callback=lambda amount: tell(what, amount),
                        Config=transfer,
                    )

                try:
                    number = version_number(name) or 0
                    installed = store.install_version(dataset_id, number, download, meta)
                except (ValueError, FileExistsError) as error:
                    raise SyncError(str(error)) from None
                report.pulled.append(name)
                report.bytes_copied += installed.file.stat().st_size
    except s3_errors() as error:
        raise BucketUnavailable(f"dataset {dataset_id} with s3://{bucket}: {error}") from None
    return report


# --- single objects ---------------------------------------------------------------------------


def s3_client(secrets: Any, region: str) -> Any:
    """An S3 client with the credentials and endpoint of an operator's SecretsModel (empty
    fields: boto3's own lookup: environment, role)."""
    import boto3

    def value(name: str) -> str | None:
        return getattr(secrets, name, "") or None

    return boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id=value("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=value("AWS_SECRET_ACCESS_KEY"),
        endpoint_url=value("AWS_ENDPOINT_URL"),
    )


@dataclass(frozen=True)
class LoadedObject:
    path: Path
    sha256: str
    copied: bool


@dataclass(frozen=True)
class SavedObject:
    uri: str
    sha256: str
    size: int


def load_object(root: FileSystemRoot, s3: Any, bucket: str, key: str) -> LoadedObject:
    """Copy s3://bucket/key to the root's `models/{key}`, unless the same file is there: the
    object's sha256 (metadata of an upload by FlowUI) or, without it, the downloaded data's.
    The file is replaced whole, never seen half-written."""
    target = root.model(key)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        announced = head.get("Metadata", {}).get("sha256")
        if announced and target.is_file() and file_sha256(target) == announced:
            return LoadedObject(target, announced, copied=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(descriptor)
        staging = Path(name)
        try:
            s3.download_file(bucket, key, str(staging))
            received = file_sha256(staging)
            if announced and received != announced:
                raise SyncError(
                    f"s3://{bucket}/{key}: received data has sha256 {received}, the object's "
                    f"metadata says {announced}"
                )
            if target.is_file() and file_sha256(target) == received:
                return LoadedObject(target, received, copied=False)
            staging.chmod(0o644)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
    except s3_errors() as error:
        raise BucketUnavailable(f"s3://{bucket}/{key}: {error}") from None
    return LoadedObject(target, received, copied=True)


def save_object(root: FileSystemRoot, s3: Any, bucket: str, path: str, key: str) -> SavedObject:
    """Upload a file of the root to s3://bucket/key with its sha256 (metadata and S3's own
    SHA-256 checksum). Refuses a path outside the root."""
    source = Path(path).resolve()
    if not source.is_relative_to(root.path.resolve()):
        raise SyncError(f"{path} is not on the shared file system ({root.path})")
    if not source.is_file():
        raise SyncError(f"{path} is not a file")
    sha256 = file_sha256(source)
    try:
        upload_with_sha256(s3, source, bucket, key, sha256)
    except s3_errors() as error:
        raise BucketUnavailable(f"s3://{bucket}/{key}: {error}") from None
    return SavedObject(f"s3://{bucket}/{key}", sha256, source.stat().st_size)
