"""The chart (deploy/helm/flowui) and helm (v4, `make helm` puts it in .tools/helm): rendered,
and installed on the tests' cluster."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowui.platform import free_port
from tests.support.kubernetes import Cluster
from tests.support.paths import ROOT
from tests.support.processes import wait_until

CHART = ROOT / "deploy" / "helm" / "flowui"
# Given at install with --set, as the chart's values.yaml asks; never written in a values file.
SECRETS = {
    "secrets.secretKey": "test-secret-key-5f1c",
    "secrets.adminPassword": "test-admin-password-9a7e",
    "secrets.databaseUrl": "postgresql://flowui:test-db-password-3b2d@db/flowui",
    "secrets.airflowPassword": "test-airflow-password-c4e8",
    "secrets.internalToken": "test-internal-token-77d0",
}
SET_SECRETS = ["--set", ",".join(f"{key}={value}" for key, value in SECRETS.items())]


def helm_binary() -> str:
    binary = Path(os.environ.get("FLOWUI_HELM") or ROOT / ".tools" / "helm" / "helm")
    if not binary.is_file():
        pytest.fail(f"helm not found at {binary}: run `make helm` (or set FLOWUI_HELM)")
    return str(binary)


def helm(*args: str, environ: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [helm_binary(), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **(environ or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(*values: str, namespace: str = "flowui") -> tuple[str, list[dict[str, Any]]]:
    """The chart's manifests with `values` (helm template arguments): text and documents."""
    text = helm("template", "flowui", str(CHART), "--namespace", namespace, *values)
    return text, [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass(frozen=True)
class Release:
    """A release of the chart installed on the tests' cluster."""

    cluster: Cluster
    name: str
    namespace: str

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check)

    def server_pods(self) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=server"
        pods: list[dict[str, Any]] = self.cluster.kubectl_json(
            "get", "pods", "-n", self.namespace, "-l", selector
        )["items"]
        return pods

    def wait_until_ready(self, timeout: float) -> dict[str, Any]:
        """The server's pod once its readiness probe passes; fails with the pod's state, events
        and log when it does not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            ready = [pod for pod in self.server_pods() if _is_ready(pod)]
            if ready:
                return ready[0]
            if time.monotonic() > deadline:
                pytest.fail(
                    f"release {self.name} was not Ready after {timeout:.0f} s:\n"
                    + self.kubectl("get", "pods,events", "-o", "wide", check=False)
                    + self.kubectl("logs", f"deploy/{self.name}", "--tail=60", check=False),
                    pytrace=False,
                )
            time.sleep(0.5)

    @contextmanager
    def port_forward(self, pod: str, port: int) -> Iterator[str]:
        """`kubectl port-forward` to `port` of `pod`: yields the local URL while it runs."""
        local = free_port()
        forward = ["-n", self.namespace, "port-forward", f"pod/{pod}", f"{local}:{port}"]
        process = subprocess.Popen(
            [*self.cluster.kubectl_command(), *forward],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if not wait_until(lambda: _answers(local) or process.poll() is not None, 60):
                pytest.fail(f"port-forward to {pod}:{port} did not listen", pytrace=False)
            assert process.poll() is None, f"port-forward ended: {process.communicate()[1]}"
            yield f"http://127.0.0.1:{local}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def install(cluster: Cluster, name: str, namespace: str, values: dict[str, str]) -> Release:
    """`helm install` of the chart (its secrets as --set, as values.yaml asks) into
    `namespace` (made when missing); returns once its hooks (the migrations Job) have run,
    before the server's pod is Ready."""
    helm(
        "install",
        name,
        str(CHART),
        "--namespace",
        namespace,
        "--create-namespace",
        "--kubeconfig",
        str(cluster.kubeconfig),
        *SET_SECRETS,
        "--set",  # after the secrets: a value given here wins
        ",".join(f"{key}={value}" for key, value in values.items()),
    )
    return Release(cluster, name, namespace)


def uninstall(release: Release) -> None:
    """The release removed (helm waits for its resources to go), then its namespace."""
    helm(
        "uninstall",
        release.name,
        "--namespace",
        release.namespace,
        "--kubeconfig",
        str(release.cluster.kubeconfig),
        "--wait",
    )
    # Its claim and PostgreSQL go with it; the cluster need not wait for them.
    release.cluster.kubectl("delete", "namespace", release.namespace, "--wait=false")


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0
