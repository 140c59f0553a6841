"""The platform's ECS task as ECS holds it after `flowui aws apply` (deploy mode aws, against
moto's server), run here with Podman, since moto runs no Fargate task: each container definition
started from the platform image as ECS would, in one pod (a Fargate task's containers share
its network), with the root bind-mounted at its own path where EFS would be, PostgreSQL with
TLS on where RDS would be, and the secrets given to the containers as ECS gives them. The pod
reaches moto's server (on the host's loopback) as the task reaches AWS, and moto's Batch runs
the import's inspection job as a container of the platform image, in Podman too."""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flowui.cloud.inspection import definition_variable
from flowui.cloud.servers import INIT
from flowui.config import load_settings
from flowui.platform import free_port
from flowui.platform.compose import DEFAULT_SERVER_PORT
from tests.support.aws import MOTO_ENVIRONMENT, aws_client, moto_server
from tests.support.containers import podman
from tests.support.deployed_platform import sign_in, tagged_checkout
from tests.support.paths import EXAMPLES
from tests.test_cloud_aws import changes_of, flowui_aws, make_project
from tests.test_cloud_servers import deploy_mode_aws

pytestmark = pytest.mark.timeout(900)
ADMIN_EMAIL = "admin@example.com"
START_TIMEOUT = 600.0
# Run in the server's container: why no sandbox for repository code can start there.
SANDBOX_PROBE = "from flowui.sandbox import unavailable_reason; print(unavailable_reason(None))"
CHECK_INTERVAL = 5.0
# How a container of a slirp4netns pod (allow_host_loopback) reaches the host's 127.0.0.1.
HOST_LOOPBACK = "10.0.2.2"


@pytest.fixture
def batch_moto(tmp_path: Path, podman_socket: str) -> Iterator[str]:
    """moto's server whose Batch runs jobs as containers in Podman, the project's root
    (`make_project`'s) standing for the EFS file system."""
    extra = {"DOCKER_HOST": podman_socket, "FLOWUI_MOTO_EFS_ROOT": str(tmp_path / "project" / "fs")}
    (tmp_path / "moto").mkdir()
    with moto_server(tmp_path / "moto", extra) as endpoint:
        yield endpoint


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for PostgreSQL's TLS (the clients require TLS, not a CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "database")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "server.crt", directory / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


def wait_for(what: str, done: Any, timeout: float, logs: Any) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s:\n{logs()}", pytrace=False)
        time.sleep(CHECK_INTERVAL)


def test_the_deployed_task_definition_starts_the_platform_and_every_process_is_healthy(
    tmp_path: Path,
    batch_moto: str,
    platform_image: str,
    store_images: Any,
    podman_environ: dict[str, str],
) -> None:
    project, name = make_project(
        tmp_path,
        batch_moto,
        **deploy_mode_aws(
            batch_moto, FLOWUI_PLATFORM_IMAGE=platform_image, FLOWUI_ADMIN_EMAIL=ADMIN_EMAIL
        ),
    )
    changes_of(flowui_aws(batch_moto, project, "apply", "--json"))
    definition = aws_client(batch_moto, "ecs").describe_task_definition(
        taskDefinition=f"flowui-{name}"
    )["taskDefinition"]
    settings = load_settings(project, environ={})
    root = settings.root.path
    # EFS's root is the platform user's (the init gives it, and the server makes the folders
    # below); make_project installed the example operators as this test's user.
    for path in [
        settings.root.operators_repositories,
        *settings.root.operators_repositories.rglob("*"),
    ]:
        os.lchown(path, settings.FLOWUI_PLATFORM_UID, settings.FLOWUI_PLATFORM_GID)
    given = {  # what ECS takes from Secrets Manager; a password that a URL must quote
        "DATABASE_PASSWORD": secrets.token_urlsafe(12) + "/@:%",
        "FLOWUI_PLATFORM_KEY": secrets.token_urlsafe(48),
        "FLOWUI_ADMIN_PASSWORD": secrets.token_urlsafe(24),
    }
    given["FLOWUI_AIRFLOW_PASSWORD"] = given["FLOWUI_ADMIN_PASSWORD"]
    pod, port = f"flowui-task-{name}", free_port()

    def run(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return podman(*arguments, check=check, environ=podman_environ)

    def inspect(container: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(run("inspect", container).stdout)[0]
        return found

    def logs() -> str:
        listed = run("ps", "--all", "--pod", "--filter", f"pod={pod}", "--format", "{{.Names}}")
        shown = []
        for container in listed.stdout.decode().split():
            tail = run("logs", "--tail", "30", container, check=False)
            shown.append(f"--- {container}\n{(tail.stdout + tail.stderr).decode(errors='replace')}")
        return "\n".join(shown)

    def init_finished() -> bool:
        return not inspect(f"{pod}-{INIT}")["State"]["Running"]

    # The task reaches AWS; here its containers reach moto's server on the host's loopback.
    aws = MOTO_ENVIRONMENT | {
        "AWS_ENDPOINT_URL": f"http://{HOST_LOOPBACK}:{urllib.parse.urlsplit(batch_moto).port}"
    }
    run(
        "pod", "create", "--name", pod, "--publish", f"127.0.0.1:{port}:{DEFAULT_SERVER_PORT}",
        "--network", "slirp4netns:allow_host_loopback=true",
    )  # fmt: skip
    try:
        # Where RDS would be: PostgreSQL on the pod's localhost, TLS switched on once it runs.
        database = f"{pod}-database"
        run(
            "run", "--detach", "--pod", pod, "--name", database,
            "--env", "POSTGRES_USER=flowui",
            "--env", f"POSTGRES_PASSWORD={given['DATABASE_PASSWORD']}",
            "--env", "POSTGRES_DB=postgres_ready",
            store_images.postgres,
        )  # fmt: skip
        ready = ["exec", database, "psql", "-U", "flowui", "-d", "postgres_ready", "-c", "SELECT 1"]
        wait_for(
            "PostgreSQL did not answer", lambda: run(*ready, check=False).returncode == 0, 120, logs
        )
        for path in self_signed(tmp_path):
            run("cp", str(path), f"{database}:/var/lib/postgresql/{path.name}")
        run("exec", database, "sh", "-c", "cd /var/lib/postgresql && chown postgres server.* "
            "&& chmod 0600 server.key")  # fmt: skip
        for setting in (
            "ALTER SYSTEM SET ssl_cert_file = '/var/lib/postgresql/server.crt'",
            "ALTER SYSTEM SET ssl_key_file = '/var/lib/postgresql/server.key'",
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ):
            run("exec", database, "psql", "-U", "flowui", "-d", "postgres_ready", "-c", setting)

        # Each container as ECS starts it: the init first, the others once it succeeded.
        containers = {c["name"]: c for c in definition["containerDefinitions"]}
        for container_name, container in [(INIT, containers.pop(INIT)), *containers.items()]:
            assert {s["name"] for s in container["secrets"]} == set(given)
            environment = {e["name"]: e["value"] for e in container["environment"]}
            environment |= given | {"DATABASE_HOST": "127.0.0.1"}  # RDS's address, here
            environment |= aws
            arguments = ["run", "--detach", "--pod", pod, "--name", f"{pod}-{container_name}"]
            arguments += ["--user", container["user"], "--volume", f"{root}:{root}"]
            for variable, value in environment.items():
                arguments += ["--env", f"{variable}={value}"]
            if "healthCheck" in container:  # ECS's ["CMD", ...]; Podman 4.3 takes a shell line
                check = container["healthCheck"]["command"]
                assert check[0] == "CMD"
                arguments += ["--health-cmd", shlex.join(check[1:])]
            run(*arguments, container["image"], *container["command"])
            if container_name == INIT:
                wait_for("the init did not finish", init_finished, START_TIMEOUT, logs)
                assert inspect(f"{pod}-{INIT}")["State"]["ExitCode"] == 0, logs()

        def healthy() -> bool:
            for container_name in containers:
                checked = run("healthcheck", "run", f"{pod}-{container_name}", check=False)
                if checked.returncode != 0:
                    assert inspect(f"{pod}-{container_name}")["State"]["Running"], logs()
                    return False
            return True

        wait_for("not every process became healthy", healthy, START_TIMEOUT, logs)

        # The engine masks the containers' /proc, as ECS does (and Fargate denies user
        # namespaces too): no sandbox can start, so repository code never runs in the task.
        probe = run("exec", f"{pod}-flowui-server", "python", "-c", SANDBOX_PROBE).stdout
        assert probe.decode().startswith("bubblewrap cannot start a sandbox here: "), probe
        assert environment["FLOWUI_SANDBOX"] == "aws_batch"

        url = f"http://127.0.0.1:{port}"
        status = flowui_aws(batch_moto, project, "status", "--url", url)
        assert (
            f"FlowUI at {url}/api/health/ready: reachable True, status ready, database ok, "
            "airflow ok"
        ) in status.stdout, status.stdout + status.stderr
        signed_in = httpx.post(
            f"{url}/api/auth/login",
            data={"username": ADMIN_EMAIL, "password": given["FLOWUI_ADMIN_PASSWORD"]},
            timeout=30,
        )
        assert signed_in.status_code == 200, signed_in.text
        # An import: its model files inspected as a Batch job of the platform stack's
        # inspection job definition, whose container sees the checkouts only.
        checkout = tagged_checkout(
            EXAMPLES / "operators_repository",
            root / "sources" / "flowui_examples",
            (settings.FLOWUI_PLATFORM_UID, settings.FLOWUI_PLATFORM_GID),
        )
        with sign_in(url, given["FLOWUI_ADMIN_PASSWORD"]) as admin:
            created = admin.post("/api/workspaces", json={"name": "on-aws"})
            assert created.status_code == 201, created.text
            workspace = f"/api/workspaces/{created.json()['id']}"
            imported = admin.post(
                f"{workspace}/repositories", json={"source": f"file://{checkout}", "ref": "v1"}
            )
            assert imported.status_code == 201, imported.text + logs()
            operators = imported.json()["operators"]
            assert len(operators) == len(list((checkout / "operators").glob("*/model.py")))
            assert all(each["has_input_schema"] for each in operators), operators
            [train] = [each for each in operators if each["name"] == "TrainModelOperator"]
            detail = admin.get(f"{workspace}/operators/{train['id']}").json()
        assert "model_type" in detail["input_schema"]["properties"], detail
        batch = aws_client(batch_moto, "batch")
        variables = {e["name"]: e["value"] for e in containers["flowui-server"]["environment"]}
        jobs = batch.list_jobs(jobQueue=f"flowui-{name}-cpu", jobStatus="SUCCEEDED")
        [job] = batch.describe_jobs(jobs=[j["jobId"] for j in jobs["jobSummaryList"]])["jobs"]
        assert job["jobDefinition"] == variables[definition_variable()]
        assert job["container"]["command"][:3] == ["python", "-m", "flowui.cloud.inspection"]
        # Every connection to the databases is over TLS, as RDS demands.
        connections = run(
            "exec", database, "psql", "-U", "flowui", "-d", "postgres_ready", "-At", "-c",
            "SELECT datname, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            "WHERE datname IN ('airflow', 'flowui')",
        ).stdout.decode().split()  # fmt: skip
        assert {"airflow|t", "flowui|t"} <= set(connections)
        assert not [each for each in connections if each.endswith("|f")]
        # The init gave the root's folders to the platform's user.
        dags = Path(environment["AIRFLOW__CORE__DAGS_FOLDER"])
        assert (dags.stat().st_uid, dags.stat().st_gid) == (
            settings.FLOWUI_PLATFORM_UID,
            settings.FLOWUI_PLATFORM_GID,
        )
    finally:
        run("pod", "rm", "--force", "--time", "5", pod, check=False)
