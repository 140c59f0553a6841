"""Container images of an operators repository: one per dependency group, built with docker or
podman from generated Dockerfiles, and pushed to the repository's registry.

Image builds need no network: the host downloads every wheel a group needs (for the Python and
machine of the base image, asked once from the image itself) into the build context, and the
Dockerfile installs them with `pip install --no-index`. The same repository, base image and
FlowUI version always give byte-identical Dockerfiles.

What an image holds (the container runtimes rely on it):

    /opt/flowui/venv/              a virtualenv on PATH: FlowUI's task part (`flowui` without
                                   extras: `flowui-task`, the SDK, storage) and the group's
                                   requirements
    /opt/flowui/requirements.txt   what was installed, pinned, with hashes; FlowUI itself is
    /opt/flowui/flowui-requirement.txt   in the second file (installed in a layer of its own)
    /opt/flowui/repository/        config.toml, .flowui/, dependencies/ and operators/ of the
                                   repository: a TaskSpec's `operator.repository_path`
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS
from flowui.operators.metadata import DEFAULT_REGISTRY, IMAGE_REFERENCE, RepositoryConfig
from flowui.operators.organize import (
    COMPILED_METADATA_FILE,
    DEPENDENCIES_MAP_FILE,
    FLOWUI_DIR,
    OrganizeResult,
    organize_repository,
)
from flowui.operators.validate import CONFIG_FILE, DEPENDENCIES_DIR, OPERATORS_DIR

# --- the image layout (the container runtimes import these) ------------------------------------

# Paths inside the image (POSIX paths, as strings).
IMAGE_FLOWUI_HOME = "/opt/flowui"
IMAGE_VENV_PATH = f"{IMAGE_FLOWUI_HOME}/venv"
IMAGE_REPOSITORY_PATH = f"{IMAGE_FLOWUI_HOME}/repository"
IMAGE_REQUIREMENTS_PATH = f"{IMAGE_FLOWUI_HOME}/requirements.txt"
IMAGE_FLOWUI_REQUIREMENT_PATH = f"{IMAGE_FLOWUI_HOME}/flowui-requirement.txt"
# Set in every image, so code in a container can find the repository without a TaskSpec.
REPOSITORY_PATH_VARIABLE = "FLOWUI_REPOSITORY_PATH"

# Fully qualified: Podman resolves no short names without a configured search registry.
DEFAULT_BASE_IMAGE = "docker.io/library/python:3.11-slim"
BASE_IMAGE_VARIABLE = "FLOWUI_BASE_IMAGE"
ENGINE_VARIABLE = "FLOWUI_CONTAINER_ENGINE"
WHEEL_CACHE_VARIABLE = "FLOWUI_WHEEL_CACHE"
# Credentials of a registry other than Amazon ECR; read from the environment only.
REGISTRY_USERNAME_VARIABLE = "FLOWUI_REGISTRY_USERNAME"
REGISTRY_PASSWORD_VARIABLE = "FLOWUI_REGISTRY_PASSWORD"

ENGINES = ("docker", "podman")
EngineName = Literal["docker", "podman"]
MINIMUM_PYTHON = (3, 11)  # FlowUI's own requires-python
LABEL_PREFIX = "io.flowui"
INTERMEDIATE_REGISTRY = "localhost/flowui-base"
OUTPUT_TAIL_LINES = 25
PROBE_TIMEOUT_SECONDS = 120.0
# Files of the build context get this modification time, so an engine's layer cache depends on
# their content only (1980-01-01, the earliest time a zip file can hold).
CONTEXT_MTIME = 315532800

_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
# "ERROR: Could not find a version that satisfies the requirement NAME..." (pip)
_PIP_NO_VERSION = re.compile(r"requirement (?P<requirement>\S+)")
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")

StatusCallback = Callable[[str, str], None]  # (group, what is happening)
OutputCallback = Callable[[str, str], None]  # (group, a line of the engine's or pip's output)


class ImageBuildError(Exception):
    """A build or push that cannot go on; says what and where, with a hint and the tail of the
    failing command's output."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        group: str | None = None,
        output_tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.group = group
        self.output_tail = list(output_tail)

    def __str__(self) -> str:
        prefix = f"{self.group}: " if self.group else ""
        return prefix + self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "hint": self.hint,
            "group": self.group,
            "output_tail": self.output_tail,
        }


# --- what to build ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupImage:
    """One dependency group of `.flowui/dependencies_map.json` and its image."""

    group: str
    image: str
    operators: tuple[str, ...]
    requirements_file: str | None = None
    dockerfile: str | None = None
    docker_image: str | None = None

    @property
    def built(self) -> bool:
        """Whether `flowui operators build` builds it (a `docker_image` group is used as is)."""
        return self.docker_image is None

    @property
    def kind(self) -> str:
        if self.docker_image:
            return "docker_image"
        if self.dockerfile:
            return "dockerfile"
        if self.requirements_file:
            return "requirements_file"
        return "flowui"


@dataclass(frozen=True)
class ImagePlan:
    """The images of one repository: everything the Dockerfiles are made of."""

    repository: Path
    repository_name: str
    version: str
    base_image: str
    flowui_version: str
    groups: tuple[GroupImage, ...]

    def intermediate_image(self, group: GroupImage) -> str:
        """The local tag of a group's own `Dockerfile_*` image, which its image builds on."""
        return (
            f"{INTERMEDIATE_REGISTRY}/{self.repository_name.lower()}:{self.version}-{group.group}"
        )


def flowui_version() -> str:
    try:
        return importlib.metadata.version("flowui")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def check_base_image(base_image: str) -> str:
    """`base_image` if it is an image reference; it is written into Dockerfiles."""
    if not IMAGE_REFERENCE.fullmatch(base_image):
        raise ImageBuildError(
            f"base image {base_image!r} is not an image reference",
            hint="give one such as python:3.11-slim or registry.example.com/team/python:3.12",
        )
    return base_image


def plan_images(
    repository: Path,
    config: RepositoryConfig,
    dependencies_map: Mapping[str, Any],
    *,
    base_image: str = DEFAULT_BASE_IMAGE,
    groups: Sequence[str] | None = None,
) -> ImagePlan:
    """The images of the groups of `dependencies_map` (all, or those named in `groups`)."""
    ordered = sorted(dependencies_map, key=_group_number)
    if groups:
        unknown = [name for name in groups if name not in dependencies_map]
        if unknown:
            raise ImageBuildError(
                f"no group {', '.join(unknown)} in {FLOWUI_DIR}/{DEPENDENCIES_MAP_FILE}",
                hint=f"the repository's groups: {', '.join(ordered) or 'none'}",
            )
        ordered = [name for name in ordered if name in groups]
    images = []
    for name in ordered:
        entry = dependencies_map[name]
        dependency = entry.get("dependency") or {}
        images.append(
            GroupImage(
                group=name,
                image=entry["source_image"],
                operators=tuple(entry.get("operators", ())),
                requirements_file=dependency.get("requirements_file"),
                dockerfile=dependency.get("dockerfile"),
                docker_image=dependency.get("docker_image"),
            )
        )
    return ImagePlan(
        repository=repository.resolve(),
        repository_name=config.name,
        version=config.version,
        base_image=check_base_image(base_image),
        flowui_version=flowui_version(),
        groups=tuple(images),
    )


def _group_number(name: str) -> tuple[int, str]:
    digits = name.removeprefix("group")
    return (int(digits), name) if digits.isdigit() else (sys.maxsize, name)


def organize_for_build(
    repository: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_inspecting: Callable[[int], None] | None = None,
    on_inspected: Callable[[str], None] | None = None,
) -> tuple[OrganizeResult, bool]:
    """Organize the repository (validate, then write `.flowui/`) so images are built from its
    current operators; also whether `.flowui/` was missing or out of date."""
    files = [
        repository / FLOWUI_DIR / name for name in (COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE)
    ]
    before = [path.read_bytes() if path.is_file() else None for path in files]
    result = organize_repository(
        repository, timeout=timeout, on_inspecting=on_inspecting, on_inspected=on_inspected
    )
    changed = result.report.ok and before != [path.read_bytes() for path in files]
    return result, changed


# --- Dockerfiles -----------------------------------------------------------------------------


def render_dockerfile(plan: ImagePlan, group: GroupImage) -> str:
    """The Dockerfile of a group's image: a pure function of the plan (byte-identical for the
    same repository, base image and FlowUI version).

    The build context it expects: `requirements.txt` and `flowui-requirement.txt` (pinned, with
    hashes), `install/pip.whl`, `install/wheels/*.whl` and `repository/`.
    """
    if not group.built:
        raise ValueError(f"{group.group} uses the ready-made image {group.docker_image}")
    base = plan.intermediate_image(group) if group.dockerfile else plan.base_image
    labels = {
        "org.opencontainers.image.title": f"{plan.repository_name} {group.group}",
        "org.opencontainers.image.version": plan.version,
        "org.opencontainers.image.base.name": base,
        f"{LABEL_PREFIX}.repository": plan.repository_name,
        f"{LABEL_PREFIX}.repository.version": plan.version,
        f"{LABEL_PREFIX}.group": group.group,
        f"{LABEL_PREFIX}.operators": ",".join(group.operators),
        f"{LABEL_PREFIX}.dependency": _dependency_label(group),
        f"{LABEL_PREFIX}.flowui.version": plan.flowui_version,
        f"{LABEL_PREFIX}.repository.path": IMAGE_REPOSITORY_PATH,
    }
    label_lines = " \\\n      ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in labels.items()
    )
    pip = (
        f"{IMAGE_VENV_PATH}/bin/python /tmp/flowui-install/pip.whl/pip install \\\n"
        "        --no-index --find-links /tmp/flowui-install/wheels \\\n"
        "        --no-cache-dir --disable-pip-version-check --no-warn-script-location"
    )
    return f"""\
# Generated by `flowui operators build` (FlowUI {plan.flowui_version}): the image of dependency
# group {group.group} of operators repository {plan.repository_name} {plan.version}.
# It is written anew at every build: to customise the image, give the group's operators a
# dependencies/Dockerfile_* to build on.
FROM {base}

ENV VIRTUAL_ENV={IMAGE_VENV_PATH} \\
    PATH={IMAGE_VENV_PATH}/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    {REPOSITORY_PATH_VARIABLE}={IMAGE_REPOSITORY_PATH}

# The group's requirements and FlowUI's dependencies, then FlowUI's task part itself (a layer
# of its own: a new FlowUI reinstalls only that), from wheels in the build context: the build
# needs no network. pip runs from its wheel, so the base image needs Python and venv only.
COPY requirements.txt {IMAGE_REQUIREMENTS_PATH}
RUN --mount=type=bind,source=install,target=/tmp/flowui-install \\
    python3 -m venv --without-pip {IMAGE_VENV_PATH} \\
    && {pip} --requirement {IMAGE_REQUIREMENTS_PATH}
COPY flowui-requirement.txt {IMAGE_FLOWUI_REQUIREMENT_PATH}
RUN --mount=type=bind,source=install,target=/tmp/flowui-install \\
    {pip} --no-deps --requirement {IMAGE_FLOWUI_REQUIREMENT_PATH}

COPY repository/ {IMAGE_REPOSITORY_PATH}/
WORKDIR {IMAGE_FLOWUI_HOME}

LABEL {label_lines}

CMD ["flowui-task", "--help"]
"""


def _dependency_label(group: GroupImage) -> str:
    if group.requirements_file:
        return f"{DEPENDENCIES_DIR}/{group.requirements_file}"
    if group.dockerfile:
        return f"{DEPENDENCIES_DIR}/{group.dockerfile}"
    return "flowui"


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
import json, platform, sys
try:
    import venv  # noqa: F401
    has_venv = True
except ImportError:
    has_venv = False
libc, libc_version = platform.libc_ver()
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:2]),
    "machine": platform.machine(),
    "libc": libc,
    "libc_version": libc_version,
    "venv": has_venv,
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


# --- wheels ----------------------------------------------------------------------------------


def pip_command() -> list[str]:
    """This interpreter's pip (the `images` extra brings it)."""
    try:
        importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        raise ImageBuildError(
            f"pip is not installed in FlowUI's environment ({sys.executable})",
            hint="install FlowUI's image tools: pip install 'flowui[images]'",
        ) from None
    return [sys.executable, "-m", "pip"]


def pip_requirement() -> str:
    """The pip that runs inside image builds: this environment's own version (from its wheel)."""
    pip_command()
    return f"pip=={importlib.metadata.version('pip')}"


def flowui_requirement(work_dir: Path, *, on_line: Callable[[str], None] | None = None) -> str:
    """What pip installs FlowUI's task part from: a wheel built from the checkout when this
    FlowUI is installed from a directory (editable or not), the wheel it was installed from, or
    else `flowui==VERSION` from the package index."""
    version = flowui_version()
    try:
        direct_url = json.loads(
            importlib.metadata.distribution("flowui").read_text("direct_url.json") or "null"
        )
    except (importlib.metadata.PackageNotFoundError, ValueError):
        direct_url = None
    url = direct_url.get("url", "") if isinstance(direct_url, dict) else ""
    local = Path(unquote(urlparse(url).path)) if url.startswith("file://") else None
    if local is not None and "dir_info" in direct_url and (local / "pyproject.toml").is_file():
        target = work_dir / "flowui-wheel"
        target.mkdir(parents=True, exist_ok=True)
        built = stream_command(
            [
                *pip_command(),
                "wheel",
                "--no-deps",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(target),
                str(local),
            ],
            on_line=on_line,
        )
        wheels = sorted(target.glob("flowui-*.whl"))
        if not built.ok or not wheels:
            raise ImageBuildError(
                f"cannot build a wheel of FlowUI from {local}",
                hint="check that `pip wheel --no-deps` works there",
                output_tail=built.tail,
            )
        return str(wheels[-1])
    if local is not None and local.suffix == ".whl" and local.is_file():
        return str(local)
    return f"flowui=={version}"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock of a wheel cache, between processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def download_wheels(
    requirements: Sequence[str],
    python: ImagePython,
    destination: Path,
    *,
    wheel_cache: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    no_deps: bool = False,
) -> list[Path]:
    """Download the wheels of `requirements` (pip arguments: names, wheel paths, `-r FILE`) and
    of all their dependencies for `python` into `destination`; return them.

    Wheels only (`--only-binary=:all:`): the image build cannot compile anything. With a wheel
    cache, wheels already there are used without asking the package index, and what is missing
    is downloaded into it first.
    """
    command = [
        *pip_command(),
        "download",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--only-binary=:all:",
        *python.pip_target_arguments(),
        *(["--no-deps"] if no_deps else []),
    ]

    def download(
        extra: list[str], target: Path, lines: Callable[[str], None] | None
    ) -> EngineResult:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return stream_command(
            [*command, *extra, "--dest", str(target), *requirements], on_line=lines
        )

    if wheel_cache is None:
        result = download([], destination, on_line)
    else:
        wheel_cache = wheel_cache.resolve()
        offline = ["--no-index", "--find-links", str(wheel_cache)]
        with _locked(wheel_cache):
            result = download(offline, destination, None)
            if not result.ok:
                staging = wheel_cache / ".download"
                result = download(["--find-links", str(wheel_cache)], staging, on_line)
                for wheel in staging.glob("*.whl"):
                    # FlowUI's own wheel is given by path at every build: never cached.
                    if not wheel.name.startswith("flowui-"):
                        os.replace(wheel, wheel_cache / wheel.name)
                shutil.rmtree(staging, ignore_errors=True)
                if result.ok:
                    result = download(offline, destination, on_line)
    if not result.ok:
        raise _pip_download_error(result, python)
    return sorted(destination.glob("*.whl"))


def _pip_download_error(result: EngineResult, python: ImagePython) -> ImageBuildError:
    missing = next(
        (
            match.group("requirement")
            for line in result.tail
            if "Could not find a version that satisfies" in line
            or "No matching distribution" in line
            for match in [_PIP_NO_VERSION.search(line)]
            if match
        ),
        None,
    )
    if missing:
        return ImageBuildError(
            f"no wheel of {missing} for the base image's {python.describe()}",
            hint="image builds install wheels only (they have no network): require a version "
            "that has a wheel for this platform, choose a base image with another Python "
            "(--base-image), or install it in a dependencies/Dockerfile_* of the group",
            output_tail=result.tail,
        )
    return ImageBuildError(
        "pip could not download the wheels",
        hint="check the requirements file and that the package index is reachable",
        output_tail=result.tail,
    )


def _wheel_project(wheel: Path) -> str:
    """The normalized project name of a wheel file."""
    match = _WHEEL_NAME.match(wheel.name)
    if match is None:
        raise ImageBuildError(f"{wheel.name} is not a wheel file name")
    return re.sub(r"[-_.]+", "-", match.group("name")).lower()


def pinned_requirements(wheels: Sequence[Path]) -> str:
    """A requirements file naming exactly `wheels` (name==version with sha256 hashes)."""
    lines = []
    for wheel in wheels:
        version = wheel.name.split("-")[1]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{_wheel_project(wheel)}=={version} --hash=sha256:{digest}")
    return "".join(f"{line}\n" for line in sorted(lines))


# --- build contexts and builds ---------------------------------------------------------------


def copy_repository(repository: Path, target: Path) -> None:
    """What an image carries of the repository: config.toml, .flowui/, dependencies/ and
    operators/ (no caches, nothing hidden)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith(".pyc")}

    target.mkdir(parents=True)
    shutil.copy2(repository / CONFIG_FILE, target / CONFIG_FILE)
    (target / FLOWUI_DIR).mkdir()
    for name in (COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE):
        shutil.copy2(repository / FLOWUI_DIR / name, target / FLOWUI_DIR / name)
    for folder in (DEPENDENCIES_DIR, OPERATORS_DIR):
        if (repository / folder).is_dir():
            shutil.copytree(repository / folder, target / folder, symlinks=True, ignore=ignore)


def _fix_modification_times(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        os.utime(path, (CONTEXT_MTIME, CONTEXT_MTIME), follow_symlinks=False)


def write_build_context(
    plan: ImagePlan,
    group: GroupImage,
    context: Path,
    *,
    wheels: Sequence[Path],
    pip_wheel: Path,
) -> Path:
    """Lay out the build context of `group` in `context` (new); return its Dockerfile."""
    install = context / "install" / "wheels"
    install.mkdir(parents=True)
    for wheel in wheels:
        _link_or_copy(wheel, install / wheel.name)
    _link_or_copy(pip_wheel, context / "install" / "pip.whl")
    flowui_wheels = [wheel for wheel in wheels if _wheel_project(wheel) == "flowui"]
    other_wheels = [wheel for wheel in wheels if wheel not in flowui_wheels]
    (context / "requirements.txt").write_text(pinned_requirements(other_wheels), encoding="utf-8")
    (context / "flowui-requirement.txt").write_text(
        pinned_requirements(flowui_wheels), encoding="utf-8"
    )
    copy_repository(plan.repository, context / "repository")
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(render_dockerfile(plan, group), encoding="utf-8")
    _fix_modification_times(context)
    return dockerfile


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@dataclass
class GroupImageResult:
    """What became of one group: built (with the id of its image) or used as is."""

    group: str
    image: str
    kind: str
    status: Literal["built", "used_as_is"]
    image_id: str | None = None
    seconds: float = 0.0
    pushed: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "image": self.image,
            "kind": self.kind,
            "status": self.status,
            "image_id": self.image_id,
            "seconds": round(self.seconds, 2),
            "pushed": self.pushed,
            "notes": self.notes,
        }


def build_images(
    plan: ImagePlan,
    engine: ContainerEngine,
    *,
    wheel_cache: Path | None = None,
    on_status: StatusCallback | None = None,
    on_output: OutputCallback | None = None,
) -> Iterator[GroupImageResult]:
    """Build the image of every group of the plan, one after the other, and tag each as the
    dependencies map says; yield each group's result as soon as it is done.

    An image is tagged only once it is completely built: a failure leaves no tag behind (the
    engine's layer cache keeps what was done, so the next build resumes quickly).
    """

    def status(group: GroupImage, text: str) -> None:
        if on_status is not None:
            on_status(group.group, text)

    def output(group: GroupImage) -> Callable[[str], None] | None:
        return None if on_output is None else (lambda line: on_output(group.group, line))

    pythons: dict[str, ImagePython] = {}
    with tempfile.TemporaryDirectory(prefix="flowui-build-") as scratch:
        work = Path(scratch)
        requirement: str | None = None
        pip_wheels: dict[ImagePython, Path] = {}
        for group in plan.groups:
            started = time.monotonic()
            if not group.built:
                status(group, "used as is (not built)")
                yield GroupImageResult(
                    group.group,
                    group.image,
                    group.kind,
                    "used_as_is",
                    notes=["a ready-made image: it must have Python >= 3.11 with flowui installed"],
                )
                continue
            try:
                if group.dockerfile:
                    base = _build_intermediate(plan, group, engine, status, output(group))
                else:
                    base = plan.base_image
                    status(group, f"checking base image {base}")
                    ensure_local_image(engine, base, on_line=output(group))
                if base not in pythons:
                    status(group, f"asking {base} for its Python")
                    pythons[base] = probe_python(engine, base)
                python = pythons[base]
                if requirement is None:
                    status(group, "building FlowUI's wheel")
                    requirement = flowui_requirement(work, on_line=output(group))
                requirements = [requirement]
                if group.requirements_file:
                    requirements_path = plan.repository / DEPENDENCIES_DIR / group.requirements_file
                    if not requirements_path.is_file():
                        raise ImageBuildError(
                            f"{DEPENDENCIES_DIR}/{group.requirements_file} not found in "
                            f"{plan.repository}",
                            hint="create it, or run `flowui operators organize` after changing "
                            "the operators' dependency",
                        )
                    requirements += ["--requirement", str(requirements_path)]
                status(group, f"downloading wheels for {python.describe()}")
                wheels = download_wheels(
                    requirements,
                    python,
                    work / group.group / "wheels",
                    wheel_cache=wheel_cache,
                    on_line=output(group),
                )
                if python not in pip_wheels:
                    pip_wheels[python] = download_wheels(
                        [pip_requirement()],
                        python,
                        work / f"pip-{len(pip_wheels)}",
                        wheel_cache=wheel_cache,
                        no_deps=True,
                    )[0]
                context = work / group.group / "context"
                dockerfile = write_build_context(
                    plan, group, context, wheels=wheels, pip_wheel=pip_wheels[python]
                )
                status(group, "building")
                image_id = _build(
                    engine,
                    dockerfile,
                    context,
                    work / group.group / "image-id",
                    network=False,
                    on_line=output(group),
                    failure=f"building the image of {group.group} failed",
                )
                tagged = engine.capture("tag", image_id, group.image)
                if tagged.returncode != 0:
                    raise ImageBuildError(
                        f"cannot tag the built image as {group.image}",
                        output_tail=tagged.stderr.strip().splitlines()[-OUTPUT_TAIL_LINES:],
                    )
            except ImageBuildError as error:
                error.group = error.group or group.group
                raise
            status(group, "built")
            yield GroupImageResult(
                group.group,
                group.image,
                group.kind,
                "built",
                image_id=image_id,
                seconds=time.monotonic() - started,
            )


def _build_intermediate(
    plan: ImagePlan,
    group: GroupImage,
    engine: ContainerEngine,
    status: Callable[[GroupImage, str], None],
    on_line: Callable[[str], None] | None,
) -> str:
    """Build the group's own `dependencies/Dockerfile_*` (context: the repository) and tag it
    with a local name that the generated Dockerfile builds on."""
    assert group.dockerfile is not None
    path = plan.repository / DEPENDENCIES_DIR / group.dockerfile
    if not path.is_file():
        raise ImageBuildError(
            f"{DEPENDENCIES_DIR}/{group.dockerfile} not found in {plan.repository}",
            hint=f"create it, or change the dependency of {', '.join(group.operators)}",
        )
    status(group, f"building {DEPENDENCIES_DIR}/{group.dockerfile}")
    with tempfile.TemporaryDirectory(prefix="flowui-build-") as scratch:
        image_id = _build(
            engine,
            path,
            plan.repository,
            Path(scratch) / "image-id",
            network=True,
            on_line=on_line,
            failure=f"building {DEPENDENCIES_DIR}/{group.dockerfile} failed",
        )
    name = plan.intermediate_image(group)
    tagged = engine.capture("tag", image_id, name)
    if tagged.returncode != 0:
        raise ImageBuildError(f"cannot tag {DEPENDENCIES_DIR}/{group.dockerfile}'s image as {name}")
    return name


def _build(
    engine: ContainerEngine,
    dockerfile: Path,
    context: Path,
    id_file: Path,
    *,
    network: bool,
    on_line: Callable[[str], None] | None,
    failure: str,
) -> str:
    arguments = ["build", "--file", str(dockerfile), "--iidfile", str(id_file)]
    if not network:
        arguments += ["--network", "none"]
    built = engine.stream(*arguments, str(context), on_line=on_line)
    image_id = id_file.read_text().strip() if id_file.is_file() else ""
    if not built.ok or not image_id:
        raise ImageBuildError(
            f"{failure} ({engine.name} build exited {built.returncode}); nothing was tagged",
            hint="the end of the build's output is below",
            output_tail=built.tail,
        )
    return image_id


# --- pushing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages (never the values)


def registry_host(image: str) -> str:
    """The registry part of an image reference (docker.io when it names none)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def ecr_registry(host: str) -> tuple[str, str] | None:
    """(account id, region) when `host` is an Amazon ECR registry."""
    match = _ECR_HOST.match(host)
    return (match.group("account"), match.group("region")) if match else None


def _ecr_client(region: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ImageBuildError(
            "pushing to Amazon ECR needs boto3",
            hint="install FlowUI's image tools: pip install 'flowui[images]'",
        ) from None
    # A session of its own: credentials are read from the environment as it is now.
    return boto3.session.Session().client("ecr", region_name=region)


def ecr_credentials(host: str) -> RegistryCredentials:
    """A login for an Amazon ECR registry from `ecr:GetAuthorizationToken` (AWS credentials
    from the usual places: environment, profile, role)."""
    found = ecr_registry(host)
    if found is None:
        raise ValueError(f"{host} is not an Amazon ECR registry")
    account, region = found
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = _ecr_client(region).get_authorization_token(registryIds=[account])
        token = answer["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode().partition(":")
    except (BotoCoreError, ClientError, KeyError, IndexError, ValueError) as error:
        raise ImageBuildError(
            f"cannot get a login for Amazon ECR registry {host}: {error}",
            hint="give AWS credentials allowed ecr:GetAuthorizationToken (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or a profile or role)",
        ) from None
    return RegistryCredentials(username, password, "Amazon ECR (boto3)")


def ensure_ecr_repository(image: str) -> bool:
    """Create the ECR repository of `image` if it does not exist; whether it was created."""
    host = registry_host(image)
    found = ecr_registry(host)
    if found is None:
        return False
    account, region = found
    name = image[len(host) + 1 :].split("@")[0].rsplit(":", 1)[0]
    from botocore.exceptions import BotoCoreError, ClientError

    client = _ecr_client(region)
    try:
        client.describe_repositories(registryId=account, repositoryNames=[name])
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise ImageBuildError(f"cannot look up ECR repository {name}: {error}") from None
    except BotoCoreError as error:
        raise ImageBuildError(f"cannot look up ECR repository {name}: {error}") from None
    try:
        client.create_repository(registryId=account, repositoryName=name)
    except (BotoCoreError, ClientError) as error:
        raise ImageBuildError(
            f"ECR repository {name} does not exist and cannot be created: {error}",
            hint="create it, or give credentials allowed ecr:CreateRepository",
        ) from None
    return True


def registry_credentials(
    host: str, environ: Mapping[str, str] | None = None
) -> RegistryCredentials | None:
    """How to log in to `host`: Amazon ECR through boto3; any other registry with
    FLOWUI_REGISTRY_USERNAME and FLOWUI_REGISTRY_PASSWORD from the environment; None: use the
    engine's own login (`docker login` / `podman login` done beforehand)."""
    if ecr_registry(host):
        return ecr_credentials(host)
    environ = os.environ if environ is None else environ
    username = environ.get(REGISTRY_USERNAME_VARIABLE, "")
    password = environ.get(REGISTRY_PASSWORD_VARIABLE, "")
    if bool(username) != bool(password):
        missing = REGISTRY_PASSWORD_VARIABLE if username else REGISTRY_USERNAME_VARIABLE
        raise ImageBuildError(
            f"{missing} is not set but the other registry credential is",
            hint=f"set both {REGISTRY_USERNAME_VARIABLE} and {REGISTRY_PASSWORD_VARIABLE}, "
            "or neither to use the engine's own login",
        )
    if not username:
        return None
    return RegistryCredentials(username, password, "the environment")


class ImagePusher:
    """Pushes built images to their registries.

    `login` comes first (before the builds, so a wrong password fails in seconds, not after
    them): Amazon ECR through boto3, another registry with FLOWUI_REGISTRY_USERNAME and
    FLOWUI_REGISTRY_PASSWORD, else the engine's own login. Logins go to a temporary auth file
    (podman's --authfile, docker's --config), so nothing is stored in the user's engine
    configuration, and the password goes through stdin, never the command line.
    """

    def __init__(
        self,
        engine: ContainerEngine,
        *,
        environ: Mapping[str, str] | None = None,
        on_status: StatusCallback | None = None,
        on_output: OutputCallback | None = None,
    ) -> None:
        self.engine = engine
        self.environ = environ
        self.on_status = on_status
        self.on_output = on_output
        self._directory = Path(tempfile.mkdtemp(prefix="flowui-push-"))  # mode 0700
        self._auth_file: Path | None = None
        self._ready: set[str] = set()

    def __enter__(self) -> ImagePusher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    def login(self, targets: Sequence[tuple[str, str]]) -> None:
        """Get ready to push each (group, image): check it names a registry, log in to each
        registry once and create missing Amazon ECR repositories."""
        for group, image in targets:
            host = registry_host(image)
            try:
                if host == DEFAULT_REGISTRY:
                    raise ImageBuildError(
                        f"image {image} names no registry, so it cannot be pushed",
                        hint=f"set [registry] REGISTRY_NAME in {CONFIG_FILE} "
                        "(e.g. ghcr.io/owner) and build again",
                    )
                if host not in self._ready:
                    credentials = registry_credentials(host, self.environ)
                    if credentials is not None:
                        self._status(
                            group, f"logging in to {host}: credentials from {credentials.source}"
                        )
                        self._login(host, credentials)
                    self._ready.add(host)
                if ensure_ecr_repository(image):
                    self._status(group, f"created the Amazon ECR repository of {image}")
            except ImageBuildError as error:
                error.group = error.group or group
                raise

    def push(self, result: GroupImageResult) -> None:
        """Push a built image (after `login`)."""
        host = registry_host(result.image)
        self._status(result.group, f"pushing to {host}")
        options = self._options()
        pushed = self.engine.stream(
            *options[0],
            "push",
            *options[1],
            result.image,
            on_line=None if self.on_output is None else partial(self.on_output, result.group),
        )
        if not pushed.ok:
            raise ImageBuildError(
                f"pushing {result.image} failed ({self.engine.name} push exited "
                f"{pushed.returncode})",
                hint=f"check that you may push to {host}: for a registry other than Amazon ECR, "
                f"set {REGISTRY_USERNAME_VARIABLE} and {REGISTRY_PASSWORD_VARIABLE}, or log in "
                f"with `{self.engine.name} login`",
                group=result.group,
                output_tail=pushed.tail,
            )
        result.pushed = True
        self._status(result.group, "pushed")

    def _status(self, group: str, text: str) -> None:
        if self.on_status is not None:
            self.on_status(group, text)

    def _options(self) -> tuple[list[str], list[str]]:
        """(global options, options of login and push) that select the temporary logins."""
        if self._auth_file is None:
            return [], []
        if self.engine.name == "docker":
            return ["--config", str(self._directory)], []
        return [], ["--authfile", str(self._auth_file)]

    def _login(self, host: str, credentials: RegistryCredentials) -> None:
        self._auth_file = self._directory / (
            "config.json" if self.engine.name == "docker" else "auth.json"
        )
        global_options, options = self._options()
        answer = self.engine.capture(
            *global_options,
            "login",
            *options,
            "--username",
            credentials.username,
            "--password-stdin",
            host,
            input=credentials.password,
            timeout=120,
        )
        if answer.returncode != 0:
            raise ImageBuildError(
                f"logging in to {host} failed (credentials from {credentials.source})",
                hint="check the registry's address and the credentials",
                output_tail=(answer.stdout + answer.stderr).strip().splitlines()[-5:],
            )


def push_images(
    results: Sequence[GroupImageResult],
    engine: ContainerEngine,
    *,
    environ: Mapping[str, str] | None = None,
    on_status: StatusCallback | None = None,
    on_output: OutputCallback | None = None,
) -> None:
    """Log in, then push every built image of `results` (see `ImagePusher`)."""
    built = [result for result in results if result.status == "built"]
    with ImagePusher(engine, environ=environ, on_status=on_status, on_output=on_output) as pusher:
        pusher.login([(result.group, result.image) for result in built])
        for result in built:
            pusher.push(result)
