"""Benchmark: the cost of running a no-op operator in each runtime that runs here, against
calling its `operator_function` directly.

Prints, one figure per line (`name: value`), the median milliseconds of `--tasks` runs (after
one warm-up) of:
1. `direct`: the operator's class imported once, `operator_function` called in this process;
2. `process`: `run_task_process`, forked from the environment's fork server, as the platform
   runs a task (TaskSpec in, output.json and log.txt written, outcome read back), unconfined
   (FLOWUI_SANDBOX=none) and `process_sandboxed` in its workspace's bubblewrap sandbox (the
   default), with their ratio against the 1.10 target;
3. `docker`: `FlowUIDockerOperator.execute` with the repository's image, built by
   `flowui operators build`'s code on the tests' debootstrap base image, through Podman's
   Docker-compatible API (container created, started, waited for, removed);
4. `aws_batch`: `FlowUIBatchOperator.execute` against moto's server, which runs the job as a
   container through the same Podman; Airflow's Batch hook polls the job's state with its own
   back-off, which is most of this figure;
5. `kubernetes`: `FlowUIKubernetesOperator.execute` on the tests' one-node Kubernetes
   (tests/support/kubernetes.py, `make kubernetes`), the image loaded onto its node; beside it
   the pod's own run time (its creation to its container's end, as Kubernetes records them,
   to the second) and the time against the target: at most the pod's own + 1.5 s;
and each runtime's overhead (its median less the direct one). Airflow's scheduling is not in
these figures (see workflow_runs.py); the operators run outside a DAG run, as their execute()
would inside one.

Usage: uv run --frozen python benchmarks/runtime_overhead.py [--tasks 10] [--batch-tasks 3]
       [--runtimes process,docker,aws_batch,kubernetes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workflow_runs import make_noop_repository

from flowui.airflow.operators.batch import FlowUIBatchOperator
from flowui.airflow.operators.common import FlowUITask
from flowui.airflow.operators.docker import FlowUIDockerOperator
from flowui.airflow.operators.kubernetes import FlowUIKubernetesOperator
from flowui.operators.loading import import_operator_module
from flowui.runtime.forkserver import stop_forkservers
from flowui.runtime.process import run_task_process, task_sandbox
from flowui.runtime.spec import TaskSpec
from flowui.sandbox import SandboxPolicy
from flowui.storage import FileSystemRoot

ROOT = Path(__file__).resolve().parents[1]
# The tests' Podman and moto set-ups (configuration, cached base image, wheel cache).
sys.path.insert(0, str(ROOT))
from tests.support import aws, containers, kubernetes  # noqa: E402


@dataclass
class TaskInstance:
    task_id: str
    dag_id: str = "bench"
    try_number: int = 1
    map_index: int = -1

    def xcom_push(self, key: str, value: Any) -> None:
        """Outside a DAG run there is no XCom table: the output is in output.json anyway."""


def context_for(task_id: str) -> dict[str, Any]:
    # `dag`: the pod operator labels its pods with the DAG's id.
    return {
        "run_id": "bench",
        "ti": TaskInstance(task_id),
        "params": {},
        "logical_date": None,
        "dag": SimpleNamespace(dag_id="bench"),
    }


def median_ms(run: Callable[[int], object], tasks: int) -> float:
    run(-1)  # warm-up: first-run costs are not the steady state
    seconds = []
    for index in range(tasks):
        started = time.perf_counter()
        run(index)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10, help="Runs of each runtime.")
    parser.add_argument("--batch-tasks", type=int, default=3, help="Runs of aws_batch.")
    parser.add_argument(
        "--runtimes",
        default="process,docker,aws_batch,kubernetes",
        help="Which runtimes to time (comma-separated); the container ones need Podman, "
        "kubernetes the tests' cluster (`make kubernetes`).",
    )
    arguments = parser.parse_args()
    runtimes = set(arguments.runtimes.split(","))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(prefix="flowui-bench-runtimes-") as directory:
        work = Path(directory)
        repository = make_noop_repository(work / "repository")
        root = FileSystemRoot(work / "fs").create()
        operator_dir = repository / "operators" / "NoOpOperator"
        operator_class = import_operator_module(operator_dir, "operator").NoOpOperator
        input_model = import_operator_module(operator_dir, "model").InputModel
        direct = median_ms(
            lambda _i: operator_class.__new__(operator_class).operator_function(input_model()),
            arguments.tasks,
        )
        print(f"direct_call_ms_median: {direct:.3f}")

        # A workspace's task, as the platform runs it: in its tree, unconfined or sandboxed.
        tree = root.workspace(1)
        sandbox = task_sandbox(
            SandboxPolicy(),
            python=Path(sys.executable),
            repository=repository,
            tree=tree,
            platform_root=root,
            workspace_id=1,
            memory_mib=1024,
        )

        def process(index: int, confined: bool = False) -> None:
            spec = TaskSpec.model_validate(
                {
                    "operator": {"repository_path": str(repository), "name": "NoOpOperator"},
                    "context": {"dag_id": "bench", "run_id": "process", "task_id": f"t{index}"},
                    "root": str(tree.path),
                }
            )
            outcome = run_task_process(
                spec,
                python=sys.executable,
                environ={} if confined else {"PATH": os.environ["PATH"]},
                timeout=60,
                forkserver_idle_seconds=60,
                forkservers_root=root.path,
                sandbox=sandbox if confined else None,
            )
            assert outcome.succeeded, outcome.error

        figures: dict[str, float] = {}
        if "process" in runtimes:
            # Interleaved rounds: the machine's noise falls on both alike.
            plain, confined = [], []
            for _round in range(3):
                plain.append(median_ms(process, arguments.tasks))
                confined.append(median_ms(lambda i: process(i, confined=True), arguments.tasks))
            figures["process"] = statistics.median(plain)
            figures["process_sandboxed"] = statistics.median(confined)
            ratio = figures["process_sandboxed"] / figures["process"]
            print(
                f"process_sandboxed_ratio: {ratio:.3f} (target <= 1.10: "
                f"{'PASS' if ratio <= 1.10 else 'FAIL'})"
            )
            stop_forkservers(root.path)

        if runtimes & {"docker", "aws_batch", "kubernetes"}:
            environ = containers.podman_environment()
            base = containers.ensure_base_image(environ)
            [image] = containers.build_repository_images(repository, base, environ).images.values()
            task = FlowUITask(
                root=str(root.path),
                repository="bench",
                repository_path=str(repository),
                operator="NoOpOperator",
                version="1.0",
                dependency={},
                image=image,
            )
            with containers.podman_service(work, environ) as docker_host:
                os.environ["DOCKER_HOST"] = docker_host

                def docker(index: int) -> None:
                    name = f"docker{index + 1}"
                    FlowUIDockerOperator(task_id=name, flowui_task=task).execute(context_for(name))

                if "docker" in runtimes:
                    figures["docker"] = median_ms(docker, arguments.tasks)
                if "aws_batch" in runtimes:
                    extra = {"DOCKER_HOST": docker_host, "MOTO_DOCKER_NETWORK_MODE": "host"}
                    with aws.moto_server(work, extra) as endpoint:
                        os.environ.update(aws.MOTO_ENVIRONMENT)
                        os.environ["AWS_ENDPOINT_URL"] = endpoint
                        os.environ.update(
                            aws.register_batch(endpoint, image, root, {"NoOpOperator": "1.0"})
                        )

                        jobs: list[float] = []  # each job's own run, as Batch records it

                        def batch(index: int) -> None:
                            name = f"batch{index + 1}"
                            operator = FlowUIBatchOperator(
                                task_id=name, flowui_task=task, aws_conn_id=None
                            )
                            operator.execute(context_for(name))
                            job = operator.hook.get_job_description(operator.job_id)
                            jobs.append((job["stoppedAt"] - job["startedAt"]) / 1000)

                        figures["aws_batch"] = median_ms(batch, arguments.batch_tasks)
                        job_seconds = statistics.median(jobs[1:])
                        print(f"aws_batch_job_own_s_median: {job_seconds:.2f}")
                        seconds, target = figures["aws_batch"] / 1000, job_seconds + 3
                        print(
                            f"aws_batch_task_s_median: {seconds:.2f} (target <= the job's own "
                            f"+ 3 s = {target:.1f}: {'PASS' if seconds <= target else 'FAIL'})"
                        )
            if "kubernetes" in runtimes:
                figures["kubernetes"], pod_seconds = time_pods(
                    work, root, task, environ, arguments.tasks
                )
                print(f"kubernetes_pod_own_s_median: {pod_seconds:.1f}")
                seconds, target = figures["kubernetes"] / 1000, pod_seconds + 1.5
                print(
                    f"kubernetes_task_s_median: {seconds:.2f} (target <= the pod's own + 1.5 s "
                    f"= {target:.1f}: {'PASS' if seconds <= target else 'FAIL'})"
                )

    for runtime, milliseconds in figures.items():
        print(f"{runtime}_task_ms_median: {milliseconds:.1f}")
        print(f"{runtime}_overhead_ms: {milliseconds - direct:.1f}")


def time_pods(
    work: Path, root: FileSystemRoot, task: FlowUITask, environ: dict[str, str], tasks: int
) -> tuple[float, float]:
    """The median milliseconds of a kubernetes task, and the median seconds of its pod's own
    life (creation to its container's end), on the tests' cluster."""
    with kubernetes.running_cluster(work / "kubernetes") as cluster:
        cluster.load_image(str(task.image), environ)
        cluster.shared_root(root.path, "flowui-root")
        os.environ["FLOWUI_KUBERNETES_PULL_POLICY"] = "Never"
        lives: list[float] = []

        def pod(index: int) -> None:
            name = f"pod{index + 1}"
            operator = FlowUIKubernetesOperator(
                task_id=name, flowui_task=task, config_file=str(cluster.kubeconfig)
            )
            operator.execute(context_for(name))
            finished = operator.remote_pod
            [status] = finished.status.container_statuses
            created = finished.metadata.creation_timestamp
            lives.append((status.state.terminated.finished_at - created).total_seconds())

        milliseconds = median_ms(pod, tasks)
        return milliseconds, statistics.median(lives[1:])


if __name__ == "__main__":
    main()
