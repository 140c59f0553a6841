"""moto's server, a real HTTP endpoint for AWS's APIs on the loopback interface, for the tests
and the benchmarks; no real account is ever reached."""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flowui.platform import free_port
from flowui.storage import FileSystemRoot
from flowui.workflows.runtimes import batch_variable
from tests.support.paths import FLOWUI

MOTO_STARTUP_TIMEOUT = 60.0
# moto's server, with the EFS references its CloudFormation lacks (see that file).
MOTO_SERVER_MAIN = Path(__file__).with_name("moto_server_main.py")
# Dummy credentials: moto accepts any, and no real account must ever be reached by a test.
MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def installed_flowui(
    endpoint: str, project: Path, *arguments: str, environ: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `flowui` run in `project` as a user runs it, moto's server as AWS's
    endpoint, with none of this shell's AWS_ or FLOWUI_ settings but `environ`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWUI_"))}
    return subprocess.run(
        [str(FLOWUI), *arguments],
        capture_output=True,
        text=True,
        env=base
        | MOTO_ENVIRONMENT
        | {"AWS_ENDPOINT_URL": endpoint, "FLOWUI_PROJECT_DIR": str(project)}
        | dict(environ or {}),
        timeout=300,
        check=False,
    )


@contextmanager
def moto_server(
    log_directory: Path, extra_environ: Mapping[str, str] | None = None
) -> Iterator[str]:
    """moto's server (MOTO_SERVER_MAIN) on a free loopback port (with `extra_environ`, e.g.
    DOCKER_HOST to run Batch jobs as containers); yields its endpoint URL, and stops it by pid
    afterwards.

    Fails (never skips) with the end of its log when it cannot start.
    """
    if importlib.util.find_spec("moto") is None:
        pytest.fail("moto is missing: run `uv sync` (moto[server] is a dev dependency)")
    log_path = log_directory / "moto_server.log"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The developer's own AWS settings (a profile, a region) must not reach moto.
    environ = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, str(MOTO_SERVER_MAIN), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # AWS's managed policies (AWSBatchServiceRole, ...) exist, as in a real account.
            env={
                **environ,
                **MOTO_ENVIRONMENT,
                "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
                **(extra_environ or {}),
            },
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + MOTO_STARTUP_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"moto's server did not start on {endpoint}:\n{tail}", pytrace=False)
            time.sleep(0.2)
        yield endpoint
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def aws_client(endpoint: str, service: str) -> Any:
    """A boto3 client of moto's server at `endpoint`."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=MOTO_ENVIRONMENT["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_bucket(endpoint: str, prefix: str = "flowui-test") -> str:
    """A new, empty bucket of moto's server at `endpoint`: `prefix` and a random suffix."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    aws_client(endpoint, "s3").create_bucket(Bucket=name)
    return name


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    """The keys of every object in `bucket` of moto's server at `endpoint`, sorted."""
    listed = aws_client(endpoint, "s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


BATCH_QUEUE = "flowui-queue"


def register_batch(
    endpoint: str, image: str, root: FileSystemRoot, operators: dict[str, str]
) -> dict[str, str]:
    """On moto: a compute environment, a queue, and a job definition per operator (name ->
    version) running `image` with the root's runs/ and dataset/ mounted at their paths (moto
    mounts host paths, not EFS); returns the variables that name them, as the worker reads them.
    """
    batch = aws_client(endpoint, "batch")
    role = aws_client(endpoint, "iam").create_role(
        RoleName="flowui-batch", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    ec2 = aws_client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="flowui", Description="tasks", VpcId=vpc)
    batch.create_compute_environment(
        computeEnvironmentName="flowui-cpu",
        type="MANAGED",
        state="ENABLED",
        computeResources={
            "type": "FARGATE",
            "maxvCpus": 4,
            "subnets": [subnet],
            "securityGroupIds": [group["GroupId"]],
        },
        serviceRole=role,
    )
    batch.create_job_queue(
        jobQueueName=BATCH_QUEUE,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "flowui-cpu"}],
    )
    shared = {"runs": root.runs, "dataset": root.datasets}
    variables = {}
    for name, version in operators.items():
        definition = f"flowui-{name}"
        batch.register_job_definition(
            jobDefinitionName=definition,
            type="container",
            containerProperties={
                "image": image,
                "command": ["flowui-task", "--help"],
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "512"},
                ],
                "volumes": [
                    {"name": volume, "host": {"sourcePath": str(path)}}
                    for volume, path in shared.items()
                ],
                "mountPoints": [
                    {"sourceVolume": volume, "containerPath": str(path), "readOnly": False}
                    for volume, path in shared.items()
                ],
            },
        )
        variables[batch_variable("DEFINITION", name, version)] = definition
        variables[batch_variable("QUEUE", name, version)] = BATCH_QUEUE
    return variables
