"""Dry run: one operator, run locally by `flowui-task` in a child process, in a run directory.

It speaks the runtime's contract, TaskSpec in and TaskOutcome back; operator code only ever
runs in the child.

The caller never imports operator code; the child inherits the environment, which is where a
dry run's secrets come from.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowui.base_operator import RunContext
from flowui.runtime.spec import OperatorReference, TaskOutcome, TaskSpec
from flowui.storage import FileSystemRoot

DRY_RUN_DAG_ID = "dry_run"


def dry_run(
    repository: Path,
    operator_name: str,
    inputs: Mapping[str, Any],
    *,
    root: Path | None = None,
    python: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    on_log_line: Callable[[str], None] | None = None,
) -> TaskOutcome:
    """Run `operator_name` of `repository` once with literal `inputs`.

    `root` is the file-system root to run in (a new temporary one by default, kept afterwards
    so its results can be looked at); `python` is the interpreter of an environment that has the
    operator's dependencies and flowui (this one by default).
    """
    file_system = FileSystemRoot(root or Path(tempfile.mkdtemp(prefix="flowui-dry-run-"))).create()
    run_id = f"dry_run_{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    paths = file_system.task_run(DRY_RUN_DAG_ID, run_id, operator_name)
    spec = TaskSpec(
        operator=OperatorReference(repository_path=repository.resolve(), name=operator_name),
        inputs=dict(inputs),
        context=RunContext(dag_id=DRY_RUN_DAG_ID, run_id=run_id, task_id=operator_name),
        root=file_system.path,
    )
    process = subprocess.Popen(
        [python or sys.executable, "-m", "flowui.runtime.task", "--spec", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=dict(os.environ if environ is None else environ),
        start_new_session=True,  # so a timeout can stop the operator's own children too
    )
    assert process.stdin and process.stdout and process.stderr
    stderr_lines: list[str] = []
    stdout_lines: list[str] = []

    def follow_log(stream: Any) -> None:
        for line in stream:
            stderr_lines.append(line)
            if on_log_line:
                on_log_line(line.rstrip("\n"))

    readers = [
        threading.Thread(target=follow_log, args=(process.stderr,), daemon=True),
        threading.Thread(target=stdout_lines.extend, args=(process.stdout,), daemon=True),
    ]
    for reader in readers:
        reader.start()
    process.stdin.write(spec.model_dump_json())
    process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return TaskOutcome("failed", paths, None, f"timed out after {timeout:g} s", None)
    finally:
        for reader in readers:
            reader.join(timeout=5)

    stdout = "".join(stdout_lines)
    outcome = _last_json_line(stdout)
    if outcome is None:
        detail = "".join(stderr_lines[-20:]).strip() or f"exit code {process.returncode}"
        return TaskOutcome("failed", paths, None, f"flowui-task did not finish: {detail}", None)
    return TaskOutcome(
        outcome["status"],
        paths,
        outcome.get("output"),
        outcome.get("error"),
        outcome.get("display_result"),
    )


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "status" in value:
            return value
    return None
