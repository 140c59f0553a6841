"""Benchmark: FlowUI workflows on the embedded platform (a real Airflow 3 on SQLite).

Prints, one figure per line:
1. a chain of 10 no-op tasks as a FlowUI workflow versus the same DAG written by hand with plain
   PythonOperators, run alternately on the same Airflow: end-to-end seconds (trigger to finished)
   and their ratio, on the idle machine (target <= 1.10) and again while a busy loop started by
   this script keeps one core loaded (target <= 1.25);
2. seconds from compiling a new workflow to its DAG being runnable in Airflow (target <= 5 s);
3. idle memory (PSS) of the platform's components: Airflow's three and FlowUI's server
   (target <= 1 GiB);
4. where a FlowUI task's own overhead goes: starting one no-op task with the process runtime
   (`run_task_process`) in a new interpreter versus as a fork of the fork server, idle and loaded.

Usage: uv run --frozen python benchmarks/workflow_runs.py [--runs 3] [--tasks 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import Platform, free_port, platform_memory_pss
from flowui.runtime.forkserver import stop_forkservers
from flowui.runtime.process import run_task_process
from flowui.runtime.spec import TaskSpec
from flowui.server.airflow_client import AirflowClient
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow
from flowui.workflows.validate import parse_workflow

PLAIN_DAG = """
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator


def nothing():
    return None


with DAG(dag_id="plain_chain", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    previous = None
    for index in range({tasks}):
        task = PythonOperator(task_id=f"t{{index}}", python_callable=nothing)
        if previous is not None:
            previous >> task
        previous = task
"""


def make_noop_repository(path: Path) -> Path:
    folder = path / "operators" / "NoOpOperator"
    folder.mkdir(parents=True)
    (path / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "bench"\nVERSION = "1.0"\n')
    (folder / "model.py").write_text(
        "from pydantic import BaseModel\n\n\nclass InputModel(BaseModel):\n    pass\n"
    )
    (folder / "operator.py").write_text(
        "from flowui.base_operator import BaseOperator\n\n\n"
        "class NoOpOperator(BaseOperator):\n"
        "    def operator_function(self, input_model):\n"
        "        return {}\n"
    )
    (folder / "metadata.json").write_text('{"name": "NoOpOperator"}\n')
    return path


def chain_workflow(tasks: int, name: str) -> dict[str, object]:
    operator = {"repository": "bench", "name": "NoOpOperator", "version": "1.0"}
    return {
        "name": name,
        "tasks": [
            {
                "id": f"t{index}",
                "operator": operator,
                "depends_on": [f"t{index - 1}"] if index else [],
            }
            for index in range(tasks)
        ],
    }


def deploy(
    client: AirflowClient, root: FileSystemRoot, dag_id: str, document: dict[str, object]
) -> float:
    """Compile a workflow; return the seconds until Airflow can run it."""
    catalog = catalog_from_root(root)
    workflow, errors = parse_workflow(document, catalog)
    assert workflow is not None and not errors, errors
    started, since = time.perf_counter(), datetime.now(UTC)
    compile_workflow(workflow, dag_id, catalog, root)
    client.wait_for_dag(dag_id, timeout=120, interval=0.1, parsed_since=since)
    return time.perf_counter() - started


def timed_run(client: AirflowClient, dag_id: str) -> float:
    started = time.perf_counter()
    run = client.trigger_run(dag_id, {})
    finished = client.wait_for_run(dag_id, run.run_id, timeout=600, interval=0.1)
    assert finished.state == "success", f"{dag_id} run {run.run_id}: {finished.state}"
    return time.perf_counter() - started


# A bounded busy loop: it ends by itself even if this script is killed before stopping it.
BUSY_LOOP = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@contextlib.contextmanager
def one_core_loaded(max_seconds: float) -> Iterator[None]:
    """A busy loop on one core for the duration of the block (at most `max_seconds`)."""
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=max_seconds)])
    try:
        yield
    finally:
        loop.terminate()
        loop.wait()


def task_start_milliseconds(repository: Path, root: Path, forkserver: bool, tasks: int) -> float:
    """Median milliseconds of `run_task_process` for the no-op operator (a warm-up first)."""
    seconds = []
    for index in range(tasks + 1):
        spec = TaskSpec.model_validate(
            {
                "operator": {"repository_path": str(repository), "name": "NoOpOperator"},
                "context": {"dag_id": "bench", "run_id": "start", "task_id": f"t{index}"},
                "root": str(root),
            }
        )
        started = time.perf_counter()
        outcome = run_task_process(
            spec,
            python=sys.executable,
            environ={"PATH": os.environ["PATH"]},
            timeout=60,
            forkserver_idle_seconds=60 if forkserver else 0,
        )
        seconds.append(time.perf_counter() - started)
        assert outcome.succeeded, outcome.error
    return statistics.median(seconds[1:]) * 1000


def print_task_start(repository: Path, root: FileSystemRoot, state: str) -> None:
    new = task_start_milliseconds(repository, root.path, forkserver=False, tasks=10)
    forked = task_start_milliseconds(repository, root.path, forkserver=True, tasks=10)
    print(f"task_{state}_new_interpreter_ms_median: {new:.0f}")
    print(f"task_{state}_forkserver_ms_median: {forked:.0f}")


def compare_chains(client: AirflowClient, tasks: int, runs: int, state: str, target: float) -> None:
    """Run both chains alternately; print their medians, their ratio and its verdict."""
    flowui_seconds, plain_seconds = [], []
    for _ in range(runs):
        flowui_seconds.append(timed_run(client, "flowui_chain"))
        plain_seconds.append(timed_run(client, "plain_chain"))
    flowui_median = statistics.median(flowui_seconds)
    plain_median = statistics.median(plain_seconds)
    ratio = flowui_median / plain_median
    print(f"chain_{tasks}_{state}_flowui_seconds_median: {flowui_median:.2f}")
    print(f"chain_{tasks}_{state}_plain_python_seconds_median: {plain_median:.2f}")
    print(f"chain_{tasks}_{state}_ratio_flowui_to_plain: {ratio:.3f}")
    print(f"chain_ratio_{state}_target: <= {target:.2f} {'PASS' if ratio <= target else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Runs of each DAG (alternating).")
    parser.add_argument("--tasks", type=int, default=10, help="Tasks in each chain.")
    parser.add_argument("--new-dags", type=int, default=3, help="New workflows to compile.")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowui-bench-workflows-") as directory:
        project = Path(directory)
        settings = load_settings(
            project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={}
        )
        root = settings.root.create()
        write_config_file(settings)  # FlowUI's server reads the project as `flowui up` does
        repository = make_noop_repository(project / "repository")
        install_repository(repository, root)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        print_task_start(repository, root, "idle")
        with one_core_loaded(max_seconds=120):
            print_task_start(repository, root, "one_core_loaded")
        stop_forkservers(root.path)
        platform = Platform(settings, free_port(), server_port=free_port())
        try:
            started = time.perf_counter()
            credentials = platform.start()
            platform.wait_until_healthy(180)
            print(f"platform_start_to_healthy_seconds: {time.perf_counter() - started:.1f}")
            client = AirflowClient(platform.api_url, credentials.username, credentials.password)

            time.sleep(20)  # idle: let start-up work (migrations, first parses) settle
            memory = platform_memory_pss(platform.component_pids)
            total_mib = sum(memory.values()) / 2**20
            for component, size in sorted(memory.items()):
                print(f"idle_pss_{component}_mib: {size / 2**20:.0f}")
            print(f"idle_pss_total_mib: {total_mib:.0f}")
            print(f"idle_pss_target: <= 1024 MiB {'PASS' if total_mib <= 1024 else 'FAIL'}")

            compile_seconds = [
                deploy(client, root, f"bench_new_{index}", chain_workflow(2, f"new {index}"))
                for index in range(arguments.new_dags)
            ]
            print(f"compile_to_runnable_seconds_median: {statistics.median(compile_seconds):.2f}")
            print(f"compile_to_runnable_seconds_max: {max(compile_seconds):.2f}")
            verdict = "PASS" if statistics.median(compile_seconds) <= 5 else "FAIL"
            print(f"compile_to_runnable_target: median <= 5 s {verdict}")

            deploy(client, root, "flowui_chain", chain_workflow(arguments.tasks, "chain"))
            (root.airflow_dags / "plain_chain.py").write_text(
                PLAIN_DAG.format(tasks=arguments.tasks)
            )
            client.wait_for_dag("plain_chain", timeout=120)
            client.patch_dag("plain_chain", is_paused=False)
            timed_run(client, "flowui_chain")  # warm-up: first-run costs are not the steady state
            timed_run(client, "plain_chain")
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
            compare_chains(client, arguments.tasks, arguments.runs, "idle", target=1.10)
            with one_core_loaded(max_seconds=900):
                timed_run(client, "flowui_chain")  # the load settles in before timing
                compare_chains(
                    client, arguments.tasks, arguments.runs, "one_core_loaded", target=1.25
                )
            client.close()
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
