"""The compose deployment for the tests: PostgreSQL and Redis images made from Debian's packages
(no registry is reachable, so there is no `postgres:16` or `redis:7.2` to pull), and a compose
project run with podman-compose, waited on until every service is healthy.

The store images are built on the tests' Debian base image, with apt over the network, once per
content of their Dockerfiles (cached in podman's storage like the base image). Every podman and
podman-compose command gets the tests' podman environment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import cache_directory, file_lock, image_exists, podman

# The official postgres image's start, as far as the compose file relies on it: a cluster made
# on the first start with POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB, in
# /var/lib/postgresql/data, reached over the network with a password.
_POSTGRES_ENTRYPOINT = """\
#!/bin/sh
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
data=/var/lib/postgresql/data
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 700 "$data"
if [ ! -s "$data/PG_VERSION" ]; then
    printf '%s\\n' "$POSTGRES_PASSWORD" > /run/postgresql/password
    chown postgres /run/postgresql/password
    $as_postgres "$bin/initdb" --pgdata="$data" --username="$POSTGRES_USER" \\
        --pwfile=/run/postgresql/password --auth-local=trust --auth-host=scram-sha-256
    rm /run/postgresql/password
    echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
    $as_postgres "$bin/pg_ctl" --pgdata="$data" --options="-c listen_addresses=''" --wait start
    $as_postgres "$bin/createdb" --username="$POSTGRES_USER" "$POSTGRES_DB"
    $as_postgres "$bin/pg_ctl" --pgdata="$data" --mode=fast --wait stop
fi
exec $as_postgres "$bin/postgres" -D "$data" -c listen_addresses='*'
"""

_POSTGRES_DOCKERFILE = """\
FROM {base}
# Debian's PostgreSQL, without the cluster its package would make.
RUN mkdir -p /etc/postgresql-common \\
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \\
    && apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \\
    && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/flowui-test-postgres
RUN chmod 0755 /usr/local/bin/flowui-test-postgres
# A fast shutdown, as the official image's: `down` does not wait for clients to leave.
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["/usr/local/bin/flowui-test-postgres"]
"""

_REDIS_DOCKERFILE = """\
FROM {base}
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
# As the official redis image runs it: on every address of its container, no protected mode.
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", \
"--appendonly", "no"]
"""

STORE_BUILD_TIMEOUT = 900.0
CHECK_INTERVAL = 5.0  # seconds between two health checks of a container that is not healthy


@dataclass(frozen=True)
class StoreImages:
    postgres: str
    redis: str


def ensure_store_images(base_image: str, environ: dict[str, str]) -> StoreImages:
    """`localhost/flowui-test-postgres:<digest>` and `localhost/flowui-test-redis:<digest>`,
    built on `base_image` when missing."""
    base_id = podman("image", "inspect", "--format", "{{.Id}}", base_image, environ=environ)
    base = base_id.stdout.decode().strip()
    postgres = _ensure_image(
        "localhost/flowui-test-postgres",
        {
            "Dockerfile": _POSTGRES_DOCKERFILE.format(base=base_image),
            "entrypoint.sh": _POSTGRES_ENTRYPOINT,
        },
        base,
        environ,
    )
    redis = _ensure_image(
        "localhost/flowui-test-redis",
        {"Dockerfile": _REDIS_DOCKERFILE.format(base=base_image)},
        base,
        environ,
    )
    return StoreImages(postgres, redis)


def _ensure_image(name: str, files: dict[str, str], base_id: str, environ: dict[str, str]) -> str:
    content = json.dumps([base_id, files], sort_keys=True).encode()
    tag = f"{name}:{hashlib.sha256(content).hexdigest()[:12]}"
    if image_exists(tag, environ):
        return tag
    with file_lock(cache_directory() / "store-images.lock"):
        if image_exists(tag, environ):
            return tag
        with tempfile.TemporaryDirectory() as context:
            for file_name, text in files.items():
                (Path(context) / file_name).write_text(text)
            # apt reaches Debian's mirror from the host's network.
            podman(
                "build",
                "--network",
                "host",
                "--tag",
                tag,
                context,
                environ=environ,
                timeout=STORE_BUILD_TIMEOUT,
            )
    return tag


# --- a compose project -----------------------------------------------------------------------


def podman_compose_command() -> str:
    """podman-compose of the tests' environment (a development dependency); fails the test,
    saying how to install it, when it is missing."""
    found = shutil.which("podman-compose") or str(Path(sys.executable).parent / "podman-compose")
    if not Path(found).is_file():
        pytest.fail(
            "podman-compose not found: `uv sync --all-extras` installs it (a development "
            "dependency of FlowUI)",
            pytrace=False,
        )
    return found


@dataclass(frozen=True)
class ComposeProject:
    """A compose file run with podman-compose: its project name is the file's `name:`."""

    compose_file: Path
    name: str
    environ: dict[str, str]

    def compose(self, *arguments: str, timeout: float = 900.0) -> None:
        """`podman-compose -f FILE ARGUMENTS`; fails the test with its output if it fails."""
        completed = subprocess.run(
            [podman_compose_command(), "-f", str(self.compose_file), *arguments],
            capture_output=True,
            text=True,
            env=self.environ,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0:
            pytest.fail(
                f"podman-compose {' '.join(arguments)} exited {completed.returncode}:\n"
                f"{(completed.stdout + completed.stderr)[-4000:]}",
                pytrace=False,
            )

    def containers(self) -> list[dict[str, Any]]:
        """Every container of the project, as `podman inspect` describes it."""
        listed = podman(
            "ps",
            "--all",
            "--filter",
            f"label=io.podman.compose.project={self.name}",
            "--format",
            "{{.Names}}",
            environ=self.environ,
        )
        names = listed.stdout.decode().split()
        if not names:
            return []
        inspected = podman("inspect", *names, environ=self.environ)
        found: list[dict[str, Any]] = json.loads(inspected.stdout)
        return found

    def container(self, service: str) -> dict[str, Any]:
        """The (first) container of `service`."""
        for container in self.containers():
            if container["Config"]["Labels"].get("com.docker.compose.service") == service:
                return container
        raise AssertionError(f"no container of service {service} in {self.name}")

    def logs(self, container: str, lines: int = 40) -> str:
        shown = podman("logs", "--tail", str(lines), container, check=False, environ=self.environ)
        return (shown.stdout + shown.stderr).decode(errors="replace")

    def wait_until_healthy(self, timeout: float) -> dict[str, str]:
        """Wait until every long-running service answers its health check and every one-shot
        service has exited 0; each container's final status.

        Podman before 4.6 (and any Podman without systemd) runs health checks only when asked:
        the compose file's own checks are asked here, each until it passes.
        """
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        next_check: dict[
            str, float
        ] = {}  # Airflow's checks take seconds of CPU each: not too often
        while True:
            containers = self.containers()
            for container in containers:
                name = container["Name"]
                if statuses.get(name) in ("healthy", "completed"):
                    continue
                if time.monotonic() < next_check.get(name, 0.0):
                    continue
                statuses[name] = self._status(container)
                next_check[name] = time.monotonic() + CHECK_INTERVAL
            waiting = {name: s for name, s in statuses.items() if s not in ("healthy", "completed")}
            if containers and not waiting:
                return statuses
            failed = [name for name, s in waiting.items() if s.startswith("exited")]
            if failed or time.monotonic() > deadline:
                logs = "\n".join(f"--- {name}\n{self.logs(name)}" for name in waiting)
                pytest.fail(
                    f"services of {self.name} not healthy within {timeout:.0f} s: {waiting}\n"
                    f"{logs}",
                    pytrace=False,
                )
            time.sleep(1)

    def _status(self, container: dict[str, Any]) -> str:
        state = container["State"]
        name = container["Name"]
        if not state["Running"]:
            # The one-shot init: done once it has exited 0; restarting services come back.
            restarting = container.get("HostConfig", {}).get("RestartPolicy", {}).get("Name")
            if state["ExitCode"] == 0 and restarting in ("", "no"):
                return "completed"
            return f"exited {state['ExitCode']}" if restarting in ("", "no") else "restarting"
        if not container["Config"].get("Healthcheck"):
            return "running"
        checked = podman("healthcheck", "run", name, check=False, environ=self.environ)
        return "healthy" if checked.returncode == 0 else "starting"
