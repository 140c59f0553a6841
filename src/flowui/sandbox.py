"""Confining code from operators repositories with bubblewrap (docs/security-model.md).

Wherever the platform runs code that a repository supplies (its model files at import, its
operators in the `process` runtime, dry runs started by the server) it runs it in a sandbox.
A `Sandbox` says what one process tree may see and use, and `wrap` turns a command into a
bubblewrap (`bwrap`) command line that gives it:

- exactly the environment it is handed (PATH, HOME, TMPDIR and LANG by default): none of the
  platform's own variables, tokens or passwords;
- no network, unless asked for (a network namespace of its own holds only a loopback);
- a file system of the system's /usr, a few files of /etc, its Python environment and the paths
  it is given, each read-only or read-write, a private /tmp and nothing else: no platform
  state, database, key file or other workspace;
- process, IPC and host-name namespaces of its own: no other process of the machine is visible;
- limits on CPU time, memory (data segment) and processes (`prlimit`), no core dumps, no
  capability and no new privileges. When the platform runs as root, the sandbox runs as an
  unprivileged uid of its own (`setpriv`), since root is exempt from the process limit;
  otherwise as the platform's user in a user namespace.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

BWRAP = "bwrap"
# util-linux: run inside the sandbox, where only /usr holds programs.
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"

# The system's top-level program and library folders: links into /usr (merged /usr) are
# re-created, real folders are bound read-only.
_SYSTEM_FOLDERS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What programs read from /etc: the loader's cache, time zone, TLS roots, name resolution.
_ETC_ENTRIES = (
    "ld.so.cache",
    "localtime",
    "ssl",
    "ca-certificates",
    "pki",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "resolv.conf",
    "gai.conf",
    "mime.types",
)
DEFAULT_ENVIRON = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
}
_MIB = 1 << 20


class SandboxUnavailable(Exception):
    """No sandbox can be had here, or one would show what it must hide; the message says why
    and what to do."""


@dataclass(frozen=True)
class Limits:
    """Per-process limits inside a sandbox; None: no limit of that kind."""

    cpu_seconds: int | None = None
    memory_mib: int | None = None
    processes: int | None = None

    def prlimit_arguments(self) -> list[str]:
        arguments = ["--core=0"]  # a core dump would hold the process's secrets
        if self.cpu_seconds is not None:
            arguments.append(f"--cpu={self.cpu_seconds}")
        if self.memory_mib is not None:
            arguments.append(f"--data={self.memory_mib * _MIB}")
        if self.processes is not None:
            arguments.append(f"--nproc={self.processes}")
        return arguments


@dataclass(frozen=True)
class SandboxedCommand:
    """What to start: `argv` with exactly `env` as its environment (bwrap hands it on)."""

    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Sandbox:
    """What one sandboxed process tree may see and use.

    :param python: the interpreter it runs, if any; its environment (prefixes and sys.path) is
        visible read-only
    :param read_only: paths visible read-only, at their own place
    :param writable: paths visible read-write, at their own place (they must exist, owned by
        `uid` when one is given)
    :param hidden: paths that must stay out of sight: a bound path that is or holds one is
        refused (SandboxUnavailable) instead of shown
    :param network: whether the host's network is reachable (else only a loopback of its own)
    :param uid: the uid and gid to run as; only a platform that runs as root can give one.
        None: the caller's own, in a user namespace
    :param limits: CPU time, memory and processes
    :param tmp_mib: size of the private /tmp (memory-backed)
    """

    python: Path | None = None
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    network: bool = False
    uid: int | None = None
    limits: Limits = field(default_factory=Limits)
    tmp_mib: int = 512

    def identity(self) -> str:
        """A digest of everything that shapes the sandbox: processes that may share one
        sandbox (a fork server's tasks) must have the same identity. A bound folder is known by
        its inode too: one replaced by another of the same name (a repository installed again,
        a workspace's tree made anew) is another sandbox's, as a bind shows the old one."""
        facts = {
            "python": str(self.python),
            "read_only": sorted(map(_path_identity, self.read_only)),
            "writable": sorted(map(_path_identity, self.writable)),
            "network": self.network,
            "uid": self.uid,
            "limits": [self.limits.cpu_seconds, self.limits.memory_mib, self.limits.processes],
            "tmp_mib": self.tmp_mib,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]

    def wrap(
        self,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        *,
        die_with_parent: bool = True,
    ) -> SandboxedCommand:
        """`argv` run inside this sandbox, with `environ` over DEFAULT_ENVIRON as its whole
        environment. Raises SandboxUnavailable when a bound path would show a hidden one."""
        environment = python_environment(str(self.python)) if self.python else ()
        binds = _bound_paths([*environment, *self.read_only], self.writable)
        self._refuse_hidden(binds)
        command = [BWRAP, "--unshare-ipc", "--unshare-pid", "--unshare-uts"]
        # The host name is left as it is: container engines' seccomp profiles refuse
        # sethostname without CAP_SYS_ADMIN, and /etc/hosts shows it anyway.
        command += ["--unshare-cgroup-try", "--new-session"]
        if not self.network:
            command.append("--unshare-net")
        if die_with_parent:
            command.append("--die-with-parent")
        if self.uid is None:
            command += ["--unshare-user", "--disable-userns"]
        else:
            # bwrap runs privileged (no user namespace), keeps only what setpriv needs to
            # drop to the sandbox's uid, and setpriv drops that too.
            command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        command += ["--ro-bind", "/usr", "/usr"]
        for folder in _SYSTEM_FOLDERS:
            if os.path.islink(folder):
                command += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                command += ["--ro-bind", folder, folder]
        command += ["--perms", "0755", "--dir", "/etc"]
        for entry in _ETC_ENTRIES:
            command += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        command += ["--proc", "/proc", "--dev", "/dev"]
        command += ["--perms", "1777", "--size", str(self.tmp_mib * _MIB), "--tmpfs", "/tmp"]
        command += ["--perms", "1777", "--size", str(self.tmp_mib * _MIB), "--tmpfs", "/dev/shm"]
        for directory in _ancestors(path for path, _ in binds):
            command += ["--perms", "0755", "--dir", str(directory)]
        for path, writable in binds:
            command += ["--bind" if writable else "--ro-bind", str(path), str(path)]
        command += ["--chdir", "/tmp", "--"]
        if self.uid is not None:
            command += [SETPRIV, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
            command += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        command += [PRLIMIT, *self.limits.prlimit_arguments(), "--", *argv]
        return SandboxedCommand(command, {**DEFAULT_ENVIRON, **(environ or {})})

    def prepare(self) -> None:
        """Create the writable paths that are missing and, for a sandbox with its own uid,
        give it those folders (not what they hold: that keeps its owners)."""
        for path in self.writable:
            path.mkdir(parents=True, exist_ok=True)
            if self.uid is not None:
                give_to(path, self.uid)

    def _refuse_hidden(self, binds: Iterable[tuple[Path, bool]]) -> None:
        for path, _writable in binds:
            if path == Path("/"):
                raise SandboxUnavailable("the sandbox would show the whole file system")
            for hidden in self.hidden:
                if hidden == path or path in hidden.parents:
                    raise SandboxUnavailable(
                        f"{path} would show {hidden} to repository code: keep the platform's "
                        "Python environment and FlowUI's code outside the file-system root "
                        "and the project directory"
                    )


def _path_identity(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return str(path)
    return f"{path}\0{status.st_dev}:{status.st_ino}"


def give_to(path: Path, uid: int, gid: int | None = None) -> None:
    """Make `path` (one file or folder) owned by `uid` and `gid` (default: the group of the
    uid's number), if it is not already."""
    gid = uid if gid is None else gid
    status = path.lstat()
    if status.st_uid != uid or status.st_gid != gid:
        os.lchown(path, uid, gid)


def share_read_only(tree: Path) -> None:
    """Let every user read `tree` (folders and files; executables stay executable), so that a
    sandbox of another uid can: for checkouts and environments, which hold code, never
    secrets. Links are left as they are."""
    for path in (tree, *tree.rglob("*")):
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            continue
        mode = stat.S_IMODE(status.st_mode)
        wanted = mode | 0o044
        if stat.S_ISDIR(status.st_mode) or mode & 0o100:
            wanted |= 0o011
        if wanted != mode:
            os.chmod(path, wanted)


@functools.lru_cache(maxsize=64)
def python_environment(python: str) -> tuple[Path, ...]:
    """What interpreter `python` reads: its prefixes and the entries of its sys.path (an
    editable install's source folder among them) that exist."""
    code = (
        "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix,"
        " sys.base_exec_prefix, *sys.path]))"
    )
    try:
        found = subprocess.run(
            [python, "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env=DEFAULT_ENVIRON,
            check=True,
        )
        paths = [Path(entry) for entry in json.loads(found.stdout) if entry]
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        raise SandboxUnavailable(f"cannot ask {python} for its paths: {error}") from None
    paths.append(Path(os.path.realpath(python)).parent)
    return tuple(path for path in dict.fromkeys(paths) if path.exists())


def _bound_paths(read_only: Iterable[Path], writable: Iterable[Path]) -> list[tuple[Path, bool]]:
    """(path, writable) to bind, shallowest first so that a path inside another is bound over
    it; paths inside /usr or inside a bound path of the same kind are left out."""
    chosen: dict[Path, bool] = {}
    for path, is_writable in [*((p, False) for p in read_only), *((p, True) for p in writable)]:
        path = Path(os.path.abspath(path))
        if path == Path("/usr") or Path("/usr") in path.parents:
            continue
        chosen[path] = chosen.get(path, False) or is_writable
    kept: list[tuple[Path, bool]] = []
    for path in sorted(chosen, key=lambda p: len(p.parts)):
        covered = any(
            other in path.parents and writable_other == chosen[path]
            for other, writable_other in kept
        )
        if not covered:
            kept.append((path, chosen[path]))
    return kept


def _ancestors(paths: Iterable[Path]) -> list[Path]:
    """The folders bwrap creates to hold the bound paths, shallowest first."""
    found = {parent for path in paths for parent in path.parents if parent != Path("/")}
    return sorted(found, key=lambda p: (len(p.parts), str(p)))


def missing_tool() -> str | None:
    """What sandboxes lack here among the programs they need, or None (a cheap check: nothing
    is started)."""
    if shutil.which(BWRAP) is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    for tool in (SETPRIV, PRLIMIT):
        if not os.access(tool, os.X_OK):
            return f"{tool} (util-linux) is missing"
    return None


@functools.lru_cache(maxsize=8)
def unavailable_reason(uid: int | None, python: str | None = None) -> str | None:
    """Why no sandbox of this kind (a uid of its own or not) can run here, or None when one
    can: the programs present, and a sandbox that starts `python` (its environment readable
    by that uid) or, without one, `true`."""
    missing = missing_tool()
    if missing is not None:
        return missing
    if uid is not None and os.geteuid() != 0:
        return "only a platform that runs as root can run sandboxes as a uid of their own"
    try:
        sandbox = Sandbox(python=Path(python) if python else None, uid=uid)
        probe = sandbox.wrap([python, "-I", "-c", "pass"] if python else ["/usr/bin/true"])
        result = subprocess.run(
            probe.argv, env=probe.env, capture_output=True, text=True, timeout=60
        )
    except SandboxUnavailable as error:
        return str(error)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap cannot start: {error}"
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.returncode}"]
        who = "" if uid is None else f" as uid {uid} (is its environment readable by others?)"
        started = f"{python}{who}" if python else "a sandbox here"
        return f"bubblewrap cannot start {started}: {detail[0]}"
    return None


class RemoteInspection(Protocol):
    """Model files inspected elsewhere than in a sandbox here, in a confinement of their own
    (`flowui.cloud.inspection.InspectionJobs`: AWS Batch jobs)."""

    def check(self) -> None:
        """Raise SandboxUnavailable, saying why, when no inspection can be started."""

    def inspect(
        self,
        jobs: Sequence[Any],
        *,
        timeout: float,
        on_done: Callable[[str], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Each `operators.inspection.ModelJob`'s result, by operator name."""
        ...


@dataclass(frozen=True)
class SandboxPolicy:
    """The platform's choices for sandboxes (settings FLOWUI_SANDBOX and FLOWUI_SANDBOX_*,
    FLOWUI_TASK_NETWORK: config.py). `enabled`: repository code runs only confined;
    `inspection_jobs`: imports inspect model files there (FLOWUI_SANDBOX=aws_batch), not in a
    sandbox here; tasks of the process runtime still need one."""

    enabled: bool = True
    inspection_jobs: RemoteInspection | None = None
    uid_base: int = 200_000
    task_network: bool = True
    cpu_seconds: int = 86_400
    processes: int = 512

    def uid(self, workspace_id: int | None = None) -> int | None:
        """The uid that sandboxes of a workspace (None: imports, and workflows compiled without
        the server) run as: one of their own when the platform runs as root, else None (the
        platform's own, in a user namespace)."""
        return self.uid_base + (workspace_id or 0) if os.geteuid() == 0 else None

    def check(self, uid: int | None, python: Path | None = None) -> None:
        """Raise SandboxUnavailable, saying why and what to do, if sandboxes of `uid` cannot
        start `python` here (the result is kept for the life of this process)."""
        self._raise_for(unavailable_reason(uid, str(python) if python else None))

    def check_tools(self) -> None:
        """Like `check`, but only that the programs are there: cheap enough for every task."""
        self._raise_for(missing_tool())

    @staticmethod
    def _raise_for(reason: str | None) -> None:
        if reason is not None:
            raise SandboxUnavailable(
                f"no sandbox for code from operators repositories: {reason}. FlowUI runs such "
                "code only in a sandbox; the platform's administrator may set FLOWUI_SANDBOX=none "
                "to run it unconfined, only if every repository source is trusted"
            )
