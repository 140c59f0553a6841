"""`S3Client`: one S3 bucket, as operators of the original FlowUI SDK use it (boto3 underneath).

Settings come from the task's environment (else the runtime's secrets file):
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the region from AWS_REGION_NAME,
else AWS_DEFAULT_REGION; the endpoint from AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (an
S3-compatible store, or moto's server in the tests). Whatever is unset is left to boto3's own
search (shared config and credentials files, an instance or task role).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flowui.client import ClientConfigurationError, task_setting

try:
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, NoCredentialsError
except ModuleNotFoundError as error:
    if error.name not in {"boto3", "botocore", "s3transfer"}:
        raise
    raise ModuleNotFoundError(
        f"flowui.client.s3_client needs boto3, and this operator's environment has no "
        f"{error.name}: add `boto3` to the requirements file of the operator's dependency group "
        "(dependencies/requirements_*.txt, the one its metadata.json names)",
        name=error.name,
    ) from error

__all__ = ["MissingAwsCredentialsError", "S3Client", "S3ClientError", "S3Object"]

_CHUNK_SIZE = 1 << 20


class S3ClientError(ClientError):
    """A failed S3 request, said in one sentence that names the bucket, object and endpoint.

    Still a botocore `ClientError` (with the same `response`), so operators that catch those
    keep working.
    """

    def __init__(
        self, error_response: dict[str, Any], operation_name: str, description: str = ""
    ) -> None:
        super().__init__(error_response, operation_name)
        self.description = description or super().__str__()

    def __str__(self) -> str:
        return self.description

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.response, self.operation_name, self.description)


class MissingAwsCredentialsError(NoCredentialsError):
    """boto3 found no AWS credentials for the task."""

    fmt = (
        "no AWS credentials to reach S3 bucket {bucket_name!r}: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY in the task's environment (declare them in the operator's "
        "SecretsModel so the runtime passes them), or give the machine an AWS profile or role"
    )


@dataclass(frozen=True)
class S3Object:
    """One object of a bucket listing (the attribute names of boto3's ObjectSummary)."""

    bucket_name: str
    key: str
    size: int
    last_modified: datetime
    e_tag: str


class S3Client:
    """The objects of bucket `bucket_name`: list them, download one (to a file or as bytes),
    upload a file.

    `region_name` and `endpoint_url` override the environment's. Every failed request raises an
    `S3ClientError` that says what was missing where; no AWS credentials at all raises
    `MissingAwsCredentialsError`.
    """

    def __init__(
        self,
        bucket_name: str,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.bucket_name = bucket_name
        access_key_id = task_setting("AWS_ACCESS_KEY_ID")
        secret_access_key = task_setting("AWS_SECRET_ACCESS_KEY")
        if bool(access_key_id) != bool(secret_access_key):
            missing = "AWS_SECRET_ACCESS_KEY" if access_key_id else "AWS_ACCESS_KEY_ID"
            raise ClientConfigurationError(
                f"{missing} is not set but its pair is: set both in the task's environment "
                "(or neither, to use the machine's AWS profile or role)"
            )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=task_setting("AWS_SESSION_TOKEN") if access_key_id else None,
            region_name=(
                region_name or task_setting("AWS_REGION_NAME") or task_setting("AWS_DEFAULT_REGION")
            ),
        )
        self._s3 = session.client("s3", endpoint_url=endpoint_url or _configured_endpoint_url())

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint this client talks to."""
        return str(self._s3.meta.endpoint_url)

    def list_objects_from_bucket(self, prefix: str = "") -> list[S3Object]:
        """Every object of the bucket (those whose key starts with `prefix`), by key."""
        found: list[S3Object] = []
        with self._described_errors("listing the objects"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket_name, Prefix=prefix
            )
            for page in pages:
                found.extend(
                    S3Object(
                        bucket_name=self.bucket_name,
                        key=item["Key"],
                        size=item["Size"],
                        last_modified=item["LastModified"],
                        e_tag=item.get("ETag", ""),
                    )
                    for item in page.get("Contents", [])
                )
        return found

    def download_file_from_s3_folder(
        self, object_key: str, file_path: str | os.PathLike[str]
    ) -> Path:
        """Save object `object_key` as `file_path` (its folders are created); returns the path.

        The file appears whole or not at all: it is written beside, then renamed.
        """
        target = Path(file_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._described_errors(f"downloading {object_key!r}", object_key):
            body = self._s3.get_object(Bucket=self.bucket_name, Key=object_key)["Body"]
            descriptor, partial = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
            try:
                with os.fdopen(descriptor, "wb") as out:
                    for chunk in body.iter_chunks(_CHUNK_SIZE):
                        out.write(chunk)
                os.chmod(partial, 0o644)  # mkstemp's 0600 would hide the result from its readers
                os.replace(partial, target)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
        return target

    def download_file_from_s3_folder_as_bytes(self, object_key: str) -> io.BytesIO:
        """The content of object `object_key`, as a file-like object (`.read()`, `.getvalue()`)."""
        with self._described_errors(f"downloading {object_key!r}", object_key):
            body = self._s3.get_object(Bucket=self.bucket_name, Key=object_key)["Body"]
            return io.BytesIO(body.read())

    def upload_file_to_s3(self, object_key: str, file_path: str | os.PathLike[str]) -> None:
        """Store the file `file_path` as object `object_key` (replacing one of that key)."""
        source = Path(file_path)
        if not source.is_file():
            raise FileNotFoundError(
                f"cannot upload {source} to s3://{self.bucket_name}/{object_key}: "
                f"{'it is a directory' if source.is_dir() else 'no such file'}"
            )
        with self._described_errors(f"uploading {source} as {object_key!r}"):
            try:
                self._s3.upload_file(str(source), self.bucket_name, object_key)
            except S3UploadFailedError as error:
                # boto3's transfer manager wraps the request's ClientError in a plain message.
                cause = error.__cause__ or error.__context__
                if isinstance(cause, ClientError):
                    raise cause from None
                raise

    @contextlib.contextmanager
    def _described_errors(self, doing: str, object_key: str | None = None) -> Iterator[None]:
        """Turns botocore's errors into ones that say what was missing, in which bucket, where."""
        try:
            yield
        except S3ClientError:
            raise
        except ClientError as error:
            raise self._described(error, doing, object_key) from error
        except NoCredentialsError as error:
            raise MissingAwsCredentialsError(bucket_name=self.bucket_name) from error

    def _described(self, error: Any, doing: str, object_key: str | None) -> S3ClientError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        bucket = f"S3 bucket {self.bucket_name!r} at {self.endpoint_url}"
        if code == "NoSuchBucket":
            description = f"{bucket} does not exist ({doing})"
        elif object_key is not None and code in {"NoSuchKey", "404", "NotFound"}:
            description = f"object {object_key!r} does not exist in {bucket}"
        else:
            reason = details.get("Message") or code or str(error)
            description = f"{doing} in {bucket} failed: {code or 'error'}: {reason}"
        return S3ClientError(error.response, error.operation_name, description)


def _configured_endpoint_url() -> str | None:
    """The endpoint the environment configures for S3, with the precedence boto3 gives it
    (since late 2023 boto3 reads these variables itself; older versions ignore them, and the
    runtime's secrets file is never read by boto3)."""
    if (task_setting("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or "").lower() == "true":
        return None
    return task_setting("AWS_ENDPOINT_URL_S3") or task_setting("AWS_ENDPOINT_URL")
