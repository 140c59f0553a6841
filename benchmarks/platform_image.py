"""Benchmark: `flowui deploy image`, FlowUI's platform image, built with Podman.

Prints, one figure per line (`name: value`):
1. `cold_build_seconds`: Podman's storage new and empty (in a temporary directory) but for the
   base image, imported from the tests' cached debootstrap root file system, and an empty wheel
   cache: every wheel is downloaded from the package index and bubblewrap and git from Debian's
   mirror, as on a new machine;
2. `cached_build_seconds`: the same command again, on the first one's wheels and layers;
3. `image_megabytes`: the image's size as Podman reports it (uncompressed);
4. the machine's CPU count and load before and after.

Usage: uv run --frozen python benchmarks/platform_image.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests' Podman set-up (configuration, cached base image) is reused as it is.
sys.path.insert(0, str(ROOT))
from tests.support import containers  # noqa: E402

TAG = "localhost/flowui-bench-platform:latest"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def run(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, env=environ, check=False)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr[-3000:]}")
    return completed


def timed_build(environ: dict[str, str], wheel_cache: Path, project: Path) -> dict[str, object]:
    flowui = str(Path(sys.executable).parent / "flowui")
    started = time.perf_counter()
    command = [flowui, "deploy", "image", "--project", str(project), "--engine", "podman"]
    command += ["--base-image", containers.BASE_IMAGE, "--tag", TAG]
    built = run([*command, "--wheel-cache", str(wheel_cache), "--json"], environ)
    document: dict[str, object] = json.loads(built.stdout)
    document["wall_seconds"] = time.perf_counter() - started
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary Podman storage")
    arguments = parser.parse_args()
    for command in containers.REQUIRED_COMMANDS:
        if shutil.which(command) is None:
            sys.exit(f"{command} not found: {containers.INSTALL_HINT}")

    # The base image's root file system, made once per machine (not timed).
    containers.ensure_base_image()
    tarball = containers.base_rootfs_tarball()

    scratch = Path(tempfile.mkdtemp(prefix="flowui-bench-platform-"))
    # pip's own HTTP cache off too: the cold build downloads every wheel.
    environ = containers.podman_environment(scratch / "podman") | {"PIP_NO_CACHE_DIR": "1"}
    try:
        (scratch / "wheels").mkdir()
        (scratch / "project").mkdir()  # no config.ini: the defaults
        run(["podman", "import", str(tarball), containers.BASE_IMAGE], environ)
        print(f"load_before: {load()}")
        cold = timed_build(environ, scratch / "wheels", scratch / "project")
        cached = timed_build(environ, scratch / "wheels", scratch / "project")
        print(f"cold_build_seconds: {cold['wall_seconds']:.1f}")
        print(f"cached_build_seconds: {cached['wall_seconds']:.1f}")
        print(f"image_megabytes: {int(str(cached['size_bytes'])) / 1e6:.0f}")
        print(f"load_after: {load()}")
    finally:
        if arguments.keep:
            print(f"kept: {scratch}")
        else:
            subprocess.run(
                ["podman", "rmi", "--all", "--force"],
                env=environ,
                capture_output=True,
                check=False,
            )
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
