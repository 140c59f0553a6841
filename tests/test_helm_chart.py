"""The Helm chart (deploy/helm/flowui): lint, render every values profile, validate each manifest
against the Kubernetes 1.35 schemas offline; no cluster is involved."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.helm import CHART, SECRETS, SET_SECRETS, helm, helm_binary, render
from tests.support.paths import ROOT

PROFILES = sorted((CHART / "ci").glob("*-values.yaml"))
AIRFLOW_VALUES = ROOT / "deploy" / "helm" / "airflow-values.yaml"


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def server_pod(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = of_kind(documents, "Deployment")
    return deployment["spec"]["template"]["spec"]


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] if c["name"] == name)


def env_of(pod_container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in pod_container["env"]}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.stem)
def test_chart_lints_with_each_profile(profile: Path) -> None:
    helm("lint", "--strict", str(CHART), "-f", str(profile), *SET_SECRETS)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.stem)
def test_every_rendered_manifest_is_valid_against_kubernetes_1_35(profile: Path) -> None:
    _, documents = render("-f", str(profile), *SET_SECRETS)
    assert {"Deployment", "Service"} <= {doc["kind"] for doc in documents}
    for document in documents:
        kubernetes_validate.validate(document, "1.35", strict=True)


def test_default_profile_mounts_a_read_write_many_claim_at_the_root() -> None:
    _, documents = render(*SET_SECRETS)
    (claim,) = of_kind(documents, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "flowui-root"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = server_pod(documents)
    volume = next(v for v in pod["volumes"] if v["name"] == "root")
    assert volume["persistentVolumeClaim"]["claimName"] == "flowui-root"
    server = container(pod, "server")
    assert {"name": "root", "mountPath": "/flowui/fs"} in server["volumeMounts"]
    assert env_of(server)["VOLUME_MOUNT_PATH_HOST"] == "/flowui/fs"
    assert server["command"] == ["flowui", "server", "run", "--host", "0.0.0.0", "--port", "8000"]
    assert server["resources"]["requests"] and server["resources"]["limits"]
    # SQLite on the shared volume: no external database, no migrations Job (the server migrates).
    assert not of_kind(documents, "Job")
    assert "FLOWUI_DATABASE_URL" not in env_of(server)


def test_probes_reach_the_health_routes_on_the_servers_port() -> None:
    _, documents = render(*SET_SECRETS)
    pod = server_pod(documents)
    server = container(pod, "server")
    assert server["livenessProbe"]["httpGet"] == {"path": "/api/health/live", "port": "http"}
    assert server["readinessProbe"]["httpGet"] == {"path": "/api/health/ready", "port": "http"}
    assert server["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}
    assert [c["name"] for c in pod["containers"]] == ["server"]
    (service,) = of_kind(documents, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_secret_values_appear_only_inside_the_charts_secret() -> None:
    text, documents = render("-f", str(CHART / "ci" / "default-values.yaml"), *SET_SECRETS)
    (secret,) = of_kind(documents, "Secret")
    stored = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert stored == {
        "FLOWUI_SECRET_KEY": SECRETS["secrets.secretKey"],
        "FLOWUI_ADMIN_PASSWORD": SECRETS["secrets.adminPassword"],
        "FLOWUI_AIRFLOW_PASSWORD": SECRETS["secrets.airflowPassword"],
        "FLOWUI_INTERNAL_TOKEN": SECRETS["secrets.internalToken"],
    }
    outside = [doc for doc in documents if doc["kind"] != "Secret"]
    dumped = yaml.safe_dump_all(outside)
    for value in SECRETS.values():
        assert value not in text
        assert value not in dumped
        assert base64.b64encode(value.encode()).decode() not in dumped
    env = env_of(container(server_pod(documents), "server"))
    assert env["FLOWUI_SECRET_KEY"] == {
        "secretKeyRef": {"name": "flowui-secrets", "key": "FLOWUI_SECRET_KEY"}
    }


def test_missing_secret_values_are_refused_with_the_setting_to_give() -> None:
    result = subprocess.run(
        [helm_binary(), "template", "flowui", str(CHART)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "secrets.secretKey is required" in result.stderr


def test_existing_secret_creates_no_secret_and_runs_the_migrations_job() -> None:
    profile = CHART / "ci" / "existing-secret-ingress-values.yaml"
    _, documents = render("-f", str(profile))
    assert not of_kind(documents, "Secret")
    assert not of_kind(documents, "PersistentVolumeClaim")  # existingClaim
    pod = server_pod(documents)
    env = env_of(container(pod, "server"))
    for key in ("FLOWUI_SECRET_KEY", "FLOWUI_ADMIN_PASSWORD", "FLOWUI_DATABASE_URL"):
        assert env[key]["secretKeyRef"] == {"name": "flowui-platform", "key": key}
    volume = next(v for v in pod["volumes"] if v["name"] == "root")
    assert volume["persistentVolumeClaim"]["claimName"] == "flowui-root-nfs"
    (job,) = of_kind(documents, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    job_container = job["spec"]["template"]["spec"]["containers"][0]
    assert "migrate(create_database_engine(url))" in job_container["command"][2]
    assert env_of(job_container)["FLOWUI_DATABASE_URL"]["secretKeyRef"]["name"] == "flowui-platform"
    (ingress,) = of_kind(documents, "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "flowui.example.org"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["flowui.example.org"], "secretName": "flowui-example-org-tls"}
    ]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "flowui", "port": {"name": "http"}}


def test_kubernetes_runtime_role_lets_airflow_manage_task_pods() -> None:
    _, documents = render("-f", str(CHART / "ci" / "kubernetes-runtime-values.yaml"), *SET_SECRETS)
    (role,) = of_kind(documents, "Role")
    assert role["metadata"]["namespace"] == "flowui"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["create", "get", "list", "watch", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        # A try's own Secret: never read back, so no get or list of the namespace's secrets.
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "patch", "delete"]},
    ]
    (binding,) = of_kind(documents, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert [s["name"] for s in binding["subjects"]] == ["airflow-worker", "airflow-scheduler"]
    _, default = render(*SET_SECRETS)
    assert not of_kind(default, "Role")


def test_all_in_one_runs_airflow_in_the_servers_pod_as_the_charts_service_account() -> None:
    _, documents = render("-f", str(CHART / "ci" / "all-in-one-values.yaml"), *SET_SECRETS)
    pod = server_pod(documents)
    server = container(pod, "server")
    environment = env_of(server)
    (account,) = of_kind(documents, "ServiceAccount")
    (binding,) = of_kind(documents, "RoleBinding")

    assert server["command"] == [
        *("flowui", "up", "--foreground", "--server-host", "0.0.0.0"),
        *("--server-port", "8000", "--port", "8080"),
    ]
    assert environment["FLOWUI_DEPLOY_MODE"] == "local"  # `flowui up` runs Airflow
    assert "FLOWUI_AIRFLOW_URL" not in environment  # `flowui up` gives the server its own
    assert environment["FLOWUI_KUBERNETES_VOLUME_CLAIM"] == "flowui-root"
    assert server["resources"]["limits"] == {"cpu": "4", "memory": "6Gi"}
    assert server["startupProbe"]["httpGet"] == {"path": "/api/health/live", "port": "http"}
    assert server["securityContext"]["procMount"] == "Unmasked"
    # Tasks' pods are started as the chart's account, bound to the task Role; its token is
    # mounted for the kubernetes runtime only.
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "flowui"
    assert pod["automountServiceAccountToken"] is True
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "flowui", "namespace": "flowui"}
    ]
    process = "airflow.allInOne.enabled=true,server.defaultRuntime=process"
    _, processes = render("--set", process, *SET_SECRETS)
    assert server_pod(processes)["automountServiceAccountToken"] is False


def test_all_in_one_refuses_more_than_one_replica() -> None:
    two = "airflow.allInOne.enabled=true,replicaCount=2,database.external=true"
    result = subprocess.run(
        [helm_binary(), "template", "flowui", str(CHART), *SET_SECRETS, "--set", two],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "airflow.allInOne runs one Airflow" in result.stderr


def test_airflow_values_for_the_official_chart_hold_the_documented_settings() -> None:
    # Only parsed: the official Airflow chart cannot be downloaded here to render it.
    text = AIRFLOW_VALUES.read_text()
    values = yaml.safe_load(text)
    assert values["executor"] in {"KubernetesExecutor", "CeleryExecutor"}
    assert "CeleryExecutor" in text
    assert values["images"]["airflow"]["repository"]
    assert "flowui[airflow]" in text
    assert values["volumes"] == [
        {"name": "flowui-root", "persistentVolumeClaim": {"claimName": "flowui-root"}}
    ]
    assert values["volumeMounts"] == [{"name": "flowui-root", "mountPath": "/flowui/fs"}]
    assert values["config"]["core"]["dags_folder"] == "/flowui/fs/airflow/dags"
    env = {item["name"]: item["value"] for item in values["env"]}
    assert env["VOLUME_MOUNT_PATH_HOST"] == "/flowui/fs"
    assert env["FLOWUI_KUBERNETES_NAMESPACE"] == "flowui"
    assert env["FLOWUI_KUBERNETES_VOLUME_CLAIM"] == "flowui-root"
    assert env["FLOWUI_SERVER_URL"].startswith("http://flowui.")
    assert values["secret"] == [
        {
            "envName": "FLOWUI_INTERNAL_TOKEN",
            "secretName": "flowui-platform",
            "secretKey": "FLOWUI_INTERNAL_TOKEN",
        }
    ]
    assert values["workers"]["serviceAccount"]["name"] == "airflow-worker"
    # Secrets only by reference: none of the official chart's keys that take a value is set.
    assert values["data"] == {"metadataSecretName": "airflow-metadata"}
    assert values["fernetKeySecretName"] and values["apiSecretKeySecretName"]
    assert not {"fernetKey", "webserverSecretKey", "apiSecretKey"} & values.keys()
    assert values["webserver"]["defaultUser"] == {"enabled": False}
