"""Benchmark: many runs queued at once on the production profile, CeleryExecutor versus
LocalExecutor, on the same machine, PostgreSQL and task slots.

Queues `--runs` runs (default 100) of the example dataset workflow at the same moment and waits
until all have finished, once with CeleryExecutor (`--workers` workers of `--concurrency` task
slots each, Redis as broker) and once with LocalExecutor (the same number of slots). Both use
the machine's PostgreSQL (127.0.0.1:5432, a new database per platform, dropped afterwards) and
its Redis (127.0.0.1:6379, an empty database, flushed afterwards).

Prints, per executor: runs that succeeded, tasks, seconds from the first trigger to the last run's
end, tasks per minute; then Celery's tasks per minute over LocalExecutor's, and the load average.

Usage: uv run --frozen python benchmarks/executors.py [--runs 100] [--workers 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import redis

from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import Platform, free_port
from flowui.server.airflow_client import AirflowClient, DagRun
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow
from flowui.workflows.validate import parse_workflow

EXAMPLES = Path(__file__).parents[1] / "examples"
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
DAG_ID = "bench_dataset_update"


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"flowui_bench_{secrets.token_hex(4)}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def redis_database() -> Iterator[str]:
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{number}")
        if client.dbsize() == 0:
            break
    else:
        raise SystemExit("every database of the machine's Redis holds keys")
    try:
        yield f"{REDIS}/{number}"
    finally:
        client.flushdb()
        client.close()


def queue_runs(client: AirflowClient, runs: int) -> tuple[float, list[DagRun]]:
    """Trigger `runs` runs back to back; wait for all; (seconds, the finished runs)."""
    data = EXAMPLES / "operators_repository" / "data"
    conf = {
        "sales_source": str(data / "sales.csv"),
        "customers_source": str(data / "customers.json"),
    }
    first = datetime.now(UTC)
    started = [client.trigger_run(DAG_ID, conf).run_id for _ in range(runs)]
    finished: dict[str, DagRun] = {}
    deadline = time.monotonic() + 3600
    while len(finished) < runs:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(finished)} of {runs} runs finished within an hour")
        time.sleep(2)
        for offset in range(0, runs, 100):
            for run in client.list_runs(DAG_ID, limit=100, offset=offset):
                if run.run_id in started and run.finished:
                    finished[run.run_id] = run
    last = max(run.end_date for run in finished.values() if run.end_date is not None)
    return (last - first).total_seconds(), list(finished.values())


def measure(executor: str, runs: int, workers: int, concurrency: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix=f"flowui-bench-{executor}-") as work,
        postgres_database() as airflow_database,
        postgres_database() as flowui_database,
        redis_database() as broker,
    ):
        project = Path(work)
        settings = load_settings(
            project,
            {
                "VOLUME_MOUNT_PATH_HOST": str(project / "fs"),
                "FLOWUI_PROFILE": "production",
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_database,
                "FLOWUI_DATABASE_URL": flowui_database,
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "FLOWUI_CELERY_WORKERS": str(workers),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            },
            environ={},
        )
        root = settings.root.create()
        write_config_file(settings)
        install_repository(EXAMPLES / "operators_repository", root)
        catalog = catalog_from_root(root)
        document = json.loads((EXAMPLES / "workflows" / "dataset_update.json").read_text())
        workflow, errors = parse_workflow(document, catalog)
        assert workflow is not None and not errors, errors
        platform = Platform(settings, free_port())
        try:
            credentials = platform.start()
            platform.wait_until_healthy(300)
            with AirflowClient(
                platform.api_url, credentials.username, credentials.password
            ) as client:
                since = datetime.now(UTC)
                compile_workflow(workflow, DAG_ID, catalog, root)
                client.wait_for_dag(DAG_ID, timeout=120, parsed_since=since)
                seconds, finished = queue_runs(client, runs)
                tasks = sum(len(client.task_instances(DAG_ID, run.run_id)) for run in finished)
        finally:
            platform.stop()
    succeeded = sum(run.state == "success" for run in finished)
    return {
        "succeeded": succeeded,
        "tasks": tasks,
        "seconds": seconds,
        "tasks_per_minute": tasks / seconds * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    arguments = parser.parse_args()
    slots = arguments.workers * arguments.concurrency
    print(
        f"{arguments.runs} runs of the example dataset workflow queued at once; {slots} task "
        f"slots; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}"
    )
    results = {}
    for executor in ("CeleryExecutor", "LocalExecutor"):
        figures = measure(executor, arguments.runs, arguments.workers, arguments.concurrency)
        results[executor] = figures
        shape = (
            f"{arguments.workers} workers x {arguments.concurrency}"
            if executor == "CeleryExecutor"
            else f"parallelism {slots}"
        )
        print(
            f"{executor:<15} ({shape}): {figures['succeeded']:.0f}/{arguments.runs} runs "
            f"succeeded, {figures['tasks']:.0f} tasks in {figures['seconds']:.1f} s = "
            f"{figures['tasks_per_minute']:.1f} tasks/min"
        )
    ratio = (
        results["CeleryExecutor"]["tasks_per_minute"] / results["LocalExecutor"]["tasks_per_minute"]
    )
    print(f"ratio Celery / Local tasks per minute: {ratio:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
