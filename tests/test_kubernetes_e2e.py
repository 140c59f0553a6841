"""The `kubernetes` runtime on a real one-node Kubernetes (1.20, tests/support/kubernetes.py) and
a real Airflow, as a team runs it beside the platform: the example repository's images loaded
onto the node (no registry: FLOWUI_KUBERNETES_IMAGE_CHECK=none, pull policy Never), the root
shared with pods through a ReadWriteMany claim, and Airflow's workers acting as a service
account that has only the Role the chart creates for them (deploy/helm/flowui, rbac.yaml).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.support.containers import build_repository_images
from tests.support.helm import SET_SECRETS, render
from tests.support.kubernetes import Cluster
from tests.support.operator_repositories import (
    make_echo_repository,
    metadata,
    operator,
    write_operator,
)
from tests.support.processes import wait_until

NODE = "flowui-tests-node"  # tests/support/kubernetes-cluster/start.sh names it
CLAIM = "flowui-root"
SOURCE_TOKEN = "src-t0ken-5d1c-never-shown"  # the example loader's DATASET_SOURCE_TOKEN
ECHO_SECRET = "echo-s3cret-2b9f-never-shown"
NEVER_LOADED = "localhost/flowui-tests/never-loaded:1"
DELETION_SECONDS = 30.0
WORKER = "flowui-tests-worker"  # the service account Airflow's workers act as


@dataclass(frozen=True)
class KubernetesPlatform:
    platform: AirflowPlatform
    cluster: Cluster


@pytest.fixture(scope="module")
def kubernetes_platform(
    tmp_path_factory: pytest.TempPathFactory,
    kubernetes_cluster: Cluster,
    example_images: Any,
    container_base_image: str,
    podman_environ: dict[str, str],
) -> Iterator[KubernetesPlatform]:
    project = tmp_path_factory.mktemp("kubernetes-platform")
    root = FileSystemRoot(project / "fs").create()
    echo = project / "echo_repository"
    make_echo_repository(echo)
    # An image no node has: its pod cannot start.
    write_operator(
        echo,
        "UnloadedOperator",
        meta=metadata("UnloadedOperator", dependency={"docker_image": NEVER_LOADED}),
    )
    echo_images = build_repository_images(echo, container_base_image, podman_environ)
    for image in [*example_images.images.values(), *echo_images.images.values()]:
        kubernetes_cluster.load_image(image, podman_environ)
    kubernetes_cluster.shared_root(root.path, CLAIM)
    _, role = render(
        "--show-only",
        "templates/rbac.yaml",
        "--set",
        f"kubernetesRuntime.rbac.enabled=true,kubernetesRuntime.rbac.subjects[0].name={WORKER}",
        *SET_SECRETS,
        namespace="default",
    )
    for manifest in role:
        kubernetes_cluster.apply(manifest)
    worker = kubernetes_cluster.service_account_kubeconfig(WORKER, "default", project / "worker")
    with running_platform(
        project,
        KUBECONFIG=str(worker),
        FLOWUI_KUBERNETES_VOLUME_CLAIM=CLAIM,
        FLOWUI_KUBERNETES_IMAGE_CHECK="none",
        FLOWUI_KUBERNETES_PULL_POLICY="Never",
        DATASET_SOURCE_TOKEN=SOURCE_TOKEN,
        ECHO_SECRET=ECHO_SECRET,
    ) as platform:
        install_repository(example_images.repository, platform.root)
        install_repository(echo, platform.root)
        yield KubernetesPlatform(platform, kubernetes_cluster)


def left_behind(cluster: Cluster, dag_id: str) -> list[str]:
    """The pods and Secrets of a workflow that nothing has asked to delete. A pod being deleted
    never starts a container again; the kubelet of 1.20 takes up to a minute to end one that
    could not start."""
    selector = f"flowui.io/workflow={dag_id}"

    def remaining() -> list[str]:
        items = cluster.kubectl_json("get", "pods,secrets", "-l", selector)["items"]
        return [
            f"{item['kind']}/{item['metadata']['name']}"
            for item in items
            if "deletionTimestamp" not in item["metadata"]
        ]

    wait_until(lambda: not remaining(), DELETION_SECONDS)
    return remaining()


def pods_started(cluster: Cluster, pods: set[str]) -> set[str]:
    """Those of `pods` whose container the kubelet started (their events outlive them)."""
    events = cluster.kubectl_json("get", "events", "--field-selector", "reason=Started")["items"]
    return {event["involvedObject"]["name"] for event in events} & pods


def test_the_example_dataset_workflow_runs_across_pods_and_processes(
    kubernetes_platform: KubernetesPlatform,
) -> None:
    platform, cluster = kubernetes_platform.platform, kubernetes_platform.cluster
    document, runtimes = example_dataset_workflow("kubernetes")

    run = deploy_and_run(platform, document, "pods_dataset", example_inputs(platform.root))

    assert run.state == "success", task_states(platform, run)
    for task_id, runtime in runtimes.items():
        where = placement(platform, run, task_id)
        assert where["runtime"] == (runtime or "process"), (task_id, where)
        if runtime == "kubernetes":
            # Where the pod ran: the node, not the Airflow worker's host.
            assert (where["host"], where["namespace"]) == (NODE, "default"), where
            assert where["pod"].startswith("flowui-"), where
        else:
            assert where["host"] == socket.gethostname()
    saved = json.loads(platform.root.task_run(run.dag_id, run.run_id, "save").output.read_text())
    assert saved["dataset_id"] == "sales_by_region"
    assert platform.client.xcom(run.dag_id, run.run_id, "save") == saved
    # log.txt was written from inside the pod; the loader's secret never reached it.
    log = platform.root.task_run(run.dag_id, run.run_id, "load_sales").log.read_text()
    assert "task succeeded" in log and SOURCE_TOKEN not in log
    # Every try's pod and Secret are gone with it.
    assert left_behind(cluster, run.dag_id) == []


def test_a_secret_reaches_the_pod_as_a_file_of_a_secret_that_goes_with_the_try(
    kubernetes_platform: KubernetesPlatform,
) -> None:
    platform, cluster = kubernetes_platform.platform, kubernetes_platform.cluster
    document = {
        "name": "echo a secret",
        "tasks": [
            {
                "id": "echo",
                "operator": operator("EchoSecretOperator", "echo"),
                "runtime": "kubernetes",
            }
        ],
    }

    run = deploy_and_run(platform, document, "pods_secret", {})

    assert run.state == "success", task_states(platform, run)
    paths = platform.root.task_run(run.dag_id, run.run_id, "echo")
    log = paths.log.read_text()
    # Given (the task's SecretsModel needs it), masked, and UNSET_SECRET optional: no value.
    assert "the secret is ***" in log and ECHO_SECRET not in log
    assert json.loads(paths.output.read_text()) == {"said": "the secret was given"}
    assert left_behind(cluster, run.dag_id) == []
    assert not paths.task_spec.exists()


def test_a_task_that_fails_in_its_pod_is_retried_in_a_new_pod(
    kubernetes_platform: KubernetesPlatform,
) -> None:
    platform, cluster = kubernetes_platform.platform, kubernetes_platform.cluster
    document = {
        "name": "fail twice",
        "tasks": [
            {
                "id": "echo",
                "operator": operator("EchoSecretOperator", "echo"),
                "runtime": "kubernetes",
                "inputs": {"fail": {"value": True}},
                "retries": 1,
                "retry_delay_seconds": 0,
            }
        ],
    }

    run = deploy_and_run(platform, document, "pods_retry", {})

    assert run.state == "failed", task_states(platform, run)
    [task] = platform.client.task_instances(run.dag_id, run.run_id)
    assert task.try_number == 2
    log = platform.root.task_run(run.dag_id, run.run_id, "echo").log.read_text()
    # Each try ran the operator, in its own pod.
    assert "operator EchoSecretOperator, try 1" in log
    assert "operator EchoSecretOperator, try 2" in log
    failed = re.findall(r"===== try (\d) failed in Kubernetes: Pod (\S+) returned a failure", log)
    # A pod of its own for each try, both started (try 2 did not reattach to try 1's); neither
    # is left.
    assert [number for number, _ in failed] == ["1", "2"]
    pods = {pod for _, pod in failed}
    assert len(pods) == 2 and pods_started(cluster, pods) == pods
    assert left_behind(cluster, run.dag_id) == []


def test_a_pod_that_cannot_start_fails_its_try_says_why_and_is_deleted(
    kubernetes_platform: KubernetesPlatform,
) -> None:
    platform, cluster = kubernetes_platform.platform, kubernetes_platform.cluster
    document = {
        "name": "never loaded",
        "tasks": [
            {
                "id": "unloaded",
                "operator": operator("UnloadedOperator", "echo"),
                "runtime": "kubernetes",
            }
        ],
    }

    run = deploy_and_run(platform, document, "pods_unloaded", {})

    assert run.state == "failed", task_states(platform, run)
    paths = platform.root.task_run(run.dag_id, run.run_id, "unloaded")
    log = paths.log.read_text()
    assert "try 1 failed in Kubernetes" in log and "ErrImageNeverPull" in log
    # Nothing of the try is left to start later and write into the failed run.
    assert left_behind(cluster, run.dag_id) == []
    assert not paths.task_spec.exists() and not paths.output.exists()
