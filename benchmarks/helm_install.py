"""Benchmark: the Helm chart on the tests' one-node Kubernetes, from `helm install` to Ready.

Prints, one figure per line (`name: value`):
1. `image_load_seconds`: the platform image put into the node's containerd (no registry here;
   a cluster pulling from one pays its own download instead);
2. `install_to_ready_seconds`: `helm install` of the chart in its all-in-one mode (FlowUI's
   server with Airflow's api-server, scheduler and dag-processor in one pod, SQLite on a
   ReadWriteMany claim) until the server's pod is Ready: FlowUI's and Airflow's databases
   migrated, every component healthy, the readiness probe passed (probed every 5 s);
3. `uninstall_seconds`: `helm uninstall --wait` and the namespace deleted;
4. the machine's CPU count and load before and after.

The cluster (`make kubernetes` builds it once per machine) and the platform image are the
tests' (tests/support/), started or built before anything is timed.

Usage: uv run --frozen python benchmarks/helm_install.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests' cluster, images and chart helpers are reused as they are.
sys.path.insert(0, str(ROOT))
from tests.support import containers  # noqa: E402
from tests.support.helm import install, uninstall  # noqa: E402
from tests.support.kubernetes import running_cluster  # noqa: E402
from tests.support.platform_image import ensure_platform_image  # noqa: E402

READY_TIMEOUT = 900.0
PLATFORM_UID = 1000  # the chart's runAsUser and the image's user


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    environ = containers.podman_environment()
    platform_image = ensure_platform_image(containers.ensure_base_image(environ), environ)
    repository, tag = platform_image.rsplit(":", 1)
    scratch = Path(tempfile.mkdtemp(prefix="flowui-bench-helm-"))
    try:
        root = scratch / "root"
        root.mkdir()
        os.chown(root, PLATFORM_UID, PLATFORM_UID)
        with running_cluster(scratch / "cluster") as cluster:
            print(f"load_before: {load()}")
            started = time.perf_counter()
            cluster.load_image(platform_image, environ)
            print(f"image_load_seconds: {time.perf_counter() - started:.1f}")
            cluster.kubectl("create", "namespace", "flowui-bench")
            cluster.shared_root(root, "flowui-bench-root", namespace="flowui-bench")
            started = time.perf_counter()
            release = install(
                cluster,
                "flowui",
                "flowui-bench",
                {
                    "image.repository": repository,
                    "image.tag": tag,
                    "image.pullPolicy": "Never",
                    "airflow.allInOne.enabled": "true",
                    "sharedVolume.existingClaim": "flowui-bench-root",
                    "server.defaultRuntime": "process",
                    "securityContext.procMount": "Unmasked",
                },
            )
            try:
                release.wait_until_ready(READY_TIMEOUT)
                print(f"install_to_ready_seconds: {time.perf_counter() - started:.1f}")
            finally:
                started = time.perf_counter()
                uninstall(release)
                print(f"uninstall_seconds: {time.perf_counter() - started:.1f}")
            print(f"load_after: {load()}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
