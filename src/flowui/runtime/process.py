"""The `process` runtime: one task run by `flowui-task` in a process of its own.

The task leads its own process group, so a timeout or an interrupted caller stops the operator
and everything it started; operator code never runs in the caller. Given a sandbox, the task
runs inside it (flowui.sandbox), forked from a fork server in that sandbox or started in a new
one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flowui.runtime.forkserver import ForkedTask, ForkServerUnavailable, fork_task
from flowui.runtime.spec import TaskOutcome, TaskSpec
from flowui.sandbox import (
    DEFAULT_ENVIRON,
    Limits,
    Sandbox,
    SandboxPolicy,
    SandboxUnavailable,
    give_to,
)
from flowui.storage import FileSystemRoot, TaskRunPaths

STDERR_TAIL = 20


def task_sandbox(
    policy: SandboxPolicy,
    *,
    python: Path,
    repository: Path,
    tree: FileSystemRoot,
    platform_root: FileSystemRoot,
    workspace_id: int | None,
    memory_mib: int | None,
    network: bool | None = None,
) -> Sandbox | None:
    """The sandbox of a task of `workspace_id` whose tree is `tree`: the tree's runs, datasets
    and models read-write, its operators repository and Python environment read-only, nothing
    private of the platform's root, the network as the policy says (or as `network` says: none
    for what the server starts), the uid of its workspace (a platform run as root), and
    `memory_mib` of memory per process. None when the policy runs repository code unconfined;
    SandboxUnavailable when it needs a sandbox that cannot run."""
    if not policy.enabled:
        return None
    policy.check_tools()  # a sandbox that cannot start says why in the task's error
    uid = policy.uid(workspace_id)
    return Sandbox(
        python=python,
        read_only=(repository,),
        writable=(tree.runs, tree.datasets, tree.models),
        hidden=platform_root.private_paths,
        network=policy.task_network if network is None else network,
        uid=uid,
        limits=Limits(
            cpu_seconds=policy.cpu_seconds, memory_mib=memory_mib, processes=policy.processes
        ),
    )


def run_task_process(
    spec: TaskSpec,
    *,
    python: str,
    environ: Mapping[str, str],
    timeout: float | None,
    secrets: Mapping[str, str] | None = None,
    on_log_line: Callable[[str], None] | None = None,
    forkserver_idle_seconds: float = 0.0,
    forkservers_root: Path | None = None,
    sandbox: Sandbox | None = None,
) -> TaskOutcome:
    """Run `spec` with `python -m flowui.runtime.task`; never raises for a failed task.

    The child's environment is `environ` with `secrets` (never log either), over the sandbox's
    defaults (PATH, HOME, TMPDIR, LANG) when it runs in `sandbox`, whose writable folders this
    creates and, for a sandbox with a uid of its own, hands to that uid with the task's run
    directory. With
    `forkserver_idle_seconds` > 0 the child is forked from the fork server of `python` (started
    with `environ` alone if none runs, and kept that long without tasks); without one, or if
    none can be had, it is a new interpreter. The child's log lines (stderr) go to
    `on_log_line` as they come. If this call is interrupted (an exception in this thread, such
    as the one Airflow raises on SIGTERM), the child's process group is killed before the
    exception goes on. Fork servers are kept per `forkservers_root` (default: the spec's root),
    the platform's root, so that the tasks of every workspace share them.
    """
    context = spec.context
    tree = FileSystemRoot(spec.root)
    paths = tree.task_run(context.dag_id, context.run_id, context.task_id)
    if sandbox is not None:
        # The one it runs, by a path that holds no '..': inside, only what is bound exists.
        python = os.path.abspath(python)
        sandbox = dataclasses.replace(sandbox, python=Path(python))
        environ = {**DEFAULT_ENVIRON, **environ}
        try:
            _prepare(sandbox, tree, paths)
        except OSError as error:
            return TaskOutcome("failed", paths, error=f"cannot prepare the sandbox: {error}")
    child_environ = {**environ, **(secrets or {})}
    process: subprocess.Popen[str] | ForkedTask | None = None
    if forkserver_idle_seconds > 0:
        try:
            process = fork_task(
                python,
                forkservers_root or spec.root,
                child_environ,
                server_environ=environ,
                idle=forkserver_idle_seconds,
                sandbox=sandbox,
            )
        except (ForkServerUnavailable, SandboxUnavailable) as error:
            if on_log_line:
                on_log_line(f"{error}; starting flowui-task in a new interpreter")
    if process is None:
        command = [python, "-P", "-m", "flowui.runtime.task", "--spec", "-"]
        try:
            if sandbox is not None:
                # Given to bwrap as its environment, never on its command line (ps shows that).
                wrapped = sandbox.wrap(command, child_environ)
                command, child_environ = wrapped.argv, wrapped.env
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=child_environ,
                start_new_session=True,  # its own process group: one kill stops all it started
            )
        except (OSError, SandboxUnavailable) as error:
            return TaskOutcome(
                "failed", paths, error=f"cannot start flowui-task with {python}: {error}"
            )
    assert process.stdin and process.stdout and process.stderr
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
    stdout_lines: list[str] = []

    def follow_log(stream: Iterable[str]) -> None:
        for line in stream:
            stderr_tail.append(line.rstrip("\n"))
            if on_log_line:
                on_log_line(line.rstrip("\n"))

    readers = [
        threading.Thread(target=follow_log, args=(process.stderr,), daemon=True),
        threading.Thread(target=stdout_lines.extend, args=(process.stdout,), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        # A child that dies before reading its spec is reported below from its exit and stderr.
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(spec.model_dump_json())
            process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
    finally:
        # Also on success: whatever the operator left running in its session ends with the task.
        _kill_group(process)
        for reader in readers:
            reader.join(timeout=5)
    if timed_out:
        if on_log_line:
            on_log_line(f"flowui-task timed out after {timeout:g} s: its processes were killed")
        return TaskOutcome("failed", paths, error=f"timed out after {timeout:g} s")

    outcome = last_outcome_line(stdout_lines)
    if outcome is None:
        if process.returncode is not None and process.returncode < 0:
            ending = f"killed by signal {-process.returncode}"
        else:
            ending = f"exit code {process.returncode}"
        detail = "\n".join(stderr_tail).strip()
        return TaskOutcome(
            "failed",
            paths,
            error=f"flowui-task did not finish ({ending})" + (f": {detail}" if detail else ""),
        )
    return TaskOutcome(
        "success" if outcome["status"] == "success" else "failed",
        paths,
        output=outcome.get("output"),
        error=outcome.get("error"),
        display_result=outcome.get("display_result"),
    )


def last_outcome_line(stdout_lines: Iterable[str]) -> dict[str, Any] | None:
    """The outcome `flowui-task` printed: the last JSON object on stdout with a status."""
    for line in reversed(list(stdout_lines)):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "status" in value:
            return value
    return None


def _prepare(sandbox: Sandbox, tree: FileSystemRoot, paths: TaskRunPaths) -> None:
    """The sandbox's writable folders and, for a sandbox with a uid of its own, the task's."""
    sandbox.prepare()
    paths.create()
    if sandbox.uid is not None:
        hand_task_folders(tree, paths, sandbox.uid)


def hand_task_folders(
    tree: FileSystemRoot, paths: TaskRunPaths, uid: int, gid: int | None = None
) -> None:
    """Give the task's user (another uid than the worker's) what it writes: the tree's
    datasets folder and each dataset's (the task may add a version to a dataset the server
    made), and the task's run directory with what an earlier try or the worker wrote there
    (the task appends to its log)."""
    tree.datasets.mkdir(parents=True, exist_ok=True)
    for path in (
        tree.datasets,
        *tree.datasets.iterdir(),
        paths.directory,
        *paths.directory.rglob("*"),
    ):
        give_to(path, uid, gid)


def _kill_group(process: subprocess.Popen[str] | ForkedTask) -> None:
    if isinstance(process, ForkedTask):
        process.kill()  # its server kills the group: the task's pids are the server's
    else:
        # The group outlives its leader while any member is alive, and Linux does not reuse a
        # pid that is still some group's id, so this reaches only the task's own processes.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
