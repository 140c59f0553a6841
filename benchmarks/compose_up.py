"""Benchmark: the compose deployment on Podman, from `podman-compose up -d` to every service
healthy.

Prints, one figure per line (`name: value`):
1. `first_up_seconds`: `podman-compose up -d` of a new project (PostgreSQL's cluster made,
   Airflow's database migrated) until every service answers its health check and the one-shot
   init has exited 0;
2. `down_seconds`: `podman-compose down` (the database's volume kept);
3. `second_up_seconds`: `up -d` again until every service is healthy (nothing to migrate);
4. the machine's CPU count and load before and after.

The images are the tests' (tests/support/platform_image.py, tests/support/compose.py), built
before anything is timed when their inputs changed. Health checks are run as the tests run
them: Podman before 4.6 runs them only when asked.

Usage: uv run --frozen python benchmarks/compose_up.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowui.platform import free_port

ROOT = Path(__file__).resolve().parents[1]
# The tests' Podman set-up and images are reused as they are.
sys.path.insert(0, str(ROOT))
from tests.support import containers  # noqa: E402
from tests.support.compose import ComposeProject, ensure_store_images  # noqa: E402
from tests.support.platform_image import ensure_platform_image  # noqa: E402

HEALTHY_TIMEOUT = 900.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def timed_up(compose: ComposeProject) -> float:
    started = time.perf_counter()
    compose.compose("up", "-d")
    compose.wait_until_healthy(HEALTHY_TIMEOUT)
    return time.perf_counter() - started


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    for command in containers.REQUIRED_COMMANDS:
        if shutil.which(command) is None:
            sys.exit(f"{command} not found: {containers.INSTALL_HINT}")
    environ = containers.podman_environment()
    base = containers.ensure_base_image(environ)
    platform_image = ensure_platform_image(base, environ)
    stores = ensure_store_images(base, environ)

    scratch = Path(tempfile.mkdtemp(prefix="flowui-bench-compose-"))
    try:
        with containers.podman_service(scratch, environ) as docker_host:
            socket = Path(docker_host.removeprefix("unix://"))
            socket.chmod(0o660)  # as Podman's systemd socket: for its group
            name = f"flowui-bench-{os.getpid()}"
            settings = {
                "PROJECT_NAME": name,
                "VOLUME_MOUNT_PATH_HOST": str(scratch / "root"),
                "FLOWUI_COMPOSE_POSTGRES_IMAGE": stores.postgres,
                "FLOWUI_COMPOSE_REDIS_IMAGE": stores.redis,
                "FLOWUI_COMPOSE_ENGINE_SOCKET": str(socket),
            }
            (scratch / "project").mkdir()
            subprocess.run(
                [str(Path(sys.executable).parent / "flowui"), "deploy", "compose"]
                + ["--project", str(scratch / "project"), "--image", platform_image]
                + ["--workers", "1", "--server-port", str(free_port())]
                + ["--airflow-port", str(free_port())]
                + [part for item in settings.items() for part in ("--set", "=".join(item))],
                check=True,
                capture_output=True,
            )
            compose = ComposeProject(scratch / "project" / "docker-compose.yaml", name, environ)
            print(f"load_before: {load()}")
            try:
                print(f"first_up_seconds: {timed_up(compose):.1f}")
                started = time.perf_counter()
                compose.compose("down")
                print(f"down_seconds: {time.perf_counter() - started:.1f}")
                print(f"second_up_seconds: {timed_up(compose):.1f}")
            finally:
                compose.compose("down", "--volumes")
            print(f"load_after: {load()}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
