"""The wheels a group's image installs, downloaded on the host for the base image's Python and
machine, so that the build itself needs no network."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from flowui.operators.images.base import ImageBuildError
from flowui.operators.images.engine import EngineResult, ImagePython, stream_command
from flowui.operators.images.plan import flowui_version

# "ERROR: Could not find a version that satisfies the requirement NAME..." (pip)
_PIP_NO_VERSION = re.compile(r"requirement (?P<requirement>\S+)")
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")

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


def _installed_from() -> tuple[Path | None, bool]:
    """The local path this FlowUI was installed from (None: a package index), and whether it
    is a directory (a checkout) rather than a wheel."""
    try:
        direct_url = json.loads(
            importlib.metadata.distribution("flowui").read_text("direct_url.json") or "null"
        )
    except (importlib.metadata.PackageNotFoundError, ValueError):
        direct_url = None
    url = direct_url.get("url", "") if isinstance(direct_url, dict) else ""
    local = Path(unquote(urlparse(url).path)) if url.startswith("file://") else None
    return local, local is not None and "dir_info" in direct_url


def flowui_checkout() -> Path | None:
    """The source checkout (a directory with pyproject.toml) this FlowUI is installed from,
    editable or not; None when it was installed from a wheel or a package index."""
    local, directory = _installed_from()
    if local is not None and directory and (local / "pyproject.toml").is_file():
        return local
    return None


def build_flowui_wheel(
    checkout: Path, work_dir: Path, *, on_line: Callable[[str], None] | None = None
) -> Path:
    """A wheel of FlowUI built from `checkout` (with `pip wheel`) into `work_dir`."""
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
            str(checkout),
        ],
        on_line=on_line,
    )
    wheels = sorted(target.glob("flowui-*.whl"))
    if not built.ok or not wheels:
        raise ImageBuildError(
            f"cannot build a wheel of FlowUI from {checkout}",
            hint="check that `pip wheel --no-deps` works there",
            output_tail=built.tail,
        )
    return wheels[-1]


def flowui_requirement(work_dir: Path, *, on_line: Callable[[str], None] | None = None) -> str:
    """What pip installs FlowUI's task part from: a wheel built from the checkout when this
    FlowUI is installed from a directory (editable or not), the wheel it was installed from, or
    else `flowui==VERSION` from the package index."""
    checkout = flowui_checkout()
    if checkout is not None:
        return str(build_flowui_wheel(checkout, work_dir, on_line=on_line))
    installed, _ = _installed_from()
    if installed is not None and installed.suffix == ".whl" and installed.is_file():
        return str(installed)
    return f"flowui=={flowui_version()}"


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


def wheel_project(wheel: Path) -> str:
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
        lines.append(f"{wheel_project(wheel)}=={version} --hash=sha256:{digest}")
    return "".join(f"{line}\n" for line in sorted(lines))
