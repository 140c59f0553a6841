"""The container engine (docker or podman) that builds and pushes, and the Python of a base
image, asked once from the image itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from flowui.config import DEFAULT_BASE_IMAGE
from flowui.operators.images.base import (
    MINIMUM_PYTHON,
    OUTPUT_TAIL_LINES,
    ImageBuildError,
)

ENGINES = ("docker", "podman")
EngineName = Literal["docker", "podman"]
PROBE_TIMEOUT_SECONDS = 120.0

# --- the container engine --------------------------------------------------------------------


@dataclass(frozen=True)
class EngineResult:
    returncode: int
    tail: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class ContainerEngine:
    """The docker or podman command line, run with `environ` (default: this process's)."""

    name: EngineName
    executable: str
    environ: Mapping[str, str] | None = None

    def environment(self) -> dict[str, str]:
        environ = dict(os.environ if self.environ is None else self.environ)
        if self.name == "docker":
            environ["DOCKER_BUILDKIT"] = "1"  # RUN --mount needs BuildKit
        return environ

    def capture(
        self, *arguments: str, timeout: float | None = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.executable, *arguments],
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                check=False,
                env=self.environment(),
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(
                [self.executable, *arguments], 124, "", f"no answer within {timeout:.0f} s"
            )

    def stream(
        self,
        *arguments: str,
        on_line: Callable[[str], None] | None = None,
        input: str | None = None,
    ) -> EngineResult:
        """Run a long command (build, pull, push), calling `on_line` with each output line."""
        return stream_command(
            [self.executable, *arguments],
            environ=self.environment(),
            on_line=on_line,
            input=input,
        )

    def image_id(self, image: str) -> str | None:
        """The id of a local image, or None if the engine does not have it."""
        found = self.capture("image", "inspect", "--format", "{{.Id}}", image)
        return found.stdout.strip() or None if found.returncode == 0 else None


def stream_command(
    command: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    input: str | None = None,
) -> EngineResult:
    """Run `command` with stdout and stderr merged, line by line to `on_line`; keep the tail."""
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(environ) if environ is not None else None,
    )
    if input is not None:
        assert process.stdin is not None
        process.stdin.write(input.encode())
        process.stdin.close()
    assert process.stdout is not None
    try:
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            tail.append(line)
            if on_line is not None:
                on_line(line)
    finally:
        process.stdout.close()
        returncode = process.wait()
    return EngineResult(returncode, list(tail))


def detect_engine(
    requested: str | None = None, environ: Mapping[str, str] | None = None
) -> ContainerEngine:
    """The container engine to use: `requested`, else docker if its engine answers, else podman.

    The docker command line alone is not enough: it must reach a Docker engine.
    """
    if requested is not None and requested not in ENGINES:
        raise ImageBuildError(
            f"unknown container engine {requested!r}", hint=f"choose one of {', '.join(ENGINES)}"
        )
    candidates = [requested] if requested else list(ENGINES)
    reasons = []
    for name in candidates:
        executable = shutil.which(name, path=(environ or os.environ).get("PATH"))
        if executable is None:
            reasons.append(f"{name}: not installed")
            continue
        engine = ContainerEngine(name, executable, environ)  # type: ignore[arg-type]
        template = "{{.ServerVersion}}" if name == "docker" else "{{.Version.Version}}"
        answer = engine.capture("info", "--format", template, timeout=30)
        if answer.returncode == 0 and answer.stdout.strip():
            return engine
        why = (answer.stderr.strip() or answer.stdout.strip()).splitlines()
        reasons.append(
            f"{name}: installed, but its engine does not answer ({why[-1] if why else ''})"
        )
    raise ImageBuildError(
        "no container engine answers: " + "; ".join(reasons),
        hint="install podman (apt-get install podman) or start Docker"
        + ("" if requested else ", or choose one with --engine"),
    )


# --- the Python of an image ------------------------------------------------------------------

_PROBE = """\
import json, os, platform, sys
try:
    import venv  # noqa: F401
    has_venv = True
except ImportError:
    has_venv = False
libc, libc_version = platform.libc_ver()
implementation = sys.implementation.version
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:2]),
    "machine": platform.machine(),
    "libc": libc,
    "libc_version": libc_version,
    "venv": has_venv,
    "markers": {
        "implementation_name": sys.implementation.name,
        "implementation_version": "%d.%d.%d" % implementation[:3],
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": "%d.%d" % sys.version_info[:2],
        "sys_platform": sys.platform,
    },
}))
"""


@dataclass(frozen=True)
class ImagePython:
    """The Python of a base image: what its wheels must be built for."""

    implementation: str
    version: tuple[int, int]
    machine: str
    libc: str
    libc_version: tuple[int, int]
    # PEP 508's environment markers as the image's Python evaluates them (sorted pairs).
    markers: tuple[tuple[str, str], ...] = ()

    def marker_environment(self) -> dict[str, str]:
        """The environment to evaluate requirement markers in for this Python (pip evaluates
        them for the host's own, whatever Python it downloads for)."""
        return dict(self.markers)

    def describe(self) -> str:
        libc = f"{self.libc} {'.'.join(map(str, self.libc_version))}" if self.libc else "musl"
        name = "CPython" if self.implementation == "cpython" else self.implementation
        return f"{name} {self.version[0]}.{self.version[1]} on {self.machine} ({libc})"

    def platform_tags(self) -> list[str]:
        """Every wheel platform tag that runs on the image, newest first."""
        arch = self.machine
        if self.libc == "glibc":
            major, minor = self.libc_version
            tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            for glibc_minor, alias in legacy.items():
                if major == 2 and minor >= glibc_minor:
                    tags.append(f"{alias}_{arch}")
            return tags
        return [f"musllinux_1_{m}_{arch}" for m in (2, 1, 0)]

    def pip_target_arguments(self) -> list[str]:
        """`pip download` options that select wheels for this Python."""
        implementation = {"cpython": "cp", "pypy": "pp"}.get(self.implementation, "py")
        arguments = [
            "--python-version",
            f"{self.version[0]}.{self.version[1]}",
            "--implementation",
            implementation,
        ]
        for tag in self.platform_tags():
            arguments += ["--platform", tag]
        return arguments


def ensure_local_image(
    engine: ContainerEngine, image: str, *, on_line: Callable[[str], None] | None = None
) -> None:
    """Make sure the engine has `image`, pulling it if needed."""
    if engine.image_id(image):
        return
    pulled = engine.stream("pull", image, on_line=on_line)
    if not pulled.ok:
        raise ImageBuildError(
            f"base image {image} is not among {engine.name}'s images and could not be pulled",
            hint=f"pull or build it first (`{engine.name} pull {image}`), or choose another "
            "base image with --base-image",
            output_tail=pulled.tail,
        )


def probe_python(engine: ContainerEngine, image: str) -> ImagePython:
    """Ask the image itself which Python it has (one short container, no network)."""
    answer = engine.capture(
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "python3",
        image,
        "-c",
        _PROBE,
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    lines = answer.stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if answer.returncode == 0 and lines else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise ImageBuildError(
            f"cannot run python3 in image {image}: FlowUI's task part needs Python "
            f">= {MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]} in the base image",
            hint=f"choose a base image with Python (--base-image {DEFAULT_BASE_IMAGE})",
            output_tail=(answer.stdout + answer.stderr).strip().splitlines()[-OUTPUT_TAIL_LINES:],
        )
    python = ImagePython(
        implementation=str(found["implementation"]),
        version=(int(found["version"][0]), int(found["version"][1])),
        machine=str(found["machine"]),
        libc=str(found["libc"]),
        libc_version=_version_pair(str(found["libc_version"])),
        markers=tuple(sorted((str(k), str(v)) for k, v in found["markers"].items())),
    )
    if python.version < MINIMUM_PYTHON:
        raise ImageBuildError(
            f"image {image} has Python {python.version[0]}.{python.version[1]}; FlowUI needs "
            f">= {MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]}",
            hint=f"choose a base image with a newer Python (--base-image {DEFAULT_BASE_IMAGE})",
        )
    if not found.get("venv"):
        raise ImageBuildError(
            f"the python3 of image {image} has no venv module",
            hint="install it in the base image (Debian and Ubuntu: the python3-venv package)",
        )
    return python


def _version_pair(text: str) -> tuple[int, int]:
    parts = [int(part) for part in re.findall(r"\d+", text)[:2]]
    return (parts[0], parts[1]) if len(parts) == 2 else (0, 0)
