"""A dataset upload's multipart body, parsed as it arrives: the file goes straight to disk under
the workspace's dataset folder (so an upload of any size never sits in memory), then is
published and recorded, with neither left behind if the other fails.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowui.server.errors import ApiError, ErrorDetail
from flowui.server.models import Dataset
from flowui.server.services.datasets import (
    MAX_FILENAME_LENGTH,
    IncomingFile,
    UploadTooLarge,
    content_type_of,
    dataset_named,
    name_taken,
    new_storage_id,
    publish_upload,
    remove_dataset_files,
)
from flowui.storage import FileSystemRoot
from flowui.workflows.validate import json_pointer

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_NAME_LENGTH = 200
# Room for the multipart framing and the name field around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
_MAX_FIELD_BYTES = 4 * 1024


def invalid_upload(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        f"the upload is invalid: {message}",
        details=[ErrorDetail(where=json_pointer("body", field), message=message)],
    )


def too_large(error: UploadTooLarge) -> ApiError:
    return ApiError(413, str(error), details=[ErrorDetail(where="/body/file", message=str(error))])


def _decode_filename(raw: bytes) -> str:
    # Browsers (and httpx) escape exactly these three in a multipart file name (WHATWG HTML).
    text = raw.decode("utf-8", errors="replace")
    return text.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class UploadForm:
    """The fields `name` and `file` of a multipart body, parsed chunk by chunk.

    The callbacks run inside `write`, which the route calls in a worker thread: the file's bytes
    go to disk there without blocking the event loop.
    """

    def __init__(self, boundary: bytes, tree: FileSystemRoot, max_file_bytes: int) -> None:
        self.tree = tree  # the workspace's, where the file is received
        self._max_file_bytes = max_file_bytes
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
            raise too_large(error) from None
        except FormParserError as error:
            raise ApiError(
                400,
                f"the multipart body is malformed: {error}",
                details=[ErrorDetail(where="/body", message=str(error))],
            ) from None

    def check_complete(self) -> None:
        """Once the body has ended: both fields were there, the file whole."""
        if self.name is None:
            raise invalid_upload("name", "a dataset needs a name")
        if self.file is None or not self.file_complete:
            raise invalid_upload("file", "the upload has no complete file")

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
            raise invalid_upload(
                field[:100], "unexpected form field; an upload has a name and a file"
            )
        if (field == "name" and self.name is not None) or (
            field == "file" and self.file is not None
        ):
            raise invalid_upload(field, "given twice")
        self._field = field
        if field == "file":
            self.filename = _decode_filename(options.get(b"filename", b"")) or "data"
            if len(self.filename) > MAX_FILENAME_LENGTH:
                raise invalid_upload(
                    "file", f"the file name is longer than {MAX_FILENAME_LENGTH} characters"
                )
            if "\x00" in self.filename:
                raise invalid_upload("file", "the file name contains a NUL character")
            self.content_type = content_type_of(
                self._headers.get("content-type", b"").decode("latin-1")
            )
            self.file = IncomingFile(self.tree, self.filename, self._max_file_bytes)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field == "file":
            assert self.file is not None
            self.file.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > _MAX_FIELD_BYTES:
            raise invalid_upload(self._field, f"longer than {MAX_NAME_LENGTH} characters")

    def _part_end(self) -> None:
        if self._field == "file":
            self.file_complete = True
            return
        try:
            name = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_upload("name", "not UTF-8 text") from None
        if not name.strip():
            raise invalid_upload("name", "a dataset needs a name")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_upload("name", f"longer than {MAX_NAME_LENGTH} characters")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise invalid_upload("name", "a name is one line of text, without control characters")
        self.name = name


def store_upload(form: UploadForm, session: Session, workspace_id: int, user_id: int) -> Dataset:
    """Publish the received file into the workspace's tree (the form's) and record it; neither
    is left behind if the other fails."""
    assert form.name is not None and form.file is not None
    if dataset_named(session, workspace_id, form.name) is not None:
        raise name_taken(form.name)
    sha256 = form.file.finish()
    storage_id = new_storage_id()
    meta = {
        "name": form.name,
        "filename": form.filename,
        "content_type": form.content_type,
        "size": form.file.size,
        "source": "upload",
    }
    tree = form.tree
    try:
        publish_upload(tree, storage_id, form.file, sha256, meta)
        dataset = Dataset(
            workspace_id=workspace_id,
            storage_id=storage_id,
            name=form.name,
            filename=form.filename,
            content_type=form.content_type,
            size=form.file.size,
            sha256=sha256,
            created_by_id=user_id,
        )
        session.add(dataset)
        session.commit()
    except IntegrityError:
        session.rollback()
        remove_dataset_files(tree, storage_id)
        raise name_taken(form.name) from None
    except BaseException:
        remove_dataset_files(tree, storage_id)
        raise
    return dataset
