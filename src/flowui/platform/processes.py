"""Processes as Linux's /proc shows them: trees, liveness across pid reuse, memory (PSS)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    process_group: int
    start_ticks: int  # start time since boot: tells a live process from a reused pid


def process_info(pid: int) -> ProcessInfo | None:
    """The process `pid`, or None if it is gone or a zombie (finished, only not reaped)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rpartition(")")[2].split()  # the command name may hold spaces and ')'
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return ProcessInfo(pid, int(fields[1]), int(fields[2]), int(fields[19]))


def process_table() -> dict[int, ProcessInfo]:
    """Every running process, by pid."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (info := process_info(int(entry.name))) is not None:
            table[info.pid] = info
    return table


def descendants(pid: int, table: Mapping[int, ProcessInfo]) -> list[ProcessInfo]:
    """The children of `pid`, their children, and so on."""
    children: dict[int, list[ProcessInfo]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info)
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child.pid)
    return found


def process_tree_pids(pid: int) -> list[int]:
    """`pid` and the pids of all its descendants that are running now."""
    table = process_table()
    return [info.pid for info in [table[pid], *descendants(pid, table)]] if pid in table else []


def is_process_running(pid: int) -> bool:
    """True if `pid` runs (a zombie, finished but not reaped, does not count)."""
    return process_info(pid) is not None


def is_alive(pid: int, start_ticks: int | None) -> bool:
    """True if `pid` runs and, given its start ticks, is still the process recorded then."""
    info = process_info(pid)
    return info is not None and (start_ticks is None or info.start_ticks == start_ticks)


def signal_group(process_group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signum)


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # the process ended while we looked
    return 0


def process_tree_pss(pid: int) -> int:
    """Proportional set size, in bytes, of process `pid` and all its descendants."""
    table = process_table()
    if pid not in table:
        return 0
    return 1024 * sum(_pss_kib(info.pid) for info in [table[pid], *descendants(pid, table)])


def platform_memory_pss(component_pids: Mapping[str, int]) -> dict[str, int]:
    """PSS in bytes of each component (name -> main pid), its children included.

    PSS shares memory that processes have in common (forked workers) instead of counting
    it once per process as RSS does, so the sum is what the platform really costs.
    Use it with `Platform.component_pids`.
    """
    return {name: process_tree_pss(pid) for name, pid in component_pids.items()}


def process_trees(recorded: list[tuple[int, int | None]]) -> dict[int, ProcessInfo]:
    """The running processes of components recorded as (pid, start ticks): the members of
    their process groups and their descendants."""
    table = process_table()
    targets: dict[int, ProcessInfo] = {}
    for pid, ticks in recorded:
        leader = table.get(pid)
        if leader is not None and ticks is not None and leader.start_ticks != ticks:
            continue  # the pid was reused by an unrelated process
        # Each component leads its own group (pgid == pid); Linux keeps a group's id from
        # being reused while any member lives, so the members are the component's.
        targets.update((i.pid, i) for i in table.values() if i.process_group == pid)
        if leader is not None:
            # Task processes put themselves in groups of their own: follow the tree too.
            targets.update((d.pid, d) for d in [leader, *descendants(pid, table)])
    return targets


def start_ticks(pid: int) -> int | None:
    info = process_info(pid)
    return info.start_ticks if info else None


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: a forked child should only call it


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the supervisor dies, even by SIGKILL."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
