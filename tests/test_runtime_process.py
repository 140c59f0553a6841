"""The `process` runtime: `run_task_process` runs `flowui-task` in a process group of its own.

Every test runs four times, with a real child started each way: a new interpreter (this one,
`-m flowui.runtime.task`) and a fork of the fork server, each bare and inside a bubblewrap
sandbox; what matters here is the process boundary: the outcome line, the streamed log, and that
nothing outlives the task. What the sandbox hides is tests/test_sandbox.py's.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from flowui.runtime.forkserver import stop_forkservers
from flowui.runtime.process import run_task_process
from flowui.runtime.spec import TaskOutcome
from flowui.sandbox import Sandbox
from tests.support.process_runtime import SLEEPER_BODY, child_environ, spec_for, write_operator
from tests.support.processes import forkserver_pids, wait_until_none_with_argument

SECRET = "tok-pr0cess-SECRET-44a1"


# --- helpers -----------------------------------------------------------------------------------


RunTask = Callable[..., TaskOutcome]


@pytest.fixture(
    params=[
        "new interpreter",
        "fork server",
        "sandboxed new interpreter",
        "sandboxed fork server",
    ]
)
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunTask]:
    """`run_task_process`, starting the task in a new interpreter or forking it from a fork
    server (stopped at the end: none is left behind), bare or in a sandbox that sees the
    test's folder (the repository, the root and the files the operators write)."""
    forked = str(request.param).endswith("fork server")
    sandbox = Sandbox(python=Path(sys.executable), writable=(tmp_path,), network=True)
    yield partial(
        run_task_process,
        forkserver_idle_seconds=60.0 if forked else 0.0,
        sandbox=sandbox if str(request.param).startswith("sandboxed") else None,
    )
    root = tmp_path / "root"
    stop_forkservers(root)
    assert not forkserver_pids(root)


def sandboxed(run: RunTask) -> bool:
    return isinstance(run, partial) and run.keywords.get("sandbox") is not None


def run_child(
    run: RunTask, repository: Path, name: str, root: Path, inputs: dict[str, Any] | None = None
) -> tuple[TaskOutcome, list[str]]:
    lines: list[str] = []
    outcome = run(
        spec_for(repository, name, root, inputs),
        python=sys.executable,
        environ=child_environ(),
        timeout=60,
        on_log_line=lines.append,
    )
    return outcome, lines


@pytest.fixture
def sleeper(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose Sleeper starts `sleep 60`, writes its pid, and sleeps itself."""
    pid_file = tmp_path / "sleeper.pid"
    body = SLEEPER_BODY.format(pid_file=str(pid_file))
    return write_operator(tmp_path / "repo", "Sleeper", body), pid_file


# --- outcomes ----------------------------------------------------------------------------------


def test_success_returns_the_output_and_the_run_paths(run: RunTask, tmp_path: Path):
    body = 'self.logger.info("greeting %s", input_model.name)\nreturn {"hi": input_model.name}\n'
    repository = write_operator(tmp_path / "repo", "Greeter", body)
    root = tmp_path / "root"

    outcome, lines = run_child(run, repository, "Greeter", root, {"name": "Bo"})

    assert outcome.succeeded, outcome.error
    assert outcome.output == {"hi": "Bo"}
    assert outcome.paths.directory == root / "runs" / "dag_1" / "run_1" / "task_1"
    assert json.loads(outcome.paths.output.read_text()) == {"hi": "Bo"}
    assert any(line.endswith("INFO greeting Bo") for line in lines), lines


def test_failure_outcome_carries_the_operator_error(run: RunTask, tmp_path: Path):
    body = 'raise ValueError(f"no greeting for {input_model.name}")\n'
    repository = write_operator(tmp_path / "repo", "Failing", body)

    outcome, lines = run_child(run, repository, "Failing", tmp_path / "root", {"name": "Cy"})

    assert outcome.status == "failed"
    assert outcome.error == "ValueError: no greeting for Cy"
    assert any("Traceback (most recent call last)" in line for line in lines)
    assert not outcome.paths.output.exists()


def test_invalid_input_is_a_failed_outcome_not_an_exception(run: RunTask, tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", "return {}\n")

    outcome, _ = run_child(run, repository, "Greeter", tmp_path / "root", {"lines": "many"})

    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith("input 'lines': ")


def test_an_interpreter_that_cannot_start_is_a_failed_outcome(run: RunTask, tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", "return {}\n")
    missing = str(tmp_path / "no-env" / "bin" / "python")

    outcome = run(
        spec_for(repository, "Greeter", tmp_path / "root"),
        python=missing,
        environ=child_environ(),
        timeout=10,
    )

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith(f"cannot start flowui-task with {missing}: ")


def test_a_child_that_prints_no_outcome_is_reported_with_its_exit(run: RunTask, tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", "return {}\n")

    outcome = run(
        spec_for(repository, "Greeter", tmp_path / "root"),
        python="/bin/false",
        environ=child_environ(),
        timeout=10,
    )

    assert outcome.status == "failed"
    if sandboxed(run):  # a sandbox asks the interpreter first what it needs to see
        assert (outcome.error or "").startswith("cannot start flowui-task with /bin/false: ")
    else:
        assert outcome.error == "flowui-task did not finish (exit code 1)"


# --- log lines ---------------------------------------------------------------------------------


def test_log_lines_are_streamed_in_order_while_the_task_runs(run: RunTask, tmp_path: Path):
    go = tmp_path / "go"
    # The operator waits for a file that the test creates only when it has seen the line
    # before it: the task can only succeed if lines arrive while it runs.
    body = f"""\
    for number in range(1, input_model.lines + 1):
        self.logger.info("line %d", number)
    self.logger.info("waiting for go")
    deadline = time.monotonic() + 20
    while not Path({str(go)!r}).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the log line was not streamed")
        time.sleep(0.02)
    print("got go")
    return {{}}
    """
    repository = write_operator(tmp_path / "repo", "Chatty", body)
    lines: list[str] = []

    def on_log_line(line: str) -> None:
        lines.append(line)
        if line.endswith("waiting for go"):
            go.touch()

    outcome = run(
        spec_for(repository, "Chatty", tmp_path / "root", {"lines": 30}),
        python=sys.executable,
        environ=child_environ(),
        timeout=60,
        on_log_line=on_log_line,
    )

    assert outcome.succeeded, outcome.error
    messages = [line.split(" INFO ", 1)[1] for line in lines if " INFO " in line]
    assert messages[0].startswith("===== ") and messages[0].endswith("try 1")
    assert messages[1:32] == [f"line {n}" for n in range(1, 31)] + ["waiting for go"]
    assert messages[32:] == ["got go", "task succeeded"]


def test_secrets_come_from_environ_and_never_reach_a_log_line(run: RunTask, tmp_path: Path):
    body = 'self.logger.info("token %s", self.secrets.API_TOKEN)\nreturn {}\n'
    repository = write_operator(tmp_path / "repo", "UsesToken", body)
    lines: list[str] = []

    outcome = run(
        spec_for(repository, "UsesToken", tmp_path / "root"),
        python=sys.executable,
        environ=child_environ(),
        secrets={"API_TOKEN": SECRET},
        timeout=60,
        on_log_line=lines.append,
    )

    assert outcome.succeeded, outcome.error
    assert any(line.endswith("token ***") for line in lines), lines
    assert not [line for line in lines if SECRET in line]


# --- stopping ----------------------------------------------------------------------------------


def test_timeout_kills_the_child_and_its_children(
    run: RunTask, tmp_path: Path, sleeper: tuple[Path, Path]
):
    repository, pid_file = sleeper
    lines: list[str] = []
    started = time.monotonic()

    outcome = run(
        spec_for(repository, "Sleeper", tmp_path / "root"),
        python=sys.executable,
        environ=child_environ(),
        timeout=4,
        on_log_line=lines.append,
    )

    assert outcome.status == "failed"
    assert outcome.error == "timed out after 4 s"
    assert time.monotonic() - started < 15
    assert pid_file.exists(), "the operator did not start within the timeout"
    assert wait_until_none_with_argument(str(pid_file)), "the operator's child survived"
    assert lines[-1] == "flowui-task timed out after 4 s: its processes were killed"


class Terminated(Exception):
    """What Airflow's SIGTERM handler raises in the task's main thread."""


@pytest.fixture
def sigterm_raises() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("sigterm_raises")
def test_sigterm_to_the_caller_kills_the_child_and_its_children(
    run: RunTask, tmp_path: Path, sleeper: tuple[Path, Path]
):
    repository, pid_file = sleeper

    def terminate_when_started() -> None:
        deadline = time.monotonic() + 20
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_when_started, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(Terminated):
        run(
            spec_for(repository, "Sleeper", tmp_path / "root"),
            python=sys.executable,
            environ=child_environ(),
            timeout=None,
        )

    assert time.monotonic() - started < 20
    assert pid_file.exists(), "the operator did not start"
    assert wait_until_none_with_argument(str(pid_file)), "the operator's child survived"


def test_processes_the_operator_leaves_behind_end_with_the_task(run: RunTask, tmp_path: Path):
    pid_file = tmp_path / "orphan.pid"
    body = f"""\
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", {str(pid_file)!r}],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    Path({str(pid_file)!r}).write_text(str(orphan.pid))
    return {{}}
    """
    repository = write_operator(tmp_path / "repo", "Leaver", body)

    outcome, _ = run_child(run, repository, "Leaver", tmp_path / "root")

    assert outcome.succeeded, outcome.error
    assert pid_file.exists()
    assert wait_until_none_with_argument(str(pid_file)), "a process the task left outlived it"
