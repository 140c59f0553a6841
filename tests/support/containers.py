"""Podman for the tests: its configuration, a cached Debian base image with Python, and
Podman's Docker-compatible API socket.

Podman's storage, the base image's root file system and downloaded wheels live in a cache
directory that outlives a test run (`FLOWUI_TEST_CACHE`, else `~/.cache/flowui-tests`), so only
the first run on a machine pays for debootstrap and for image layers. Every podman command a
test runs must get `podman_environment()`: it points podman at this configuration.

When podman or debootstrap is missing, the tests that need them fail (never skip) and say what
to install: `make containers` does it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import answers_http

BASE_IMAGE = "localhost/flowui-test-base:bookworm"
BASE_SUITE = "bookworm"
# What the images of `flowui operators build` need from their base: Python with venv.
BASE_PACKAGES = ("python3", "python3-venv")
REQUIRED_COMMANDS = ("podman", "runc", "debootstrap")
INSTALL_HINT = (
    "install them with `make containers` "
    "(apt-get install -y podman buildah runc fuse-overlayfs debootstrap)"
)
DEBOOTSTRAP_TIMEOUT = 900.0
SOCKET_TIMEOUT = 30.0

_CONTAINERS_CONF = """\
# Written by FlowUI's tests (tests/support/containers.py).
[containers]
# The VM lacks CAP_SYS_RESOURCE: podman's default ulimits cannot be raised.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# Debian's crun rejects the machine's hybrid cgroup layout; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp_dir}"
"""

_STORAGE_CONF = """\
# Written by FlowUI's tests (tests/support/containers.py).
[storage]
driver = "overlay"
graphroot = "{graphroot}"
runroot = "{runroot}"
"""


def cache_directory() -> Path:
    """Where the tests keep what is slow to make: `FLOWUI_TEST_CACHE` or ~/.cache/flowui-tests."""
    configured = os.environ.get("FLOWUI_TEST_CACHE")
    directory = Path(configured) if configured else Path.home() / ".cache" / "flowui-tests"
    directory.mkdir(parents=True, exist_ok=True)
    return directory.resolve()


def wheel_cache_directory() -> Path:
    """The `--wheel-cache` of the tests' image builds: wheels downloaded once per machine."""
    directory = cache_directory() / "wheels"
    directory.mkdir(exist_ok=True)
    return directory


def require_container_tools() -> None:
    """Fail the calling test, saying what to install, when podman or debootstrap is missing."""
    missing = [name for name in REQUIRED_COMMANDS if shutil.which(name) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL_HINT}", pytrace=False)


def podman_configuration(storage_root: Path | None = None) -> dict[str, str]:
    """CONTAINERS_CONF and CONTAINERS_STORAGE_CONF for podman, with its storage under
    `storage_root` (default: the cache directory, shared by every test run).

    The files are written when missing, so a second call is cheap.
    """
    root = (storage_root or cache_directory() / "podman").resolve()
    root.mkdir(parents=True, exist_ok=True)
    files = {
        root / "containers.conf": _CONTAINERS_CONF.format(tmp_dir=root / "tmp"),
        root / "storage.conf": _STORAGE_CONF.format(
            graphroot=root / "storage", runroot=root / "run"
        ),
    }
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            with tempfile.NamedTemporaryFile("w", dir=root, delete=False) as staged:
                staged.write(text)
            os.replace(staged.name, path)
    return {
        "CONTAINERS_CONF": str(root / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
    }


def podman_environment(storage_root: Path | None = None) -> dict[str, str]:
    """This process's environment plus the tests' podman configuration: give it to every
    podman command (and to `flowui operators build` when it runs podman)."""
    return {**os.environ, **podman_configuration(storage_root)}


def podman(
    *arguments: str,
    input: bytes | None = None,
    timeout: float = 300.0,
    check: bool = True,
    environ: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `podman ARGUMENTS` with the tests' configuration; on failure, fail the test with
    its output."""
    require_container_tools()
    completed = subprocess.run(
        ["podman", *arguments],
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
        env=environ or podman_environment(),
    )
    if check and completed.returncode != 0:
        output = (completed.stdout + completed.stderr).decode(errors="replace")
        pytest.fail(
            f"podman {' '.join(arguments)} exited {completed.returncode}:\n{output[-3000:]}",
            pytrace=False,
        )
    return completed


def image_exists(name: str, environ: dict[str, str] | None = None) -> bool:
    return podman("image", "exists", name, check=False, environ=environ).returncode == 0


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two test sessions building the same cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def debian_mirror() -> str:
    """The Debian mirror apt itself uses on this machine."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and len(parts) > 1:
                return next(part for part in parts[1:] if not part.startswith("["))
    return "http://deb.debian.org/debian"


def base_rootfs_tarball() -> Path:
    """The base image's root file system as a tar file, made with debootstrap once per cache
    directory (about 45 s; the caller holds the lock)."""
    key = hashlib.sha256(f"{BASE_SUITE} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
    tarball = cache_directory() / f"rootfs-{BASE_SUITE}-{key}.tar"
    if tarball.is_file():
        return tarball
    with tempfile.TemporaryDirectory(dir=cache_directory(), prefix="debootstrap-") as staging:
        rootfs = Path(staging) / "rootfs"
        completed = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                BASE_SUITE,
                str(rootfs),
                debian_mirror(),
            ],
            capture_output=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).decode(errors="replace")
            pytest.fail(
                f"debootstrap of the test base image failed:\n{output[-3000:]}", pytrace=False
            )
        # apt's package lists and caches are not needed in a base image.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*.deb"):
                path.unlink()
        staged = Path(staging) / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(staged), "."], check=True
        )
        os.replace(staged, tarball)
    return tarball


def ensure_base_image(environ: dict[str, str] | None = None) -> str:
    """`localhost/flowui-test-base:bookworm` in podman's storage: Debian bookworm (minbase) with
    python3 and python3-venv, made with debootstrap and `podman import`, no registry pull.

    Both the root file system's tarball and podman's storage are cached; under a file lock, so
    two processes never build it at once. Rebuilt only when missing.
    """
    require_container_tools()
    environ = environ or podman_environment()
    if image_exists(BASE_IMAGE, environ):
        return BASE_IMAGE
    with file_lock(cache_directory() / "base-image.lock"):
        if not image_exists(BASE_IMAGE, environ):
            tarball = base_rootfs_tarball()
            podman(
                "import",
                "--change",
                'CMD ["/bin/bash"]',
                str(tarball),
                BASE_IMAGE,
                environ=environ,
            )
    return BASE_IMAGE


# --- the Docker-compatible API ---------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to a service a test started, SIGKILL if it is still there after 10 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def docker_client(docker_host: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """A docker-py client of the socket (the `docker` package comes with the docker provider)."""
    try:
        import docker
    except ImportError:
        pytest.fail(
            "the `docker` Python package is missing: `uv sync --all-extras` installs it",
            pytrace=False,
        )
    return docker.DockerClient(base_url=docker_host, timeout=timeout)


@contextmanager
def podman_service(directory: Path, environ: dict[str, str] | None = None) -> Iterator[str]:
    """`podman system service` on a Unix socket in `directory`; yields its DOCKER_HOST URL
    once docker-py can ping it, and stops it (by pid) afterwards."""
    require_container_tools()
    socket = directory / "podman.sock"
    url = f"unix://{socket}"
    log_path = directory / "podman-service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ or podman_environment(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SOCKET_TIMEOUT
        ready, error = False, None
        while not ready and process.poll() is None and time.monotonic() < deadline:
            if socket.exists():
                client = docker_client(url, timeout=5)
                try:
                    ready = bool(client.ping())
                except Exception as failure:  # not answering yet
                    error = failure
                finally:
                    client.close()
            if not ready:
                time.sleep(0.1)
        if not ready:
            pytest.fail(
                f"podman system service did not answer on {url} within {SOCKET_TIMEOUT:.0f} s"
                f" ({error or 'no socket'}):\n{log_path.read_text(errors='replace')[-3000:]}",
                pytrace=False,
            )
        yield url
    finally:
        stop_process(process)


# --- images of operators repositories --------------------------------------------------------


@dataclass(frozen=True)
class RepositoryImages:
    """Images built by `flowui operators build`'s code from a repository."""

    repository: Path  # the organized repository they were built from
    images: dict[str, str]  # dependency group -> image name
    base_image: str


def build_repository_images(
    repository: Path,
    base_image: str,
    environ: dict[str, str],
    groups: list[str] | None = None,
) -> RepositoryImages:
    """Organize `repository` and build its groups' images with podman (wheels from the tests'
    wheel cache); fails the test with the build's output if a build fails."""
    from flowui.operators import images

    organized, _ = images.organize_for_build(repository)
    if not organized.report.ok or organized.report.config is None:
        problems = "\n".join(str(problem) for problem in organized.report.problems)
        pytest.fail(f"{repository} does not organize:\n{problems}", pytrace=False)
    assert organized.dependencies_map is not None
    plan = images.plan_images(
        repository,
        organized.report.config,
        organized.dependencies_map,
        base_image=base_image,
        groups=groups,
    )
    engine = images.ContainerEngine("podman", shutil.which("podman") or "podman", environ)
    try:
        built = list(images.build_images(plan, engine, wheel_cache=wheel_cache_directory()))
    except images.ImageBuildError as error:
        tail = "\n".join(error.output_tail)
        pytest.fail(f"building the images of {repository} failed: {error}\n{tail}", pytrace=False)
    return RepositoryImages(
        repository=repository,
        images={result.group: result.image for result in built if result.status == "built"},
        base_image=base_image,
    )


# --- a container registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRegistry:
    """Debian's docker-registry on 127.0.0.1 with one htpasswd user."""

    host: str  # 127.0.0.1:PORT
    username: str
    password: str
    registries_conf: Path  # marks the registry as plain HTTP for podman

    def tags(self, repository: str) -> list[str]:
        request = urllib.request.Request(f"http://{self.host}/v2/{repository}/tags/list")
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise


@contextmanager
def local_registry(directory: Path, port: int) -> Iterator[LocalRegistry]:
    """Start `docker-registry` (Debian's, registry 2.8) with htpasswd auth on 127.0.0.1:`port`,
    its storage in `directory`; stop it by pid afterwards."""
    for command in ("docker-registry", "htpasswd"):
        if shutil.which(command) is None:
            pytest.fail(
                f"{command} not found: install it with `make containers` "
                "(apt-get install -y docker-registry apache2-utils)",
                pytrace=False,
            )
    username, password = "flowui", secrets.token_urlsafe(16)
    hashed = subprocess.run(
        ["htpasswd", "-niB", username], input=password, capture_output=True, text=True, check=True
    ).stdout
    (directory / "htpasswd").write_text(hashed)
    host = f"127.0.0.1:{port}"
    (directory / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
        f"http:\n  addr: {host}\n  secret: {secrets.token_hex(16)}\n"
        f"auth:\n  htpasswd:\n    realm: flowui-tests\n    path: {directory / 'htpasswd'}\n"
    )
    registries_conf = directory / "registries.conf"
    registries_conf.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    log_path = directory / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(directory / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while not answers_http(f"http://{host}/v2/"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"docker-registry did not start on {host}:\n"
                    f"{log_path.read_text(errors='replace')[-3000:]}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield LocalRegistry(host, username, password, registries_conf)
    finally:
        stop_process(process)
