"""The chart (deploy/helm/flowui) installed with `helm install` on the tests' one-node Kubernetes
(tests/support/kubernetes.py), from the platform image `flowui deploy image` builds, loaded onto
the node (no registry: pull policy Never), in the all-in-one mode for small clusters: Airflow's
api-server, scheduler (LocalExecutor) and dag-processor run in the server's pod, the root on a
ReadWriteMany claim of the host's directory, FlowUI's database on a PostgreSQL of the team's
(a pod in the namespace), so that the chart's migrations Job runs.

One journey for the module: the migrations Job migrates FlowUI's database, the release becomes
Ready (its probes pass once Airflow's database is migrated too and every component is
healthy), the GUI answers through a port-forward, the admin signs in, imports a repository and
runs a workflow in the pod's Airflow, sandboxed; `helm uninstall` at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy
from alembic.config import Config
from alembic.script import ScriptDirectory

from flowui.platform import PlatformPaths
from flowui.server.database import MIGRATIONS, create_database_engine, database_url
from flowui.storage import FileSystemRoot
from tests.support.compose import StoreImages
from tests.support.deployed_platform import (
    FinishedRun,
    run_path,
    run_to_end,
    sign_in,
    tagged_checkout,
)
from tests.support.helm import SECRETS, Release, install, uninstall
from tests.support.kubernetes import Cluster
from tests.support.operator_repositories import make_repository
from tests.support.paths import ROOT
from tests.support.runs_api import wait_for

NAMESPACE = "flowui-helm"
CLAIM = "flowui-helm-root"
MOUNT_PATH = "/flowui/fs"  # the chart's sharedVolume.mountPath
READY_TIMEOUT = 600.0
UID, GID = 1000, 1000  # the chart's podSecurityContext, the platform image's user
HELLO = {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"}
DATABASE_PASSWORD = "helm-db-password-61fa"


@dataclass(frozen=True)
class Installed:
    release: Release
    pod: dict[str, Any]  # the server's pod, Ready
    root: FileSystemRoot  # the claim's directory, as the host sees it
    server_url: str  # through a port-forward to the pod
    airflow_url: str  # the same, to Airflow's api-server on the pod's loopback interface
    database_url: str  # FlowUI's, on the PostgreSQL pod


def start_postgres(cluster: Cluster, image: str) -> str:
    """PostgreSQL (the tests' image, loaded onto the node) in a pod of the namespace, standing
    for a team's database server: its address once it accepts connections."""
    environment = {"POSTGRES_USER": "flowui", "POSTGRES_PASSWORD": DATABASE_PASSWORD}
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "postgres", "namespace": NAMESPACE},
            "spec": {
                "containers": [
                    {
                        "name": "postgres",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "env": [
                            {"name": name, "value": value}
                            for name, value in (environment | {"POSTGRES_DB": "flowui"}).items()
                        ],
                        "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 1},
                    }
                ]
            },
        }
    )

    def address() -> str | None:
        pod = cluster.kubectl_json("get", "pod", "postgres", "-n", NAMESPACE)
        conditions = pod["status"].get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        return pod["status"]["podIP"] if ready else None

    return wait_for(address, "PostgreSQL's pod became Ready", 180)


@pytest.fixture(scope="module")
def installed(
    kubernetes_cluster: Cluster,
    platform_image: str,
    store_images: StoreImages,
    podman_environ: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("helm") / "root"
    root.mkdir()
    os.chown(root, UID, GID)  # a new volume the platform's user may write, as EFS gives one
    for image in (platform_image, store_images.postgres):
        kubernetes_cluster.load_image(image, podman_environ)
    kubernetes_cluster.kubectl("create", "namespace", NAMESPACE)
    kubernetes_cluster.shared_root(root, CLAIM, namespace=NAMESPACE)
    address = start_postgres(kubernetes_cluster, store_images.postgres)
    database_url = f"postgresql://flowui:{DATABASE_PASSWORD}@{address}:5432/flowui"
    repository, tag = platform_image.rsplit(":", 1)
    release = install(
        kubernetes_cluster,
        "flowui",
        NAMESPACE,
        {
            "image.repository": repository,
            "image.tag": tag,
            "image.pullPolicy": "Never",
            "airflow.allInOne.enabled": "true",
            "database.external": "true",
            "secrets.databaseUrl": database_url,
            "sharedVolume.existingClaim": CLAIM,
            "server.defaultRuntime": "process",
            # The sandbox mounts a /proc of its own (the cluster has the ProcMountType gate).
            "securityContext.procMount": "Unmasked",
        },
    )
    try:
        pod = release.wait_until_ready(READY_TIMEOUT)
        name = pod["metadata"]["name"]
        with (
            release.port_forward(name, 8000) as server_url,
            release.port_forward(name, 8080) as airflow_url,
        ):
            yield Installed(
                release, pod, FileSystemRoot(root), server_url, airflow_url, database_url
            )
    finally:
        uninstall(release)


@pytest.fixture(scope="module")
def finished_run(installed: Installed) -> FinishedRun:
    """A repository of the admin's, checked out on the shared volume, imported; a workflow of
    its operator deployed and run to its end in the pod's Airflow."""
    checkout = tagged_checkout(
        make_repository(installed.root.path.parent / "demo"),
        installed.root.path / "sources" / "demo",
        (UID, GID),
    )
    # Where the pod sees it: the claim at the chart's sharedVolume.mountPath.
    source = f"file://{MOUNT_PATH}/{checkout.relative_to(installed.root.path)}"
    document = {
        "name": "hello from the cluster",
        "tasks": [{"id": "greet", "operator": HELLO, "inputs": {"name": {"param": "name"}}}],
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    with sign_in(installed.server_url, SECRETS["secrets.adminPassword"]) as admin:
        return run_to_end(admin, "helm", source, document, {"name": "kubernetes"})


def test_the_release_becomes_ready_with_airflow_in_its_pod(installed: Installed) -> None:
    ready = httpx.get(f"{installed.server_url}/api/health/ready", timeout=30)
    health = httpx.get(f"{installed.airflow_url}/api/v2/monitor/health", timeout=30).json()
    status = installed.pod["status"]
    security = installed.pod["spec"]["securityContext"]

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "airflow": "ok"}
    assert {name: part["status"] for name, part in health.items()} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": None,  # the all-in-one mode runs no triggerer
        "dag_processor": "healthy",
    }
    assert status["containerStatuses"][0]["restartCount"] == 0  # no probe killed it
    assert (security["runAsUser"], security["runAsGroup"]) == (UID, GID)


def test_the_migrations_job_migrated_flowuis_database_before_the_server_started(
    installed: Installed,
) -> None:
    events = installed.release.cluster.kubectl_json(
        "get", "events", "-n", NAMESPACE, "--field-selector", "involvedObject.kind=Job"
    )["items"]
    completed = [
        event["lastTimestamp"]
        for event in events
        if event["involvedObject"]["name"] == "flowui-migrations" and event["reason"] == "Completed"
    ]
    started = installed.pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    # As the Job and the server open it: a bare postgresql:// means psycopg2.
    engine = create_database_engine(database_url(installed.database_url, installed.root))
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT version_num FROM alembic_version")
            (current,) = connection.execute(query).one()
    finally:
        engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    airflow_database = PlatformPaths(installed.root).database

    assert len(completed) == 1 and completed[0] <= started  # the pre-install hook, once
    assert current == ScriptDirectory.from_config(config).get_current_head()
    assert not installed.root.server_database.exists()  # FlowUI's data is in PostgreSQL
    # Airflow's (all-in-one), migrated by the pod onto the claim, written as the chart's user.
    assert (airflow_database.stat().st_uid, airflow_database.stat().st_gid) == (UID, GID)


def test_the_gui_answers_through_a_port_forward(installed: Installed) -> None:
    gui = httpx.get(f"{installed.server_url}/", timeout=30)

    assert gui.status_code == 200
    assert gui.text == (ROOT / "src" / "flowui" / "server" / "static" / "index.html").read_text()


def test_a_workflow_runs_in_the_pods_airflow(
    installed: Installed, finished_run: FinishedRun
) -> None:
    with sign_in(installed.server_url, SECRETS["secrets.adminPassword"]) as admin:
        run = admin.get(run_path(finished_run.workflow, finished_run.run_id)).json()
    task = installed.root.workspace(finished_run.workspace_id).task_run(
        finished_run.dag_id, finished_run.run_id, "greet"
    )
    placement = json.loads(task.placement.read_text())

    assert run["state"] == "success", run
    assert json.loads(task.output.read_text())["message"] == "hello kubernetes"
    assert placement["runtime"] == "process"
    assert placement["host"] == installed.pod["metadata"]["name"]  # the pod's host name
    assert (task.output.stat().st_uid, task.output.stat().st_gid) == (UID, GID)
