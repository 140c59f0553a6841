"""Processes as the host sees them (/proc): waiting for one to end, finding the fork servers
and a sandboxed task by their arguments, and reading a process's environment."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from flowui.platform import is_process_running
from flowui.storage import FileSystemRoot


def wait_until(done: Callable[[], bool], seconds: float) -> bool:
    """Whether `done()` holds within `seconds` (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def answers_http(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status: 401 asks for credentials)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether process `pid` has ended (a zombie counts as ended) within `seconds`."""
    return wait_until(lambda: not is_process_running(pid), seconds)


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """Every running process's pid and arguments, as the host sees them."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if is_process_running(int(proc.name)):
            yield int(proc.name), arguments


def wait_until_none_with_argument(marker: str, seconds: float = 5.0) -> bool:
    """Whether every process one of whose arguments is `marker` has ended within `seconds`
    (found as the host sees it: a sandboxed process tells only its pid inside its sandbox)."""
    return wait_until(
        lambda: not any(marker.encode() in arguments for _, arguments in command_lines()),
        seconds,
    )


def assert_no_process_left(pids: list[int]) -> None:
    left = [pid for pid in pids if is_process_running(pid)]
    assert not left, f"processes still running after the platform stopped: {left}"


def forkserver_pids(root: Path) -> list[int]:
    """The running fork servers (process runtime) of the root `root`, and the tasks they run
    (forks, with the same command line)."""
    folder = str(FileSystemRoot(root).forkservers).encode()
    # A sandboxed server's bwrap names it too: the server is the Python that runs it.
    return [
        pid
        for pid, arguments in command_lines()
        if b"flowui.runtime.forkserver" in arguments
        and not arguments[0].endswith(b"bwrap")
        and any(argument.startswith(folder) for argument in arguments)
    ]


def process_environ(pid: int) -> dict[str, str]:
    """The environment that process `pid` was started with."""
    items = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)
