"""FlowUI's platform image for the tests: built by the installed `flowui deploy image` on the
tests' Debian base image, once per content of its inputs.

The tag names a digest of what the image is made of (FlowUI's code and built GUI, pyproject.toml,
uv.lock, the base image and the platform's user), so a test run builds it only when one of them
changed; older tags of the tests' platform image are removed then (their layers are pruned at the
end of the session). Fails (never skips) with the command's output when the build fails: a GUI
that is not built (`make gui`) among the reasons it names.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile

import pytest

from flowui.config import load_settings
from tests.support.containers import (
    cache_directory,
    file_lock,
    image_exists,
    podman,
    wheel_cache_directory,
)
from tests.support.paths import FLOWUI, ROOT

PLATFORM_IMAGE = "localhost/flowui-test-platform"
BUILD_TIMEOUT = 1800.0


def inputs_digest(base_image: str, environ: dict[str, str]) -> str:
    """A digest of everything the platform image is built from."""
    digest = hashlib.sha256()
    base_id = podman("image", "inspect", "--format", "{{.Id}}", base_image, environ=environ)
    settings = load_settings(read_config=False, environ=environ)
    digest.update(f"{base_id.stdout.decode().strip()} {settings.FLOWUI_PLATFORM_UID}".encode())
    digest.update(str(settings.FLOWUI_PLATFORM_GID).encode())
    sources = [ROOT / "pyproject.toml", ROOT / "uv.lock"]
    sources += sorted(
        path
        for path in (ROOT / "src" / "flowui").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_platform_image(base_image: str, environ: dict[str, str]) -> str:
    """The tests' platform image (`localhost/flowui-test-platform:<digest>`), built with
    `flowui deploy image --base-image BASE` when no image of that tag exists."""
    tag = f"{PLATFORM_IMAGE}:{inputs_digest(base_image, environ)}"
    if image_exists(tag, environ):
        return tag
    with (
        file_lock(cache_directory() / "platform-image.lock"),
        tempfile.TemporaryDirectory() as project,  # no config.ini: the environment, defaults
    ):
        if image_exists(tag, environ):
            return tag
        command = [
            str(FLOWUI),
            "deploy",
            "image",
            "--project",
            str(project),
            "--base-image",
            base_image,
            "--tag",
            tag,
            "--engine",
            "podman",
            "--wheel-cache",
            str(wheel_cache_directory()),
            "--json",
        ]
        built = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environ,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if built.returncode != 0:
            pytest.fail(
                f"`flowui deploy image` failed (exit {built.returncode}):\n"
                f"{built.stdout[-3000:]}\n{built.stderr[-3000:]}",
                pytrace=False,
            )
        assert json.loads(built.stdout)["image"] == tag
        _remove_other_tags(tag, environ)
    return tag


def _remove_other_tags(kept: str, environ: dict[str, str]) -> None:
    listed = podman(
        "images", "--format", "{{.Repository}}:{{.Tag}}", PLATFORM_IMAGE, environ=environ
    )
    for name in listed.stdout.decode().split():
        if name != kept:
            podman("rmi", name, check=False, environ=environ)
