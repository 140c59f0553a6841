"""A pre-started interpreter per task environment that forks one child per task.

Starting `flowui-task` in a new interpreter costs a quarter of a second (Python, pydantic and
FlowUI's task code imported anew every time), more than Airflow spends on a plain task. A fork
server is started once per environment (its Python) and FlowUI root, with FlowUI's task code
imported but no operator code: each task is a fork of it, in a process group of its own, with
the caller's pipes as its stdin, stdout and stderr and exactly the environment the caller gives.
Operator code still runs only in that child, never in the caller or in the server.

The server listens on an abstract Unix socket (no file to leave behind), and both ends check
that the other runs as the same user before anything is sent: tasks' environments carry secrets.
A task whose caller goes away (the Airflow task process killed) is killed with its group. The
server exits after an idle time, when its pid file is removed or names another process, or when
a module it imported changed on disk (a new FlowUI or pydantic is never served by an old one),
letting its running tasks end; on SIGTERM (`stop_forkservers`, which `flowui down` calls) it
kills them first.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

IDLE_SECONDS_VARIABLE = "FLOWUI_FORKSERVER_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 900.0
START_TIMEOUT = 30.0
_MAX_MESSAGE = 1 << 20  # a request carries the task's environment: far below this
_CHECK_INTERVAL = 1.0
_STOPPING = "the fork server is stopping"


class ForkServerUnavailable(Exception):
    """No fork server can serve this task; the caller starts a new interpreter instead."""


def idle_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long a fork server waits for tasks before it exits; 0 turns fork servers off."""
    value = (os.environ if environ is None else environ).get(IDLE_SECONDS_VARIABLE, "")
    try:
        return max(float(value), 0.0) if value else DEFAULT_IDLE_SECONDS
    except ValueError:
        return DEFAULT_IDLE_SECONDS


def forkserver_key(python: str, root: Path) -> str:
    """The server of one interpreter (environment) and one root on this machine (a root shared
    by several machines has a server on each): its address and pid file."""
    identity = f"{Path(python).absolute()}\0{Path(root).resolve()}\0{socket.gethostname()}"
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def _address(key: str) -> bytes:
    # Abstract namespace (leading NUL): nothing on disk, no path-length limit from the root.
    return f"\0flowui-forkserver-{os.getuid()}-{key}".encode()


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def _send(connection: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(connection, [data], fds)
    else:
        connection.sendall(data)


def _receive(connection: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors sent with it; (None, []) when the peer closed."""
    data, fds, _flags, _address = socket.recv_fds(connection, _MAX_MESSAGE, 8)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), list(fds)


# --- the caller's side ----------------------------------------------------------------------


class ForkedTask:
    """A task forked by a fork server, used like `subprocess.Popen`: the pipes, `pid`,
    `wait(timeout)`, `returncode`. The task leads its own process group (pgid == pid)."""

    def __init__(
        self,
        connection: socket.socket,
        pid: int,
        stdin: IO[str],
        stdout: IO[str],
        stderr: IO[str],
    ) -> None:
        self._connection = connection
        self.pid = pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self._connection.settimeout(timeout)
        try:
            message, _fds = _receive(self._connection)
        except TimeoutError:
            raise subprocess.TimeoutExpired("flowui-task", timeout or 0.0) from None
        except OSError:
            message = None
        self._connection.close()
        # A server that died cannot tell how its child ended: count it as killed.
        self.returncode = int(message["exit"]) if message else -signal.SIGKILL
        return self.returncode


def _connect(key: str) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.connect(_address(key))
        if _peer_uid(connection) != os.getuid():  # anyone may take an abstract name first
            raise ForkServerUnavailable("the fork server's address is held by another user")
    except BaseException:
        connection.close()
        raise
    return connection


def _start_server(
    python: str, key: str, root: Path, idle: float, environ: Mapping[str, str]
) -> socket.socket:
    """Start the server of `key` and connect to it once it listens."""
    from flowui.storage import FileSystemRoot

    directory = FileSystemRoot(root).forkservers
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{key}.log"
    with log.open("ab") as log_stream:
        server = subprocess.Popen(
            [
                *(python, "-P", "-m", "flowui.runtime.forkserver"),
                *("--key", key, "--root", str(root), "--idle-seconds", str(idle)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_stream,
            stderr=log_stream,
            env=dict(environ),
            start_new_session=True,  # outlives the task that started it, and its group
            cwd="/",
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
            return _connect(key)
        exit_code = server.poll()
        if exit_code not in (None, 0):  # 0: another task's server took the address first
            raise ForkServerUnavailable(f"the fork server exited with code {exit_code} (see {log})")
        time.sleep(0.02)
    raise ForkServerUnavailable(f"the fork server did not listen within {START_TIMEOUT:g} s")


def fork_task(
    python: str,
    root: Path,
    environ: Mapping[str, str],
    *,
    server_environ: Mapping[str, str],
    idle: float,
) -> ForkedTask:
    """Fork `flowui-task --spec -` from the fork server of `python` and `root`. `environ` is
    the task's whole environment. If no server runs, one is started with `server_environ` (it
    must hold no secret) and `idle` seconds to wait for tasks. Raises ForkServerUnavailable
    when no server can be had."""
    key = forkserver_key(python, root)
    try:
        return _request_fork(_server_connection(python, key, root, idle, server_environ), environ)
    except _ServerStopping:  # it left its address free: the next server starts at once
        return _request_fork(_server_connection(python, key, root, idle, server_environ), environ)


class _ServerStopping(ForkServerUnavailable):
    """The server is on its way out (stale code, stopped, idle) and forks no more."""


def _server_connection(
    python: str, key: str, root: Path, idle: float, server_environ: Mapping[str, str]
) -> socket.socket:
    try:
        try:
            return _connect(key)
        except (ConnectionRefusedError, FileNotFoundError):
            return _start_server(python, key, root, idle, server_environ)
    except OSError as error:
        raise ForkServerUnavailable(f"cannot reach the fork server: {error}") from None


def _request_fork(connection: socket.socket, environ: Mapping[str, str]) -> ForkedTask:
    pipes = [os.pipe() for _ in range(3)]  # stdin, stdout, stderr: (read end, write end)
    child_ends = [pipes[0][0], pipes[1][1], pipes[2][1]]
    try:
        _send(connection, {"environ": dict(environ)}, child_ends)
        reply, _fds = _receive(connection)
    except OSError as error:
        reply, _fds = {"error": str(error)}, []
    finally:
        for fd in child_ends:
            os.close(fd)
    if not reply or "pid" not in reply:
        connection.close()
        for fd in (pipes[0][1], pipes[1][0], pipes[2][0]):
            os.close(fd)
        reason = (reply or {}).get("error", "it closed the connection")
        if reason == _STOPPING:
            raise _ServerStopping(reason)
        raise ForkServerUnavailable(f"the fork server did not start the task: {reason}")
    return ForkedTask(
        connection,
        int(reply["pid"]),
        stdin=open(pipes[0][1], "w", encoding="utf-8"),
        stdout=open(pipes[1][0], encoding="utf-8", errors="replace"),
        stderr=open(pipes[2][0], encoding="utf-8", errors="replace"),
    )


@dataclass(frozen=True)
class _PidFile:
    pid: int
    key: str


def stop_forkservers(root: Path, timeout: float = 5.0) -> None:
    """Stop the fork servers of `root` and the tasks they run (SIGTERM)."""
    from flowui.storage import FileSystemRoot

    directory = FileSystemRoot(root).forkservers
    running = []
    for pid_file in directory.glob("*.pid"):
        record = _read_pid_file(pid_file)
        pid_file.unlink(missing_ok=True)  # also tells the server to go, should the signal fail
        if record is not None and _is_forkserver(record.pid, record.key):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
                running.append(record.pid)
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        running = [pid for pid in running if _is_forkserver_alive(pid)]
        time.sleep(0.05)


def _read_pid_file(path: Path) -> _PidFile | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return _PidFile(int(record["pid"]), str(record["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_forkserver(pid: int, key: str) -> bool:
    """True if `pid` is the fork server of `key` (not a process that took over its pid)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"flowui.runtime.forkserver" in arguments and key.encode() in arguments


def _is_forkserver_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- the server's side ----------------------------------------------------------------------


@dataclass
class _Task:
    """A forked task: its pid (and group), the pidfd that tells its end, its caller's line."""

    pid: int
    pidfd: int
    caller: socket.socket


class _Server:
    def __init__(self, key: str, root: Path, idle: float) -> None:
        from flowui.storage import FileSystemRoot

        self.key, self.root, self.idle = key, root, idle
        self.pid_file = FileSystemRoot(root).forkservers / f"{key}.pid"
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.tasks: dict[int, _Task] = {}  # by pid
        self.stopping = False  # no new tasks; exit when the running ones have ended
        self.terminated = False  # SIGTERM: end the running tasks too
        self.modules = _module_files()

    def serve(self) -> int:
        try:
            self.listener.bind(_address(self.key))
        except OSError:  # another server of this key listens: it serves, this one is not needed
            return 0
        self.listener.listen(64)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(json.dumps({"pid": os.getpid(), "key": self.key}))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "terminated", True))
        self.selector.register(self.listener, selectors.EVENT_READ, ("listener", None))
        last_activity = last_check = time.monotonic()
        while True:
            for selected, _events in self.selector.select(timeout=_CHECK_INTERVAL):
                last_activity = time.monotonic()
                kind, pid = selected.data
                if kind == "listener":
                    self._accept()
                elif kind == "request":
                    self._serve_request(selected.fileobj)  # type: ignore[arg-type]
                elif kind == "caller":  # the caller went away (killed): its task goes too
                    self.selector.unregister(selected.fileobj)
                    _kill_group(pid)
                else:
                    self._reap(self.tasks.pop(pid))
            now = time.monotonic()
            if self.terminated and not self.stopping:
                self.stopping = True
                for task in self.tasks.values():
                    _kill_group(task.pid)
            if now - last_check >= _CHECK_INTERVAL:
                last_check = now
                if self._replaced() or self._stale():
                    self.stopping = True
                if not self.tasks and now - last_activity > self.idle:
                    self.stopping = True
            if self.stopping:
                self._stop_listening()
            if self.stopping and not self.tasks:
                break
        if _read_pid_file(self.pid_file) == _PidFile(os.getpid(), self.key):
            self.pid_file.unlink(missing_ok=True)
        return 0

    def _stop_listening(self) -> None:
        """Free the address at once: the next task's caller starts a new server there."""
        if self.listener.fileno() >= 0:
            self.selector.unregister(self.listener)
            self.listener.close()

    def _accept(self) -> None:
        if self.listener.fileno() < 0:  # stopped listening earlier in this round of events
            return
        connection, _ = self.listener.accept()
        if _peer_uid(connection) != os.getuid():
            connection.close()
            return
        self.selector.register(connection, selectors.EVENT_READ, ("request", None))

    def _serve_request(self, connection: socket.socket) -> None:
        self.selector.unregister(connection)
        try:
            request, fds = _receive(connection)
        except (OSError, ValueError):
            connection.close()
            return
        if request is None or len(fds) != 3 or not isinstance(request.get("environ"), dict):
            for fd in fds:
                os.close(fd)
            connection.close()
            return
        if self.stopping or self._stale():
            self.stopping = True
            # Before the answer: the caller's retry must find the address free, not this server.
            self._stop_listening()
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                _send(connection, {"error": _STOPPING})
            connection.close()
            return
        pid = os.fork()
        if pid == 0:
            self._run_child(connection, request["environ"], fds)  # never returns
        # Set by both sides, so that the group exists before the caller can signal it.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        for fd in fds:
            os.close(fd)
        task = _Task(pid, os.pidfd_open(pid), connection)
        self.tasks[pid] = task
        self.selector.register(task.pidfd, selectors.EVENT_READ, ("ended", pid))
        try:
            _send(connection, {"pid": pid})
        except OSError:
            _kill_group(pid)
            return
        self.selector.register(connection, selectors.EVENT_READ, ("caller", pid))

    def _reap(self, task: _Task) -> None:
        self.selector.unregister(task.pidfd)
        os.close(task.pidfd)
        _, status = os.waitpid(task.pid, 0)
        with contextlib.suppress(KeyError):
            self.selector.unregister(task.caller)
        with contextlib.suppress(OSError):
            _send(task.caller, {"exit": os.waitstatus_to_exitcode(status)})
        task.caller.close()

    def _run_child(
        self, connection: socket.socket, environ: dict[str, str], fds: list[int]
    ) -> None:
        code = 1
        try:
            os.setpgid(0, 0)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
                signal.signal(signum, signal.SIG_DFL)
            # Nothing of the server's stays open in the task: other tasks' lines above all.
            for task in self.tasks.values():
                os.close(task.pidfd)
                task.caller.close()
            for key in list(self.selector.get_map().values()):
                if isinstance(key.fileobj, socket.socket):
                    key.fileobj.close()
            self.selector.close()
            connection.close()
            self.listener.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            sys.stdout = io.TextIOWrapper(
                io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True
            )
            sys.stderr = io.TextIOWrapper(
                io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True
            )
            os.environ.clear()
            os.environ.update(environ)
            from flowui.runtime.task import main

            main(["--spec", "-"])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _replaced(self) -> bool:
        """The pid file was removed or names another server: this one should go."""
        return _read_pid_file(self.pid_file) != _PidFile(os.getpid(), self.key)

    def _stale(self) -> bool:
        return any(_mtime(path) != mtime for path, mtime in self.modules.items())


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _module_files() -> dict[str, int | None]:
    return {
        path: _mtime(path)
        for module in list(sys.modules.values())
        if isinstance(path := getattr(module, "__file__", None), str)
    }


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flowui.runtime.forkserver",
        description="Serve forks of flowui-task for one environment (started by the runtime).",
    )
    parser.add_argument("--key", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS)
    arguments = parser.parse_args(argv)
    # What every task needs, imported once here; operator code is imported only in the forks.
    import flowui.runtime.task  # noqa: F401

    raise SystemExit(_Server(arguments.key, arguments.root, arguments.idle_seconds).serve())


if __name__ == "__main__":
    main()
