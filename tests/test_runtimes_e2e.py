"""Tasks in containers and AWS Batch jobs, on a real Airflow, as a user deploys them.

One platform for the module, started with DOCKER_HOST on Podman's Docker-compatible API and AWS
on a moto server that runs Batch jobs as real containers through the same Podman. The images are
those `flowui operators build` makes of the example repository on a base image made with
debootstrap (cached between runs). Kubernetes is checked offline (test_runtime_kubernetes.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowui.operators.install import install_repository
from flowui.storage import FileSystemRoot
from tests.support.airflow_platform import (
    AirflowPlatform,
    deploy_and_run,
    example_dataset_workflow,
    example_inputs,
    placement,
    running_platform,
    task_states,
)
from tests.support.aws import BATCH_QUEUE, MOTO_ENVIRONMENT, aws_client, moto_server, register_batch
from tests.support.containers import build_repository_images, docker_client
from tests.support.operator_repositories import (
    make_echo_repository,
    operator,
)

REGION = "us-east-1"
SOURCE_TOKEN = "src-t0ken-9f3e-never-shown"  # the example loader's DATASET_SOURCE_TOKEN
ECHO_SECRET = "echo-s3cret-77ab-never-shown"


# --- a moto server that runs Batch jobs in Podman --------------------------------------------


@pytest.fixture(scope="module")
def batch_endpoint(podman_socket: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server whose Batch jobs run as containers through Podman's socket."""
    extra = {"DOCKER_HOST": podman_socket, "MOTO_DOCKER_NETWORK_MODE": "host"}
    with moto_server(tmp_path_factory.mktemp("moto-batch"), extra) as endpoint:
        yield endpoint


# --- the platform ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerPlatform:
    platform: AirflowPlatform
    docker_host: str
    batch_endpoint: str


@pytest.fixture(scope="module")
def container_platform(
    tmp_path_factory: pytest.TempPathFactory,
    example_images: Any,
    container_base_image: str,
    podman_environ: dict[str, str],
    podman_socket: str,
    batch_endpoint: str,
) -> Iterator[ContainerPlatform]:
    project = tmp_path_factory.mktemp("container-platform")
    root = FileSystemRoot(project / "fs").create()
    echo = project / "echo_repository"
    make_echo_repository(echo)
    build_repository_images(echo, container_base_image, podman_environ)
    variables = register_batch(
        batch_endpoint,
        example_images.images["group0"],
        root,
        {"LoadDatasetOperator": "0.1.0", "FilterRowsOperator": "0.1.0"},
    )
    with running_platform(
        project,
        DOCKER_HOST=podman_socket,
        AWS_ENDPOINT_URL=batch_endpoint,
        AWS_REGION_NAME=REGION,
        DATASET_SOURCE_TOKEN=SOURCE_TOKEN,
        ECHO_SECRET=ECHO_SECRET,
        **MOTO_ENVIRONMENT,
        **variables,
    ) as platform:
        install_repository(example_images.repository, platform.root)
        install_repository(echo, platform.root)
        yield ContainerPlatform(platform, podman_socket, batch_endpoint)


# --- docker -----------------------------------------------------------------------------------


def test_the_example_dataset_workflow_runs_across_containers_and_processes(
    container_platform: ContainerPlatform,
) -> None:
    platform = container_platform.platform
    document, runtimes = example_dataset_workflow("docker")

    run = deploy_and_run(platform, document, "containers_dataset", example_inputs(platform.root))

    assert run.state == "success", task_states(platform, run)
    for task_id, runtime in runtimes.items():
        where = placement(platform, run, task_id)
        assert where["runtime"] == (runtime or "process"), (task_id, where)
        if runtime == "docker":
            assert where["image"] == "ghcr.io/flowui/flowui_examples:0.1.0-group0"
            assert len(where["container_id"]) == 64
    saved = json.loads(platform.root.task_run(run.dag_id, run.run_id, "save").output.read_text())
    assert saved["dataset_id"] == "sales_by_region"
    assert platform.client.xcom(run.dag_id, run.run_id, "save") == saved
    # The loader's secret reached the container only through its secrets file.
    log = platform.root.task_run(run.dag_id, run.run_id, "load_sales").log.read_text()
    assert SOURCE_TOKEN not in log


def test_a_secret_reaches_the_container_masked_and_never_in_its_configuration(
    container_platform: ContainerPlatform,
) -> None:
    platform = container_platform.platform
    document = {
        "name": "echo a secret",
        "tasks": [
            {
                "id": "echo",
                "operator": operator("EchoSecretOperator", "echo"),
                "runtime": "docker",
                "inputs": {"fail": {"value": True}},
            }
        ],
    }

    run = deploy_and_run(platform, document, "containers_secret", {})

    assert run.state == "failed"
    paths = platform.root.task_run(run.dag_id, run.run_id, "echo")
    log = paths.log.read_text()
    assert "the secret is ***" in log and ECHO_SECRET not in log
    assert "failing on purpose" in log
    # The failed container is kept: everything Docker can tell of it holds no secret value.
    client = docker_client(container_platform.docker_host)
    try:
        container = client.containers.get(placement(platform, run, "echo")["container_id"])
        inspected = json.dumps(container.attrs)
        mounts = {mount["Destination"]: mount["Source"] for mount in container.attrs["Mounts"]}
        limits = container.attrs["HostConfig"]
        # The operator's container_resources (defaults: 1000 millicores, 1024 MiB) applied.
        assert (limits["Memory"], limits["CpuShares"]) == (1024 * 2**20, 1024)
        logs = container.logs().decode()
        container.remove(force=True)
    finally:
        client.close()
    assert ECHO_SECRET not in inspected
    assert "FLOWUI_SECRETS_FILE=/run/flowui/secrets.json" in inspected
    # Mounted from the root, where the engine finds it even when the worker is a container of
    # its own (compose), and removed with the try.
    secrets_file = Path(mounts["/run/flowui/secrets.json"])
    assert platform.root.task_secrets in secrets_file.parents
    assert not secrets_file.parent.exists()
    assert ECHO_SECRET not in logs and "***" in logs
    # The try's spec went with it (a container started late finds nothing to run); no file
    # of the run holds the value.
    assert not paths.task_spec.exists()
    assert not [
        path
        for path in paths.directory.rglob("*")
        if path.is_file() and ECHO_SECRET in path.read_text(errors="replace")
    ]


# --- aws_batch --------------------------------------------------------------------------------


def test_a_batch_job_runs_the_operator_and_feeds_a_process_task(
    container_platform: ContainerPlatform,
) -> None:
    platform = container_platform.platform
    sources = example_inputs(platform.root)
    document = {
        "name": "batch then process",
        "tasks": [
            {
                "id": "load",
                "operator": operator("LoadDatasetOperator"),
                "runtime": "aws_batch",
                "inputs": {
                    "source": {"value": sources["sales_source"]},
                    "dataset_id": {"value": "sales_batch"},
                },
            },
            {
                "id": "clean",
                "operator": operator("FilterRowsOperator"),
                "inputs": {"path": {"from": "load", "output": "path"}},
            },
        ],
    }

    run = deploy_and_run(platform, document, "batch_then_process", {})

    assert run.state == "success", task_states(platform, run)
    where = placement(platform, run, "load")
    assert where["runtime"] == "aws_batch" and where["queue"] == BATCH_QUEUE
    jobs = aws_client(container_platform.batch_endpoint, "batch").describe_jobs(
        jobs=[where["job_id"]]
    )["jobs"]
    assert jobs[0]["status"] == "SUCCEEDED"
    assert jobs[0]["container"]["command"][:2] == ["flowui-task", "--spec"]
    load = json.loads(platform.root.task_run(run.dag_id, run.run_id, "load").output.read_text())
    assert Path(load["path"]).is_file()
    assert placement(platform, run, "clean")["runtime"] == "process"


def test_a_failing_batch_job_fails_the_task_and_its_log_reaches_log_txt(
    container_platform: ContainerPlatform,
) -> None:
    platform = container_platform.platform
    document = {
        "name": "batch failure",
        "tasks": [
            {
                "id": "load",
                "operator": operator("LoadDatasetOperator"),
                "runtime": "aws_batch",
                "inputs": {
                    "source": {"value": str(platform.root.datasets / "inputs" / "missing.csv")},
                    "dataset_id": {"value": "never"},
                },
            }
        ],
    }

    run = deploy_and_run(platform, document, "batch_failure", {})

    assert run.state == "failed"
    log = platform.root.task_run(run.dag_id, run.run_id, "load").log.read_text()
    assert "===== AWS Batch job" in log and "ended FAILED; its CloudWatch log:" in log
    cloudwatch = log.split("its CloudWatch log:", 1)[1]
    assert "missing.csv" in cloudwatch
