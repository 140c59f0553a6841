"""Environments of dependency groups for the `process` runtime: one cached virtualenv per group.

An environment is built once with uv, in a hidden directory next to its final place, and
renamed into place only when complete (a marker file inside says so), under a file lock so
tasks that need the same environment at once wait for one build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import ValidationError

from flowui.operators.metadata import Dependency
from flowui.sandbox import share_read_only

MARKER = "flowui-environment.json"
# Bump when the way environments are built changes, so old ones are not reused.
LAYOUT_VERSION = 1
UV_OUTPUT_TAIL = 30
IMPORT_CHECK = "import flowui.runtime.task"

Log = Callable[[str], None]


class EnvironmentBuildError(Exception):
    """An environment cannot be had; the message says why (with uv's last output if it ran)."""


class UnsupportedDependencyError(EnvironmentBuildError):
    """The dependency group needs a container image, which the process runtime cannot give."""


@dataclass(frozen=True)
class FlowuiInstall:
    """How flowui gets into an environment: `uv pip install` arguments and what they stand for."""

    arguments: tuple[str, ...]
    identity: str


def environment_for(
    repository_path: Path,
    dependency: Mapping[str, str | None],
    *,
    cache_dir: Path,
    timeout: float = 900,
    log: Log | None = None,
) -> Path:
    """The Python interpreter to run `flowui-task` with for an operator's dependency group.

    `dependency` is the operator's metadata `dependency`. No dependency: this interpreter.
    A requirements file: a virtualenv cached under `cache_dir`, built the first time.
    """
    try:
        parsed = Dependency.model_validate(dict(dependency))
    except ValidationError as error:
        problems = "; ".join(item["msg"] for item in error.errors())
        raise EnvironmentBuildError(
            f"invalid dependency {dict(dependency)!r}: {problems}"
        ) from None
    if parsed.dockerfile is not None or parsed.docker_image is not None:
        kind, value = parsed.key()
        raise UnsupportedDependencyError(
            f"the dependency group {kind}={value!r} needs a container image, which the process "
            "runtime cannot provide: run these operators with the docker runtime"
        )
    if parsed.requirements_file is None:
        return Path(sys.executable)

    requirements = Path(repository_path) / "dependencies" / parsed.requirements_file
    if not requirements.is_file():
        raise EnvironmentBuildError(f"requirements file {requirements} does not exist")
    content = requirements.read_bytes()
    flowui = flowui_install()
    key = environment_key(content, flowui.identity)
    directory = Path(cache_dir) / key
    python = directory / "bin" / "python"
    if (directory / MARKER).is_file():  # complete: renamed into place with its marker inside
        return python

    say = log or (lambda _line: None)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(directory.parent / f"{key}.lock", timeout, say):
        if (directory / MARKER).is_file():  # another task built it while we waited
            return python
        _discard_leftovers(directory)
        started = time.monotonic()
        say(f"building the environment of {requirements.name} in {directory}")
        staging = directory.parent / f".{key}.building-{uuid.uuid4().hex[:8]}"
        try:
            _build(staging, requirements, flowui, timeout, say)
            marker = {
                "requirements_file": str(requirements),
                "requirements_sha256": hashlib.sha256(content).hexdigest(),
                "python": _python_identity(),
                "flowui": flowui.identity,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            share_read_only(staging)  # the sandboxes of every workspace's tasks run it
            os.rename(staging, directory)  # the commit: before it, nobody uses the environment
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        say(f"environment ready in {time.monotonic() - started:.1f} s: {python}")
    return python


def environment_key(requirements: bytes, flowui_identity: str) -> str:
    """The cache key of an environment: what is installed, for which Python, with which flowui."""
    identity = {
        "layout": LAYOUT_VERSION,
        "requirements_sha256": hashlib.sha256(requirements).hexdigest(),
        "python": _python_identity(),
        "flowui": flowui_identity,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def flowui_install() -> FlowuiInstall:
    """How flowui is installed here, so an environment gets the same flowui (no extras).

    An editable install from a local checkout (development) is installed editable from that
    checkout; a local wheel or directory from that file; anything else by its version.
    """
    try:
        distribution = importlib.metadata.distribution("flowui")
    except importlib.metadata.PackageNotFoundError:
        raise EnvironmentBuildError(
            "flowui is not installed as a package in this environment, so a task environment "
            "cannot get the same flowui: install it (uv pip install -e <checkout>)"
        ) from None
    version = distribution.version
    direct_url = json.loads(distribution.read_text("direct_url.json") or "{}")
    url = urlparse(str(direct_url.get("url", "")))
    if url.scheme == "file":
        source = Path(unquote(url.path))
        if source.exists():
            if direct_url.get("dir_info", {}).get("editable"):
                # The code is read from the checkout; only its declared dependencies matter.
                pyproject = source / "pyproject.toml"
                digest = _sha256_of(pyproject) if pyproject.is_file() else "none"
                return FlowuiInstall(
                    ("-e", str(source)), f"editable {source} {version} pyproject {digest}"
                )
            archive_hash = direct_url.get("archive_info", {}).get("hash", "")
            return FlowuiInstall((str(source),), f"local {source} {version} {archive_hash}")
    return FlowuiInstall((f"flowui=={version}",), f"flowui=={version}")


def find_uv() -> str:
    """The uv executable: the `uv` package's (a dependency of the platform), else PATH's, else
    the one running us (`uv run` names itself in $UV)."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pass
    else:
        with contextlib.suppress(FileNotFoundError):
            return str(find_uv_bin())
    found = shutil.which("uv")
    if found:
        return found
    running = os.environ.get("UV")
    if running and Path(running).is_file():
        return running
    raise EnvironmentBuildError(
        "uv is needed to build the environments of dependency groups but was not found: "
        "install FlowUI's platform part (pip install 'flowui[airflow]'), which carries it"
    )


def _build(
    staging: Path, requirements: Path, flowui: FlowuiInstall, timeout: float, say: Log
) -> None:
    uv = find_uv()
    deadline = time.monotonic() + timeout  # for the whole build, not per step

    def step(what: str, *command: str) -> None:
        _run(list(command), what, deadline, timeout, staging.parent, say)

    options = ("--no-progress", "--color", "never")
    step(
        "creating the virtualenv",
        *(uv, "venv", *options, "--relocatable", "--no-project"),
        *("--python", sys.executable, str(staging)),
    )
    python = str(staging / "bin" / "python")
    # One resolution for both, so the requirements cannot silently replace flowui's own needs.
    step(
        f"installing {requirements}",
        *(uv, "pip", "install", *options, "--python", python),
        *("-r", str(requirements), *flowui.arguments),
    )
    step("checking that flowui imports in the new environment", python, "-c", IMPORT_CHECK)


def _run(
    command: list[str],
    what: str,
    deadline: float,
    timeout: float,
    cwd: Path,
    say: Log,
) -> None:
    """Run one build step, its output to `say`; raise with the output's tail if it fails."""
    tail: deque[str] = deque(maxlen=UV_OUTPUT_TAIL)
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd,  # not the repository: no uv configuration of its own is picked up from there
        env={**os.environ, "COLUMNS": "10000"},  # uv wraps messages at COLUMNS: one per line
        start_new_session=True,  # a timeout stops uv's build backends too
    )
    assert process.stdout is not None

    def follow(stream: Iterator[str]) -> None:
        for line in stream:
            tail.append(line.rstrip("\n"))
            say(line.rstrip("\n"))

    reader = threading.Thread(target=follow, args=(process.stdout,), daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:  # also when we are interrupted: never leave uv running
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=5)
    if timed_out:
        raise EnvironmentBuildError(
            f"{what} did not finish within {timeout:g} s; its last output:\n" + "\n".join(tail)
        )
    if process.returncode != 0:
        raise EnvironmentBuildError(
            f"{what} failed (exit code {process.returncode}):\n" + "\n".join(tail)
        )


@contextlib.contextmanager
def _exclusive_lock(path: Path, timeout: float, say: Log) -> Iterator[None]:
    # flock belongs to the open file: threads and processes exclude each other alike, and the
    # kernel releases it when a builder dies.
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another task that is building the same environment ({path})")
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(0.1)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EnvironmentBuildError(
                            f"another task held {path} for more than {timeout:g} s"
                        ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _discard_leftovers(directory: Path) -> None:
    """Remove what a builder that died left behind; only called under the environment's lock."""
    for staging in directory.parent.glob(f".{directory.name}.building-*"):
        shutil.rmtree(staging, ignore_errors=True)
    if directory.exists():  # no marker: not ours to trust
        shutil.rmtree(directory)


def _python_identity() -> dict[str, str]:
    # The venv links to the base interpreter, so its place matters as much as its version.
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "base_prefix": sys.base_prefix,
        "platform": f"{sys.platform}-{platform.machine()}",
    }


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
