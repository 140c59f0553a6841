"""Dry run: one operator, run locally by `flowui-task` in a child process, in a run directory.

It speaks the runtime's contract, TaskSpec in and TaskOutcome back; operator code only ever
runs in the child.

The caller never imports operator code. Unconfined (the CLI's `flowui operators run`, on a
developer's own repository), the child inherits the environment, which is where a dry run's
secrets come from; a dry run the platform starts gives a sandbox and the secrets it allows.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowui.base_operator import RunContext
from flowui.runtime.process import run_task_process
from flowui.runtime.spec import OperatorReference, TaskOutcome, TaskSpec
from flowui.sandbox import Sandbox
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
    secrets: Mapping[str, str] | None = None,
    sandbox: Sandbox | None = None,
    on_log_line: Callable[[str], None] | None = None,
) -> TaskOutcome:
    """Run `operator_name` of `repository` once with literal `inputs`.

    `root` is the file-system root to run in (a new temporary one by default, kept afterwards
    so its results can be looked at); `python` is the interpreter of an environment that has the
    operator's dependencies and flowui (this one by default). In `sandbox` (which must let it
    write `root`'s runs), the child's environment is `environ` (default: none) with `secrets`;
    without one, `environ` defaults to this process's own.
    """
    file_system = FileSystemRoot(root or Path(tempfile.mkdtemp(prefix="flowui-dry-run-"))).create()
    run_id = f"dry_run_{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    spec = TaskSpec(
        operator=OperatorReference(repository_path=repository.resolve(), name=operator_name),
        inputs=dict(inputs),
        context=RunContext(dag_id=DRY_RUN_DAG_ID, run_id=run_id, task_id=operator_name),
        root=file_system.path,
    )
    return run_task_process(
        spec,
        python=python or sys.executable,
        environ=(os.environ if sandbox is None else {}) if environ is None else environ,
        secrets=secrets,
        timeout=timeout,
        on_log_line=on_log_line,
        sandbox=sandbox,
    )
