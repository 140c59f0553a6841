"""Load a CSV or JSON table from a URL or a path into the dataset store as a new version."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel

HTTP = ("http", "https")  # the schemes downloaded with urllib
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_FORMAT_BY_CONTENT_TYPE = {
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}


def source_label(source: str) -> str:
    """How logs and meta.json name the source: URLs without user info or query string (they
    may hold credentials), local paths made absolute."""
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme in HTTP:
        host = parsed.netloc.rpartition("@")[2]
        path = urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, "", ""))
        return path + ("?..." if parsed.query else "")
    if len(parsed.scheme) > 1:  # file://, or a scheme fetch() refuses
        return source
    return str(Path(source).expanduser().resolve())


def fetch(source: str, *, timeout: float, max_bytes: int, token: str | None) -> tuple[bytes, str]:
    """The source's bytes and its content type (empty if unknown)."""
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme in HTTP:
        headers = {"User-Agent": "flowui-examples/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(source, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                content = response.read(max_bytes + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            raise ValueError(
                f"downloading {source_label(source)} failed: HTTP {error.code} {error.reason}"
            ) from None
        except (urllib.error.URLError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise ValueError(f"cannot download {source_label(source)}: {reason}") from None
    else:
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ValueError(f"file:// URLs must name a local file, not host {parsed.netloc!r}")
            path = Path(urllib.request.url2pathname(parsed.path))
        elif len(parsed.scheme) > 1:  # one letter is a Windows drive, not a scheme
            raise ValueError(
                f"unsupported source scheme {parsed.scheme!r}: use http(s)://, file:// or a path"
            )
        else:
            path = Path(source).expanduser()
        if not path.is_file():
            raise ValueError(f"source file {path} does not exist")
        with path.open("rb") as stream:
            content = stream.read(max_bytes + 1)
        content_type = ""
    if len(content) > max_bytes:
        raise ValueError(
            f"{source_label(source)} is larger than {max_bytes / 1e6:g} MB; raise max_megabytes"
        )
    return content, content_type


def detect_format(source: str, content_type: str, content: bytes) -> str:
    suffix = Path(urllib.parse.urlsplit(source).path).suffix.lower()
    if suffix in _FORMAT_BY_SUFFIX:
        return _FORMAT_BY_SUFFIX[suffix]
    if content_type in _FORMAT_BY_CONTENT_TYPE:
        return _FORMAT_BY_CONTENT_TYPE[content_type]
    head = content.lstrip()[:1]
    if head == b"[":
        return "json"
    return "jsonl" if head == b"{" else "csv"


def records_at(document: Any, key: str) -> list[Any]:
    """The list of records at the dotted `key` of a JSON document."""
    value = document
    for part in [p for p in key.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"the JSON document has no key {key!r} (stopped at {part!r})")
        value = value[part]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        where = f"at key {key!r}" if key else "at its top level"
        raise ValueError(
            f"the JSON document must hold a list of records (objects) {where}; "
            "set json_records_key if the list is wrapped in an object"
        )
    return value


def parse_table(content: bytes, data_format: str, encoding: str, records_key: str) -> pd.DataFrame:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # also drops the byte-order mark spreadsheet exports start with
    try:
        text = content.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise ValueError(f"the source is not {encoding} text ({error}); set encoding") from None
    try:
        if data_format in ("csv", "tsv"):
            return pd.read_csv(io.StringIO(text), sep="\t" if data_format == "tsv" else ",")
        if data_format == "jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not all(isinstance(record, dict) for record in records):
                raise ValueError("every line of JSON lines must be one record (an object)")
        else:
            records = records_at(json.loads(text), records_key)
    except json.JSONDecodeError as error:
        raise ValueError(f"the source is not valid JSON: {error}") from None
    except pd.errors.EmptyDataError:
        raise ValueError("the source is empty: no header row, no data") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"the source is not valid CSV: {error}") from None
    if not records:
        raise ValueError("the source holds no records")
    # Nested objects become dotted columns (a.b), so every record fits one flat table.
    return pd.json_normalize(records)


class LoadDatasetOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        source = input_model.source.strip()
        shown_source = source_label(source)
        token = getattr(self.secrets, "DATASET_SOURCE_TOKEN", None)
        content, content_type = fetch(
            source,
            timeout=input_model.timeout_seconds,
            max_bytes=int(input_model.max_megabytes * 1_000_000),
            token=token,
        )
        data_format = input_model.format
        if data_format == "auto":
            data_format = detect_format(source, content_type, content)
        self.logger.info("Read %d bytes of %s from %s", len(content), data_format, shown_source)

        table = parse_table(
            content, data_format, input_model.encoding, input_model.json_records_key
        )
        if table.columns.empty:
            raise ValueError(f"{shown_source} has no columns")
        # A copy in the results makes the loaded table visible with the task's other results.
        data_file = self.results_path / "data.csv"
        table.to_csv(data_file, index=False)

        columns = [str(column) for column in table.columns]
        version, created = self.datasets.publish(
            input_model.dataset_id,
            data_file,
            {
                "source": shown_source,
                "source_format": data_format,
                "rows": len(table),
                "columns": columns,
                "description": input_model.description,
                "run": {"dag_id": self.dag_id, "run_id": self.run_id, "task_id": self.task_id},
            },
            skip_if_unchanged=input_model.skip_if_unchanged,
        )
        if created:
            self.logger.info(
                "Stored %d rows x %d columns as %s/%s",
                len(table),
                len(columns),
                input_model.dataset_id,
                version.name,
            )
        else:
            self.logger.info(
                "Data equals %s/%s; no new version (skip_if_unchanged)",
                input_model.dataset_id,
                version.name,
            )
        return OutputModel(
            dataset_id=input_model.dataset_id,
            version=version.name,
            version_number=version.number,
            path=str(version.file),
            rows=int(version.meta["rows"]),
            columns=list(version.meta["columns"]),
            created=created,
        )
