"""Benchmark: the platform server's REST API with many workflows stored.

Prints, one figure per line: p50/p95 latency of listing workflows (one page) and of reading
one workflow, over a real uvicorn server on 127.0.0.1 with SQLite (the embedded default) or
PostgreSQL (`--database URL`), and the requests per second that concurrent clients get.

Usage: uv run --frozen python benchmarks/server_api.py [--workflows 1000] [--requests 500]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from flowui.platform import free_port
from flowui.server.context import ServerContext
from flowui.server.models import Membership, Role, User, Workflow, WorkflowVersion, Workspace
from flowui.server.security import hash_password
from flowui.storage import FileSystemRoot

EMAIL, PASSWORD = "bench@example.com", "benchmark password"


def workflow_document(index: int) -> dict[str, object]:
    """A realistic document: five tasks in a chain with literal inputs."""
    operator = {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"}
    return {
        "schema_version": 1,
        "name": f"workflow {index:04d}",
        "description": "Loads, cleans and aggregates the daily sales.",
        "tags": ["bench", f"team-{index % 7}"],
        "schedule": {"type": "preset", "preset": "daily"},
        "tasks": [
            {
                "id": f"t{task}",
                "operator": operator,
                "inputs": {"name": {"value": f"task {task}"}, "times": {"value": 2}},
                "depends_on": [f"t{task - 1}"] if task else [],
            }
            for task in range(5)
        ],
    }


def store_workflows(context: ServerContext, count: int) -> tuple[int, list[int]]:
    """A user, a workspace and `count` workflows of two versions each: (workspace id,
    workflow ids)."""
    with context.sessions() as session:
        user = User(email=EMAIL, password_hash=hash_password(PASSWORD), display_name="bench")
        workspace = Workspace(name="bench")
        workspace.memberships.append(Membership(user=user, role=Role.OWNER))
        session.add(workspace)
        session.flush()
        workflows = []
        for index in range(count):
            document = workflow_document(index)
            workflow = Workflow(
                workspace_id=workspace.id,
                name=str(document["name"]),
                dag_id=f"flowui_{secrets.token_hex(8)}",
                current_version=2,
            )
            workflow.versions = [
                WorkflowVersion(number=number, document=document) for number in (1, 2)
            ]
            session.add(workflow)
            workflows.append(workflow)
        session.commit()
        return workspace.id, [workflow.id for workflow in workflows]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_server(project: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`flowui server run` for `project` on a free port, once it answers: (process, URL)."""
    port = free_port()
    flowui = Path(sys.executable).parent / "flowui"
    server = subprocess.Popen(
        [str(flowui), "server", "run", "--project", str(project), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/api/health/live").status_code == 200:
                return server, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            raise SystemExit("the server did not start")
        time.sleep(0.1)


def timed_requests(client: httpx.Client, urls: list[str]) -> list[float]:
    """Milliseconds per request, one after the other."""
    latencies = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def throughput(base_url: str, token: str, urls: list[str], clients: int) -> float:
    """Requests per second with `clients` threads sending `urls` round-robin."""
    errors: list[BaseException] = []

    def worker(part: list[str]) -> None:
        try:
            with httpx.Client(base_url=base_url, headers={"Authorization": token}) as client:
                timed_requests(client, part)
        except BaseException as error:  # reported below: a failed request fails the benchmark
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(urls[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return len(urls) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500, help="Requests per figure.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients for RPS.")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: SQLite).")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowui-bench-api-") as directory:
        project = Path(directory)
        (project / "config.ini").write_text(
            f"[project]\nVOLUME_MOUNT_PATH_HOST = {project / 'fs'}\n"
            + (
                f"[platform]\nFLOWUI_DATABASE_URL = {arguments.database}\n"
                * bool(arguments.database)
            )
        )
        context = ServerContext.open(FileSystemRoot(project / "fs"), database=arguments.database)
        started = time.perf_counter()
        workspace_id, workflow_ids = store_workflows(context, arguments.workflows)
        print(f"stored_workflows: {arguments.workflows} in {time.perf_counter() - started:.1f} s")
        context.close()

        server, base_url = start_server(project)
        try:
            login = httpx.post(
                f"{base_url}/api/auth/login", data={"username": EMAIL, "password": PASSWORD}
            )
            token = f"Bearer {login.json()['access_token']}"
            base = f"/api/workspaces/{workspace_id}/workflows"
            with httpx.Client(base_url=base_url, headers={"Authorization": token}) as client:
                listed = client.get(base, params={"limit": arguments.page_size}).json()
                ids = [item["id"] for item in listed]
                assert len(ids) == min(arguments.page_size, arguments.workflows), listed
                pages = arguments.workflows // arguments.page_size
                list_urls = [
                    f"{base}?limit={arguments.page_size}&offset={(i % pages) * arguments.page_size}"
                    for i in range(arguments.requests)
                ]
                read_urls = [
                    f"{base}/{workflow_ids[(i * 7919) % len(workflow_ids)]}"
                    for i in range(arguments.requests)
                ]
                timed_requests(client, list_urls[:20] + read_urls[:20])  # warm-up
                list_ms = timed_requests(client, list_urls)
                read_ms = timed_requests(client, read_urls)
            for name, values in (("list_workflows", list_ms), ("read_workflow", read_ms)):
                p95 = percentile(values, 0.95)
                print(f"{name}_p50_ms: {statistics.median(values):.1f}")
                print(f"{name}_p95_ms: {p95:.1f}")
                print(f"{name}_p95_target: <= 50 ms {'PASS' if p95 <= 50 else 'FAIL'}")
            rps = throughput(base_url, token, read_urls, arguments.clients)
            print(f"read_workflow_requests_per_second_{arguments.clients}_clients: {rps:.0f}")
            rps = throughput(base_url, token, list_urls, arguments.clients)
            print(f"list_workflows_requests_per_second_{arguments.clients}_clients: {rps:.0f}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
