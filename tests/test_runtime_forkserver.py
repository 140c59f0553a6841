"""The process runtime's fork server: one pre-started interpreter per environment and root, whose
forks run the tasks. What matters is what a fork must not inherit or leak: secrets stay out of
the server, tasks see only their own environment, stale code is never served, another user
can neither use a server nor pose as one, and servers do not outlive their use."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowui.runtime.forkserver import (
    SOCKET_NAME,
    forkserver_directory,
    forkserver_key,
    stop_forkservers,
)
from flowui.runtime.process import run_task_process
from flowui.runtime.spec import TaskOutcome
from tests.support.paths import ROOT
from tests.support.process_runtime import SLEEPER_BODY, child_environ, spec_for, write_operator
from tests.support.processes import (
    forkserver_pids,
    process_environ,
    wait_until_gone,
    wait_until_none_with_argument,
)

SECRET = "tok-f0rk-SECRET-93c2"
SYSTEM_PYTHON = "/usr/bin/python3"  # runs as another user (the virtualenv's is under /root)

REPORTER = """\
import os
return {
    "pid": os.getpid(),
    "server": os.getppid(),
    "group": os.getpgid(0),
    "variables": sorted(os.environ),
    "token_given": self.secrets.API_TOKEN != "",
}
"""


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return write_operator(tmp_path / "repo", "Reporter", REPORTER)


@pytest.fixture
def sleeper(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose Sleeper starts `sleep 60`, writes its pid, and sleeps itself."""
    pid_file = tmp_path / "sleeper.pid"
    body = SLEEPER_BODY.format(pid_file=str(pid_file))
    return write_operator(tmp_path / "sleeper-repo", "Sleeper", body), pid_file


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    yield root
    stop_forkservers(root)
    assert not forkserver_pids(root)


def run_reporter(
    repository: Path,
    root: Path,
    task_id: str,
    environ: dict[str, str],
    secrets: dict[str, str] | None = None,
    idle: float = 60.0,
    lines: list[str] | None = None,
) -> TaskOutcome:
    outcome = run_task_process(
        spec_for(repository, "Reporter", root, task_id=task_id),
        python=sys.executable,
        environ=environ,
        secrets=secrets,
        timeout=60,
        forkserver_idle_seconds=idle,
        on_log_line=(lines.append if lines is not None else None),
    )
    assert outcome.succeeded, outcome.error
    return outcome


def test_tasks_are_forks_of_one_server_that_never_holds_their_secrets(
    repository: Path, root: Path
) -> None:
    first = run_reporter(
        repository, root, "first", child_environ(ONLY_FIRST="1"), {"API_TOKEN": SECRET}
    )
    second = run_reporter(repository, root, "second", child_environ())

    assert first.output and second.output
    [server] = forkserver_pids(root)
    assert first.output["server"] == second.output["server"] == server
    assert first.output["pid"] != second.output["pid"]
    # Each task leads its own process group: a kill of the group reaches only that task.
    assert first.output["group"] == first.output["pid"]
    assert first.output["token_given"] and not second.output["token_given"]
    assert {"ONLY_FIRST", "API_TOKEN"} <= set(first.output["variables"])
    assert not {"ONLY_FIRST", "API_TOKEN"} & set(second.output["variables"])
    assert SECRET not in process_environ(server).values()


def test_a_changed_module_retires_the_server_and_a_new_one_serves_the_next_task(
    repository: Path, root: Path, tmp_path: Path
) -> None:
    # A module the server imports at start (Python imports `sitecustomize` from PYTHONPATH).
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("MARK = 1\n")
    environ = child_environ(PYTHONPATH=str(site))
    first = run_reporter(repository, root, "first", environ)
    assert first.output
    old_server = first.output["server"]

    later = time.time() + 5
    os.utime(site / "sitecustomize.py", (later, later))  # as an upgrade would
    second = run_reporter(repository, root, "second", environ)

    assert second.output
    assert second.output["server"] != old_server
    assert wait_until_gone(old_server), "the server of the old code is still running"
    assert forkserver_pids(root) == [second.output["server"]]


def test_a_retired_server_still_running_a_task_hands_its_folder_to_a_new_one_at_once(
    repository: Path, root: Path, tmp_path: Path, sleeper: tuple[Path, Path]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("MARK = 1\n")
    environ = child_environ(PYTHONPATH=str(site))
    sleeper_repository, pid_file = sleeper
    running = threading.Thread(
        target=run_task_process,
        args=(spec_for(sleeper_repository, "Sleeper", root),),
        kwargs={
            "python": sys.executable,
            "environ": environ,
            "timeout": 60.0,
            "forkserver_idle_seconds": 60.0,
        },
        daemon=True,
    )
    running.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the sleeping task did not start"
        time.sleep(0.05)
    old = set(forkserver_pids(root))  # the server, and the task it forked (same command line)

    later = time.time() + 5
    os.utime(site / "sitecustomize.py", (later, later))  # the old server's code is stale now
    lines: list[str] = []
    second = run_reporter(repository, root, "second", environ, lines=lines)

    assert second.output
    # Served by a new fork server, not by a new interpreter after waiting for the old one.
    assert second.output["server"] not in {*old, os.getpid()}, lines
    assert old <= set(forkserver_pids(root))  # the old server still lets its task end


def test_an_idle_server_exits_and_removes_its_socket(repository: Path, root: Path) -> None:
    outcome = run_reporter(repository, root, "only", child_environ(), idle=1.0)

    assert outcome.output
    assert wait_until_gone(outcome.output["server"], seconds=10)
    assert not list((root / "environments" / "forkservers").glob(f"*/{SOCKET_NAME}"))


def test_turned_off_every_task_is_a_new_interpreter(repository: Path, root: Path) -> None:
    outcome = run_reporter(repository, root, "only", child_environ(), idle=0.0)

    assert outcome.output
    assert outcome.output["server"] == os.getpid()  # the caller's own child
    assert not forkserver_pids(root)


NOBODY = pwd.getpwnam("nobody")


def as_nobody(code: str, *arguments: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[str]:
    assert os.geteuid() == 0, "these tests start a process as another user: run them as root"
    return subprocess.Popen(
        [SYSTEM_PYTHON, "-c", code, *arguments],
        pass_fds=pass_fds,
        user="nobody",
        group="nogroup",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )


CONNECT_AND_ASK = """\
import json, os, socket, sys
connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    connection.connect(sys.argv[1])
except OSError as error:
    print("refused", type(error).__name__)
    raise SystemExit(0)
ends = [os.pipe()[0], os.pipe()[1], os.pipe()[1]]
try:
    socket.send_fds(connection, [json.dumps({"environ": {}}).encode()], ends)
    print(repr(connection.recv(65536)))
except (BrokenPipeError, ConnectionResetError):
    print("closed")
"""


def server_folder(root: Path) -> Path:
    return forkserver_directory(root, forkserver_key(sys.executable, root))


def test_another_user_cannot_have_a_task_forked(repository: Path, root: Path) -> None:
    first = run_reporter(repository, root, "first", child_environ())
    assert first.output
    assert (server_folder(root) / SOCKET_NAME).exists()
    # The intruder is handed the folder itself, past the test's private temporary folders:
    # what stops it must be the folder's own mode.
    folder = os.open(server_folder(root), os.O_PATH | os.O_DIRECTORY)
    try:
        path = f"/proc/self/fd/{folder}/{SOCKET_NAME}"
        intruder = as_nobody(CONNECT_AND_ASK, path, pass_fds=(folder,))
        stdout, stderr = intruder.communicate(timeout=30)
    finally:
        os.close(folder)

    assert intruder.returncode == 0, stderr
    assert stdout.strip() == "refused PermissionError"  # the server's folder is its own


SQUAT = """\
import socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
listener.bind(sys.argv[1])
listener.listen(1)
print("listening", flush=True)
connection, _ = listener.accept()
connection.settimeout(10)
try:
    print(repr(connection.recv(1 << 20)), flush=True)
except OSError as error:
    print("error", error, flush=True)
"""


def test_a_server_folder_held_by_another_user_gets_no_secret(repository: Path, root: Path) -> None:
    # As if another user of a shared root had made the server's folder first.
    folder = server_folder(root)
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    handle = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    try:
        squatter = as_nobody(SQUAT, f"/proc/self/fd/{handle}/{SOCKET_NAME}", pass_fds=(handle,))
    finally:
        os.close(handle)
    assert squatter.stdout is not None
    assert squatter.stdout.readline().strip() == "listening"
    lines: list[str] = []

    try:
        outcome = run_reporter(
            repository, root, "only", child_environ(), {"API_TOKEN": SECRET}, lines=lines
        )
    finally:
        squatter.kill()
        stdout, _ = squatter.communicate(timeout=30)

    assert outcome.output and outcome.output["token_given"]  # run in a new interpreter instead
    assert outcome.output["server"] == os.getpid()
    assert any("held by another user" in line for line in lines), lines
    assert stdout == ""  # never even connected to: the folder's owner gave it away


KILLED_CALLER = """\
import sys
from pathlib import Path
from flowui.runtime.process import run_task_process
from tests.support.process_runtime import child_environ, spec_for

run_task_process(
    spec_for(Path(sys.argv[1]), "Sleeper", Path(sys.argv[2])),
    python=sys.executable,
    environ=child_environ(),
    timeout=None,
    forkserver_idle_seconds=60,
)
"""


def test_a_task_whose_caller_is_killed_is_killed_too(
    root: Path, sleeper: tuple[Path, Path]
) -> None:
    repository, pid_file = sleeper
    caller = subprocess.Popen(
        [sys.executable, "-c", KILLED_CALLER, str(repository), str(root)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # imports tests.support
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert caller.poll() is None, "the caller ended before the task started"
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.05)

    caller.kill()  # as Airflow's SIGKILL of a task process that ignored SIGTERM
    caller.wait()

    assert wait_until_none_with_argument(str(pid_file)), "the task's own child survived"
    assert forkserver_pids(root), "the server should go on serving other tasks"


def test_stopping_the_servers_stops_their_running_tasks(
    root: Path, sleeper: tuple[Path, Path]
) -> None:
    repository, pid_file = sleeper
    outcome: list[TaskOutcome] = []
    caller = threading.Thread(
        target=lambda: outcome.append(
            run_task_process(
                spec_for(repository, "Sleeper", root),
                python=sys.executable,
                environ=child_environ(),
                timeout=None,
                forkserver_idle_seconds=60,
            )
        )
    )
    caller.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.05)
    servers = forkserver_pids(root)

    stop_forkservers(root)  # what `flowui down` does after stopping Airflow
    caller.join(timeout=30)

    assert not caller.is_alive()
    assert outcome[0].status == "failed"
    assert "killed by signal 9" in (outcome[0].error or "")
    assert wait_until_none_with_argument(str(pid_file))
    assert all(wait_until_gone(pid) for pid in servers)
