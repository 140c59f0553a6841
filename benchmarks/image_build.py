"""Benchmark: `flowui operators build` of the example operators repository with Podman.

Prints, one figure per line (`name: value`):
1. a cold build: Podman's storage new and empty (in a temporary directory) but for the base
   image, imported from the tests' cached debootstrap root file system; every wheel already in
   the wheel cache, so the network is not measured;
2. a cached build: the same command again, on the layers of the first;
3. per group seconds of each, and the size of each image.

The base image and the wheel cache are the tests' (tests/support/containers.py): the first run on a
machine makes the base image with debootstrap (about 45 s) and downloads the wheels, before
anything is timed.

Usage: uv run --frozen python benchmarks/image_build.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowui.operators import images

ROOT = Path(__file__).resolve().parents[1]
# The tests' Podman set-up (configuration, cached base image, wheel cache) is reused as it is.
sys.path.insert(0, str(ROOT))
from tests.support import containers  # noqa: E402

EXAMPLES = ROOT / "examples" / "operators_repository"


def run(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, env=environ, check=False)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr[-3000:]}")
    return completed


def fill_wheel_cache(repository: Path, environ: dict[str, str], work: Path) -> None:
    """Download every wheel the groups need into the wheel cache (not timed)."""
    organized, _ = images.organize_for_build(repository)
    assert organized.report.config is not None and organized.dependencies_map is not None
    plan = images.plan_images(
        repository,
        organized.report.config,
        organized.dependencies_map,
        base_image=containers.BASE_IMAGE,
    )
    engine = images.ContainerEngine("podman", shutil.which("podman") or "podman", environ)
    python = images.probe_python(engine, containers.BASE_IMAGE)
    requirement = images.flowui_requirement(work)
    cache = containers.wheel_cache_directory()
    for group in plan.groups:
        requirements = [requirement]
        if group.requirements_file:
            requirements += [
                "--requirement",
                str(repository / "dependencies" / group.requirements_file),
            ]
        images.download_wheels(requirements, python, work / group.group, wheel_cache=cache)
    images.download_wheels(
        [images.pip_requirement()],
        python,
        work / "pip",
        wheel_cache=cache,
        no_deps=True,
    )


def timed_build(repository: Path, environ: dict[str, str]) -> tuple[float, dict[str, float]]:
    flowui = str(Path(sys.executable).parent / "flowui")
    started = time.perf_counter()
    built = run(
        [
            flowui,
            "operators",
            "build",
            str(repository),
            "--engine",
            "podman",
            "--base-image",
            containers.BASE_IMAGE,
            "--wheel-cache",
            str(containers.wheel_cache_directory()),
            "--json",
        ],
        environ,
    )
    seconds = time.perf_counter() - started
    document = json.loads(built.stdout)
    return seconds, {entry["group"]: entry["seconds"] for entry in document["images"]}


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

    scratch = Path(tempfile.mkdtemp(prefix="flowui-bench-images-"))
    environ = containers.podman_environment(scratch / "podman")
    try:
        repository = scratch / "operators_repository"
        shutil.copytree(
            EXAMPLES, repository, ignore=shutil.ignore_patterns("__pycache__", ".flowui")
        )
        started = time.perf_counter()
        run(["podman", "import", str(tarball), containers.BASE_IMAGE], environ)
        print(f"base_image_import_seconds: {time.perf_counter() - started:.2f}")
        fill_wheel_cache(repository, environ, scratch / "wheels")

        cold, cold_groups = timed_build(repository, environ)
        cached, cached_groups = timed_build(repository, environ)

        print(f"cold_build_seconds: {cold:.2f}")
        for group, seconds in sorted(cold_groups.items()):
            print(f"cold_build_{group}_seconds: {seconds:.2f}")
        print(f"cached_build_seconds: {cached:.2f}")
        for group, seconds in sorted(cached_groups.items()):
            print(f"cached_build_{group}_seconds: {seconds:.2f}")
        listed = run(["podman", "images", "--format", "json"], environ)
        for entry in json.loads(listed.stdout):
            for name in entry.get("Names") or []:
                if "flowui_examples" in name:
                    group = name.rsplit("-", 1)[-1]
                    print(f"image_{group}_megabytes: {entry['Size'] / 1e6:.0f}")
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
