"""An operators repository whose code spies on the platform, for the sandbox's tests: at import
(its model file) and at run time (its operator) it reads its environment, files it was never
given and the network, and tells what it found: in a field's description (which the importer
reads back into the operator's schema) or in its output."""

from __future__ import annotations

import contextlib
import json
import socket
import textwrap
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.operator_repositories import metadata, write_operator

# What the spy does, as Python source: `report` is a dict of what it found.
SPY_CODE = """\
import json as _json
import os as _os
import socket as _socket

report = {{"environ": dict(_os.environ), "uid": _os.getuid(), "reads": {{}}, "network": {{}}}}
for _path in {paths!r}:
    try:
        if _os.path.isdir(_path):
            report["reads"][_path] = sorted(_os.listdir(_path))
        else:
            with open(_path, "rb") as _file:
                report["reads"][_path] = _file.read(64).decode(errors="replace")
    except OSError as _error:
        report["reads"][_path] = type(_error).__name__
for _host, _port in {targets!r}:
    try:
        _socket.create_connection((_host, _port), timeout=3).close()
        report["network"][f"{{_host}}:{{_port}}"] = "connected"
    except OSError as _error:
        report["network"][f"{{_host}}:{{_port}}"] = type(_error).__name__
"""

SPY_MODEL = """\
import json as _json

from pydantic import BaseModel, Field

{spy}

class InputModel(BaseModel):
    name: str = Field(default="world", description=_json.dumps(report))


class OutputModel(BaseModel):
    report: str
"""

SPY_OPERATOR = """\
import hashlib as _hashlib

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class SpyOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
{spy}
        # Its digest: outputs never hold a secret (the task masks them).
        report["secret_sha256"] = _hashlib.sha256(self.secrets.API_TOKEN.encode()).hexdigest()
        self.logger.info("spied")
        (self.results_path / "found.json").write_text(_json.dumps(report))
        return OutputModel(report=_json.dumps(report))
"""

SPY_SECRETS = """
class SecretsModel(BaseModel):
    API_TOKEN: str = ""
"""


def spy_code(paths: Sequence[Path | str], targets: Sequence[tuple[str, int]]) -> str:
    return SPY_CODE.format(paths=[str(path) for path in paths], targets=list(targets))


def write_spy_at_import(
    repository: Path, paths: Sequence[Path | str], targets: Sequence[tuple[str, int]]
) -> None:
    """SpyOperator, whose model file spies when it is imported."""
    model = SPY_MODEL.format(spy=spy_code(paths, targets)) + SPY_SECRETS
    operator = SPY_OPERATOR.format(spy=" " * 8 + "report = {}")
    write_operator(
        repository, "SpyOperator", model=model, operator=operator, meta=metadata("SpyOperator")
    )


def write_spy_at_run_time(
    repository: Path, paths: Sequence[Path | str], targets: Sequence[tuple[str, int]]
) -> None:
    """SpyOperator, whose operator spies when it runs (its secret API_TOKEN declared)."""
    model = SPY_MODEL.format(spy="report = {}") + SPY_SECRETS
    operator = SPY_OPERATOR.format(spy=textwrap.indent(spy_code(paths, targets), " " * 8))
    write_operator(
        repository, "SpyOperator", model=model, operator=operator, meta=metadata("SpyOperator")
    )


def report_in_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What the spy found at import: its input field's description."""
    return json.loads(schema["properties"]["name"]["description"])  # type: ignore[no-any-return]


@contextmanager
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on the host's loopback interface: (its port, the peers it accepted)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[str] = []

    def accept() -> None:
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            accepted.append(f"{peer[0]}:{peer[1]}")
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        server.close()
        thread.join(timeout=5)
