"""A pre-started interpreter per task environment that forks one child per task.

Starting `flowui-task` in a new interpreter costs a quarter of a second (Python, pydantic and
FlowUI's task code imported anew every time), more than Airflow spends on a plain task. A fork
server is started once per environment (its Python), FlowUI root and sandbox, with FlowUI's task
code imported but no operator code: each task is a fork of it, in a process group of its own,
with the caller's pipes as its stdin, stdout and stderr and exactly the environment the caller
gives. Operator code still runs only in that child, never in the caller or in the server.

A sandboxed task's server runs inside that sandbox (flowui.sandbox), so its forks are confined
as a new sandbox would confine them, at the cost of a fork. The server listens on a Unix socket
in a folder of its own under the root (mode 0700, owned by the user it runs as), and the caller
checks that folder's owner and the server's user before anything is sent: tasks' environments
carry secrets. Tasks are stopped through the server (the caller's end of the line shut or
gone), since a sandboxed server's process ids are not the caller's. The server exits after an
idle time, when its socket is removed, on SIGTERM (`stop_forkservers`, which `flowui down`
calls: it kills its running tasks first) or when a module it imported changed on disk (a
new FlowUI or pydantic is never served by an old one), letting its running tasks end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flowui.sandbox import Sandbox

DEFAULT_IDLE_SECONDS = 900.0  # the server's own default; the platform's is a setting
START_TIMEOUT = 30.0
SOCKET_NAME = "socket"
# Held by the server that listens: a socket file without it is a dead server's.
LOCK_NAME = "lock"
_MAX_MESSAGE = 1 << 20  # a request carries the task's environment: far below this
_CHECK_INTERVAL = 1.0
_STOPPING = "the fork server is stopping"


class ForkServerUnavailable(Exception):
    """No fork server can serve this task; the caller starts a new interpreter instead."""


def forkserver_key(python: str, root: Path, sandbox: Sandbox | None = None) -> str:
    """The server of one interpreter (environment), one root and one sandbox on this machine
    (a root shared by several machines has a server on each): the name of its folder."""
    identity = f"{Path(python).absolute()}\0{Path(root).resolve()}\0{socket.gethostname()}"
    if sandbox is not None:
        identity += f"\0{sandbox.identity()}"
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def forkserver_directory(root: Path, key: str) -> Path:
    from flowui.storage import FileSystemRoot

    return FileSystemRoot(root).forkservers / key


@contextlib.contextmanager
def _socket_path(directory: Path) -> Iterator[str]:
    """A short path to the socket in `directory` (an address is at most 108 bytes; a root's
    path may be longer): through this process's descriptor of the folder."""
    folder = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{SOCKET_NAME}"
    finally:
        os.close(folder)


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
    """A task forked by a fork server, used like `subprocess.Popen`: the pipes, `pid` (in the
    server's view), `wait(timeout)`, `returncode`, and `kill` (of its whole process group)."""

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

    def kill(self) -> None:
        """Have the server kill the task's process group: it does when our end is shut."""
        with contextlib.suppress(OSError):
            self._connection.shutdown(socket.SHUT_WR)

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


def _connect(directory: Path, uid: int) -> socket.socket:
    """A line to the server in `directory`, which must run as `uid`, as its folder is owned."""
    status = directory.lstat()
    if status.st_uid != uid or stat.S_IMODE(status.st_mode) & 0o077 or stat.S_ISLNK(status.st_mode):
        raise ForkServerUnavailable(f"the fork server's folder {directory} is held by another user")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        with _socket_path(directory) as path:
            connection.connect(path)
        if _peer_uid(connection) != uid:
            raise ForkServerUnavailable("the fork server's socket is held by another user")
    except BaseException:
        connection.close()
        raise
    return connection


def _server_folder(directory: Path, uid: int) -> None:
    """Create the server's folder, private to `uid` (it and the caller's root alone get in)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
        if uid != os.getuid():
            os.chown(directory, uid, uid)


def _start_server(
    python: str,
    directory: Path,
    idle: float,
    environ: Mapping[str, str],
    sandbox: Sandbox | None,
    uid: int,
) -> socket.socket:
    """Start the server of `directory` and connect to it once it listens."""
    _server_folder(directory, uid)
    command = [python, "-P", "-m", "flowui.runtime.forkserver"]
    command += ["--directory", str(directory), "--idle-seconds", str(idle)]
    env = dict(environ)
    if sandbox is not None:
        # The server's own folder is the one more path it writes to.
        serving = dataclasses.replace(sandbox, writable=(*sandbox.writable, directory))
        wrapped = serving.wrap(command, environ, die_with_parent=False)
        command, env = wrapped.argv, wrapped.env
    log = directory.parent / f"{directory.name}.log"
    with log.open("ab") as log_stream:
        server = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_stream,
            stderr=log_stream,
            env=env,
            start_new_session=True,  # outlives the task that started it, and its group
            cwd="/",
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
            return _connect(directory, uid)
        exit_code = server.poll()
        if exit_code not in (None, 0):  # 0: another task's server took the folder first
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
    sandbox: Sandbox | None = None,
) -> ForkedTask:
    """Fork `flowui-task --spec -` from the fork server of `python`, `root` and `sandbox`.
    `environ` is the task's whole environment. If no server runs, one is started with
    `server_environ` (it must hold no secret) and `idle` seconds to wait for tasks, inside
    `sandbox` when one is given (prepared by the caller). Raises ForkServerUnavailable when no
    server can be had."""
    directory = forkserver_directory(root, forkserver_key(python, root, sandbox))
    uid = sandbox.uid if sandbox is not None and sandbox.uid is not None else os.getuid()

    def connection() -> socket.socket:
        try:
            try:
                return _connect(directory, uid)
            except (ConnectionRefusedError, FileNotFoundError):
                return _start_server(python, directory, idle, server_environ, sandbox, uid)
        except OSError as error:
            raise ForkServerUnavailable(f"cannot reach the fork server: {error}") from None

    try:
        return _request_fork(connection(), environ)
    except _ServerStopping:  # it left its socket free: the next server starts at once
        return _request_fork(connection(), environ)


class _ServerStopping(ForkServerUnavailable):
    """The server is on its way out (stale code, stopped, idle) and forks no more."""


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


def stop_forkservers(root: Path, timeout: float = 5.0) -> None:
    """Stop the fork servers of `root`, listening or retired, and the tasks they run (SIGTERM:
    a server kills its tasks, then exits)."""
    running = _server_processes(root)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        running = [pid for pid in running if _is_alive(pid)]
        time.sleep(0.05)


def _server_processes(root: Path) -> list[int]:
    """The fork servers of `root` on this machine, found by their command line (a sandboxed
    server's own pid tells nothing outside its sandbox); not their forks, which share it but
    whose parent is a server."""
    from flowui.storage import FileSystemRoot

    folder = str(FileSystemRoot(root).forkservers).encode()
    found: dict[int, int] = {}  # pid: parent's pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"flowui.runtime.forkserver" in arguments
            and b"--directory" in arguments[:-1]
            and arguments[arguments.index(b"--directory") + 1].startswith(folder + b"/")
            and not arguments[0].endswith(b"bwrap")  # its sandbox goes with it
        ):
            with contextlib.suppress(OSError, IndexError, ValueError):
                status = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = int(status[1])
    return [pid for pid, parent in found.items() if parent not in found]


def _is_alive(pid: int) -> bool:
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
    def __init__(self, directory: Path, idle: float) -> None:
        self.directory, self.idle = directory, idle
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket_inode: int | None = None
        self.lock: int | None = None
        self.wakeup = (-1, -1)
        self.tasks: dict[int, _Task] = {}  # by pid
        self.stopping = False  # no new tasks; exit when the running ones have ended
        self.terminated = False  # SIGTERM: end the running tasks too
        self.tasks_killed = False
        self.modules = _module_files()

    def serve(self) -> int:
        self.lock = os.open(self.directory / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another server of this folder listens: it serves
            return 0
        socket_file = self.directory / SOCKET_NAME
        socket_file.unlink(missing_ok=True)  # a dead server's
        with _socket_path(self.directory) as path:
            self.listener.bind(path)
        self.socket_inode = socket_file.stat().st_ino
        self.listener.listen(64)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "terminated", True))
        # A signal also writes to this pipe, so that select() returns at once.
        self.wakeup = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup[1])
        self.selector.register(self.wakeup[0], selectors.EVENT_READ, ("signal", None))
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
                elif kind == "caller":  # the caller shut its end or went away: its task goes
                    self.selector.unregister(selected.fileobj)
                    _kill_group(pid)
                elif kind == "signal":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup[0], 512)
                else:
                    self._reap(self.tasks.pop(pid))
            now = time.monotonic()
            if self.terminated and not self.tasks_killed:  # a retired server's tasks too
                self.stopping = self.tasks_killed = True
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
        return 0

    def _stop_listening(self) -> None:
        """Free the folder at once, socket and lock: the next task's caller starts a new server
        there while this one lets its running tasks end."""
        if self.listener.fileno() >= 0:
            self.selector.unregister(self.listener)
            self.listener.close()
            if not self._replaced():
                (self.directory / SOCKET_NAME).unlink(missing_ok=True)
            if self.lock is not None:
                os.close(self.lock)
                self.lock = None

    def _accept(self) -> None:
        if self.listener.fileno() < 0:  # stopped listening earlier in this round of events
            return
        # Only the folder's owner and root can reach the socket (mode 0700): no check of the
        # peer here, whose uid a sandbox's user namespace may not even map.
        connection, _ = self.listener.accept()
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
            # Before the answer: the caller's retry must find the folder free, not this server.
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
        # Set by both sides, so that the group exists before anyone can signal it.
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
        # Whatever the task left running in its group ends with it. The group outlives its
        # leader while any member is alive, and Linux does not reuse a pid that is still some
        # group's id, so this reaches only the task's own processes.
        _kill_group(task.pid)
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
            signal.set_wakeup_fd(-1)
            for fd in self.wakeup:
                os.close(fd)
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
            if self.lock is not None:  # a task holding it would keep new servers out
                os.close(self.lock)
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
        """The socket file was removed or replaced: this server should go."""
        try:
            return (self.directory / SOCKET_NAME).stat().st_ino != self.socket_inode
        except OSError:
            return True

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
    parser.add_argument("--directory", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS)
    arguments = parser.parse_args(argv)
    # What every task needs, imported once here; operator code is imported only in the forks.
    import flowui.runtime.task  # noqa: F401

    raise SystemExit(_Server(arguments.directory, arguments.idle_seconds).serve())


if __name__ == "__main__":
    main()
