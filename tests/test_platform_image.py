"""`flowui deploy image`: FlowUI's platform image (docs/deploying.md, "The platform image"),
built once per session by the installed CLI on the tests' Debian base image (the `platform_image`
fixture; cached between runs by the digest of its inputs) and run with Podman."""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowui import __version__
from flowui.operators.images import ImageBuildError, ImagePython
from flowui.platform import free_port
from flowui.platform.image import check_gui, requirements_for
from tests.support.containers import LocalRegistry, local_registry, podman
from tests.support.paths import FLOWUI, ROOT

UID, GID = 1000, 1000  # FLOWUI_PLATFORM_UID and _GID: their defaults
GUI_TIMEOUT = 120.0
SANDBOX_PROBE = (
    "import sys; from flowui.sandbox import unavailable_reason; "
    "print(unavailable_reason(None, sys.executable))"
)


def flowui(
    *arguments: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOWUI), *arguments],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )


def run_in(image: str, *command: str, options: tuple[str, ...] = ()) -> str:
    """What `command` prints in a new container of `image`."""
    return podman("run", "--rm", *options, image, *command).stdout.decode()


def test_the_same_checkout_gives_the_same_dockerfiles(tmp_path: Path) -> None:
    arguments = ("deploy", "image", "--project", str(tmp_path), "--dry-run", "--json")
    first, second = flowui(*arguments), flowui(*arguments)

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    dockerfiles = json.loads(first.stdout)["dockerfiles"]
    # Only the system stage may reach the network: the image's stage installs wheels only.
    assert "apt-get install" in dockerfiles["system"]
    assert "apt-get" not in dockerfiles["image"] and "--no-index" in dockerfiles["image"]
    assert f"USER {UID}:{GID}" in dockerfiles["image"]


def test_a_name_that_is_no_image_reference_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    refused = flowui("deploy", "image", "--project", str(tmp_path), "--tag", "FlowUI Platform")

    assert refused.returncode == 2
    assert "the image's name 'FlowUI Platform' is not an image reference" in refused.stderr


def test_the_image_runs_flowui_as_the_platform_user_with_airflow_3_and_its_providers(
    platform_image: str,
) -> None:
    providers = ("celery", "docker", "cncf.kubernetes", "amazon")
    imports = "; ".join(f"import airflow.providers.{name}" for name in providers)

    printed = run_in(
        platform_image,
        "sh",
        "-c",
        f"id -u; id -g; flowui --version; airflow version; "
        f"python -c '{imports}; print(\"providers\")'",
    ).split()

    uid, gid, _, flowui_version, airflow_version, providers_line = printed
    assert (int(uid), int(gid)) == (UID, GID)
    assert flowui_version == __version__
    assert airflow_version.startswith("3.")
    assert providers_line == "providers"


def test_flowui_server_run_in_the_image_serves_the_built_gui(platform_image: str) -> None:
    port = free_port()
    started = podman("run", "--detach", "--publish", f"127.0.0.1:{port}:8000", platform_image)
    container = started.stdout.decode().strip()
    try:
        deadline = time.monotonic() + GUI_TIMEOUT
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    logs = podman("logs", container, check=False)
                    pytest.fail(
                        f"the image's server did not answer within {GUI_TIMEOUT:.0f} s:\n"
                        f"{(logs.stdout + logs.stderr).decode()[-3000:]}",
                        pytrace=False,
                    )
                time.sleep(0.5)
    finally:
        podman("rm", "--force", container, check=False)

    assert page.status_code == 200
    assert page.text == (ROOT / "src" / "flowui" / "server" / "static" / "index.html").read_text()


def test_the_sandbox_runs_in_the_image_with_the_compose_files_security_option(
    platform_image: str,
) -> None:
    masked = run_in(platform_image, "python", "-c", SANDBOX_PROBE)
    unmasked = run_in(
        platform_image,
        "python",
        "-c",
        SANDBOX_PROBE,
        options=("--security-opt", "systempaths=unconfined"),
    )

    assert "Can't mount proc" in masked  # the engine's masks over /proc
    assert unmasked.strip() == "None"  # bubblewrap runs, as the platform's user


def test_a_wheel_without_the_built_gui_is_refused_saying_how_to_build_it(tmp_path: Path) -> None:
    wheel = tmp_path / "flowui-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("flowui/__init__.py", "")

    with pytest.raises(ImageBuildError) as raised:
        check_gui(wheel)

    assert "holds no GUI (flowui/server/static/index.html)" in str(raised.value)
    assert "make gui" in (raised.value.hint or "")


EXPORTED = """\
async-timeout==5.0.1 ; python_full_version < '3.11.3' \\
    --hash=sha256:aaaa
deprecated==1.3.1 ; python_full_version < '3.12' \\
    --hash=sha256:bbbb \\
    --hash=sha256:cccc
deprecated==3.0.1 ; python_full_version >= '3.12' \\
    --hash=sha256:dddd
pywin32==311 ; sys_platform == 'win32' \\
    --hash=sha256:eeee
zipp==4.1.2 \\
    --hash=sha256:ffff
"""


def image_python(full_version: str) -> ImagePython:
    major, minor, _ = (int(part) for part in full_version.split("."))
    markers = {
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": full_version,
        "python_version": f"{major}.{minor}",
        "sys_platform": "linux",
    }
    return ImagePython(
        "cpython", (major, minor), "x86_64", "glibc", (2, 36), tuple(sorted(markers.items()))
    )


def test_requirements_follow_the_markers_of_the_image_python_not_the_hosts() -> None:
    debian = requirements_for(EXPORTED, image_python("3.11.2"))
    newer = requirements_for(EXPORTED, image_python("3.12.4"))

    assert debian == (
        "async-timeout==5.0.1 --hash=sha256:aaaa\n"
        "deprecated==1.3.1 --hash=sha256:bbbb --hash=sha256:cccc\n"
        "zipp==4.1.2 --hash=sha256:ffff\n"
    )
    assert newer == "deprecated==3.0.1 --hash=sha256:dddd\nzipp==4.1.2 --hash=sha256:ffff\n"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    (tmp_path / "registry").mkdir()
    with local_registry(tmp_path / "registry", free_port()) as running:
        yield running


def test_push_with_wrong_credentials_fails_at_login_before_building(
    registry: LocalRegistry, podman_environ: dict[str, str], tmp_path: Path
) -> None:
    environ = podman_environ | {
        "CONTAINERS_REGISTRIES_CONF": str(registry.registries_conf),
        "FLOWUI_REGISTRY_USERNAME": registry.username,
        "FLOWUI_REGISTRY_PASSWORD": "not-the-password",
    }

    pushed = flowui(
        "deploy",
        "image",
        "--project",
        str(tmp_path),
        "--engine",
        "podman",
        "--tag",
        f"{registry.host}/flowui/platform:test",
        "--push",
        environ=environ,
    )

    assert pushed.returncode == 1
    assert f"logging in to {registry.host} failed" in pushed.stderr
    assert "not-the-password" not in pushed.stdout + pushed.stderr
    assert "building FlowUI's wheel" not in pushed.stderr  # the login comes first
    assert registry.tags("flowui/platform") == []
