"""Running the model inspection in child processes, in parallel, each import under a time limit.

The caller never imports operator code: it hands jobs to `inspection_worker` processes and reads
back JSON. A model file that hangs is reported as timed out and its worker replaced, so one bad
operator cannot stall or crash the rest. Given a sandbox (the platform's imports always give
one), the workers run inside it and see nothing of the machine but the repository and their
Python environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flowui.sandbox import Limits, RemoteInspection, Sandbox, SandboxPolicy

DEFAULT_TIMEOUT_SECONDS = 30.0
# Model files import pydantic and the standard library and build schemas: little is needed.
INSPECTION_LIMITS = Limits(cpu_seconds=60, memory_mib=1024, processes=16)
_JOBS_PER_WORKER_MINIMUM = 50  # below this a second interpreter start costs more than it saves


def inspection_sandbox(
    policy: SandboxPolicy, repository: Path, hidden: Sequence[Path] = ()
) -> Sandbox | RemoteInspection | None:
    """Where the model files of `repository` are imported: the policy's inspection jobs
    (FLOWUI_SANDBOX=aws_batch), or a sandbox with no network, no variable of the platform's, the
    repository and this Python environment read-only, nothing of `hidden`. None when the policy
    runs repository code unconfined (FLOWUI_SANDBOX=none); SandboxUnavailable when it needs a
    confinement that cannot run here."""
    if not policy.enabled:
        return None
    if policy.inspection_jobs is not None:
        policy.inspection_jobs.check()
        return policy.inspection_jobs
    uid = policy.uid()
    policy.check(uid, Path(os.path.abspath(sys.executable)))
    return Sandbox(
        python=Path(os.path.abspath(sys.executable)),
        read_only=(repository.resolve(),),
        hidden=tuple(hidden),
        uid=uid,
        limits=INSPECTION_LIMITS,
        tmp_mib=64,
    )


@dataclass(frozen=True)
class ModelJob:
    name: str
    directory: Path
    model_file: Path


def inspect_model_files(
    jobs: Sequence[ModelJob],
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    workers: int | None = None,
    on_done: Callable[[str], None] | None = None,
    sandbox: Sandbox | RemoteInspection | None = None,
) -> dict[str, dict[str, Any]]:
    """Inspect every job's model file, in `sandbox` if given (or by it, when it inspects
    elsewhere); return the worker's result per operator name."""
    if not jobs:
        return {}
    if sandbox is not None and not isinstance(sandbox, Sandbox):
        return sandbox.inspect(jobs, timeout=timeout, on_done=on_done)
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, len(jobs) // _JOBS_PER_WORKER_MINIMUM))
    shares = [list(jobs[index::workers]) for index in range(workers)]
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def run_share(share: list[ModelJob]) -> None:
        for name, result in _run_worker_until_done(share, timeout, sandbox):
            with lock:
                results[name] = result
            if on_done:
                on_done(name)

    threads = [threading.Thread(target=run_share, args=(share,)) for share in shares if share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _run_worker_until_done(
    jobs: list[ModelJob], timeout: float, sandbox: Sandbox | None
) -> Iterator[tuple[str, Any]]:
    """Yield (name, result) for every job, replacing the worker after a timeout or a crash."""
    pending = deque(jobs)
    # A path that holds no '..': in a sandbox only what is bound exists.
    command = [os.path.abspath(sys.executable), "-m", "flowui.operators.inspection_worker"]
    environ: dict[str, str] | None = None  # unconfined: this process's own
    if sandbox is not None:
        wrapped = sandbox.wrap(command)
        command, environ = wrapped.argv, wrapped.env
    while pending:
        process = subprocess.Popen(
            command,
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        lines: queue.Queue[str] = queue.Queue()
        requests = [
            json.dumps(
                {"name": j.name, "directory": str(j.directory), "model_file": str(j.model_file)}
            )
            for j in pending
        ]
        # Both pipes are served by threads so a hung worker can never block us past `timeout`.
        threading.Thread(target=_write_lines, args=(process.stdin, requests), daemon=True).start()
        threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
        try:
            while pending:
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:
                    job = pending.popleft()
                    message = f"importing the model file took longer than {timeout:g} s"
                    yield job.name, failure(job, message)
                    break
                if not line:
                    job = pending.popleft()
                    yield job.name, failure(job, "the model file stopped the Python interpreter")
                    break
                pending.popleft()
                result = json.loads(line)
                yield result["name"], result
        finally:
            process.kill()
            process.wait()


def _write_lines(stream: IO[str], requests: list[str]) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        for request in requests:
            stream.write(request + "\n")
        stream.close()


def _read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")  # end of stream: the worker exited


def failure(job: ModelJob, message: str) -> dict[str, Any]:
    return {
        "name": job.name,
        "schemas": {},
        "secret_names": [],
        "problems": [{"file": str(job.model_file), "line": None, "message": message}],
    }
