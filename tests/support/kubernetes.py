"""The tests' real one-node Kubernetes (1.20, built from Debian's source package by
`make kubernetes` into the tests' cache, once per machine): started on 127.0.0.1 for the
session by the scripts in tests/support/kubernetes-cluster/, images loaded onto its node from
Podman, and the root shared with pods through a hostPath ReadWriteMany volume."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.containers import cache_directory, podman

SCRIPTS = Path(__file__).parent / "kubernetes-cluster"
CLUSTER_CACHE = cache_directory() / "kubernetes"
START_TIMEOUT = 240.0
# Tools of the node beside the built binaries (build.sh installs them with apt).
NODE_TOOLS = ("etcd", "containerd", "ctr", "buildah", "gcc", "iptables", "openssl")


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its kubeconfig (an admin's token) and where its state is."""

    kubeconfig: Path
    state: Path

    @property
    def environ(self) -> dict[str, str]:
        """What a client (kubectl, helm, Airflow's KubernetesPodOperator) needs to reach it."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl_command(self) -> list[str]:
        return [str(CLUSTER_CACHE / "bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig)]

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [*self.kubectl_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    def load_image(self, image: str, podman_environ: dict[str, str]) -> None:
        """Put Podman's `image` into the node's containerd under its own name: pods take it
        with imagePullPolicy Never or IfNotPresent, and no registry is asked."""
        with tempfile.TemporaryDirectory(prefix="flowui-image-") as directory:
            archive = Path(directory) / "image.tar"
            podman(
                "save", "--format", "oci-archive", "-o", str(archive), image, environ=podman_environ
            )
            socket = self.state / "containerd" / "containerd.sock"
            subprocess.run(
                ["ctr", "-a", str(socket), "-n", "k8s.io", "images", "import", str(archive)],
                check=True,
                capture_output=True,
                timeout=300,
            )

    def shared_root(self, path: Path, claim: str, namespace: str = "default") -> None:
        """A ReadWriteMany claim `claim` in `namespace` bound to a hostPath volume of `path`: the
        file-system root as a shared file system (EFS, NFS) gives it to pods on every node."""
        volume = f"{claim}-volume"
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )

    def service_account_kubeconfig(self, name: str, namespace: str, path: Path) -> Path:
        """A kubeconfig at `path` that acts as the service account `name` (created here):
        what a client in a pod of that account may do, and no more."""
        self.kubectl("create", "serviceaccount", name, "-n", namespace)
        deadline = time.monotonic() + 120
        # The token controller gives the account its token Secret (Kubernetes 1.20).
        while not (secrets := self.kubectl_json("get", "sa", name, "-n", namespace).get("secrets")):
            assert time.monotonic() < deadline, f"service account {name} got no token"
            time.sleep(0.2)
        secret = self.kubectl_json("get", "secret", secrets[0]["name"], "-n", namespace)
        token = base64.b64decode(secret["data"]["token"]).decode()
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"] = [{"name": name, "user": {"token": token}}]
        config["contexts"][0]["context"] = {
            "cluster": config["clusters"][0]["name"],
            "user": name,
            "namespace": namespace,
        }
        path.write_text(yaml.safe_dump(config))
        return path


def require_cluster_tools() -> None:
    """Fails (never skips) when the built binaries or the node's tools are missing."""
    missing = [
        name
        for name in ("kube-apiserver", "kubelet", "kubectl", "pause.c")
        if not (CLUSTER_CACHE / "bin" / name).exists()
    ]
    if missing:
        pytest.fail(
            f"Kubernetes is not built ({', '.join(missing)} missing in {CLUSTER_CACHE}/bin): "
            "run `make kubernetes` (about 10 minutes, once per machine)",
            pytrace=False,
        )
    absent = [tool for tool in NODE_TOOLS if not _on_path(tool)]
    if absent:
        pytest.fail(
            f"the cluster's tools are missing ({', '.join(absent)}): run `make kubernetes`",
            pytrace=False,
        )


def _on_path(tool: str) -> bool:
    return any(
        os.access(Path(directory) / tool, os.X_OK)
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if directory
    )


@contextmanager
def running_cluster(state: Path) -> Iterator[Cluster]:
    """The one-node cluster, its state under `state`; stopped with nothing left behind.
    Fails (never skips) with its components' log tails when the node is not Ready."""
    require_cluster_tools()
    environ = {**os.environ, "CACHE": str(CLUSTER_CACHE), "STATE": str(state)}
    started = subprocess.run(
        [str(SCRIPTS / "start.sh")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    try:
        if started.returncode != 0:
            logs = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                for log in sorted(state.glob("*.log"))
            )
            # The diagnosis last, where a truncated report still shows it.
            pytest.fail(f"{logs}\nthe cluster did not start: {started.stderr}", pytrace=False)
        yield Cluster(Path(started.stdout.strip().splitlines()[-1]), state)
    finally:
        stopped = subprocess.run(
            [str(SCRIPTS / "stop.sh")], env=environ, capture_output=True, text=True, timeout=180
        )
        assert stopped.returncode == 0, f"the cluster did not stop cleanly: {stopped.stderr}"
