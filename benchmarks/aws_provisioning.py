"""Benchmark: `flowui aws plan | apply` on moto's server, the boto3 reconciler of commit c627ebf
(the old engine) against the CloudFormation stacks of this checkout (the new engine), for 1 and
for 50 workspaces.

Each engine, for each number of workspaces, gets a fresh moto server (an empty account) and a
new project (the example operators repository imported, the workspaces in the server's SQLite
database), then runs, as a user runs them:
1. `flowui aws plan --json` on the empty account;
2. `flowui aws apply --json`;
3. `flowui aws plan --json` again, which must report no changes.
Each step must exit with 0, or the script stops with the command's stderr. For each one it
prints the wall seconds and FlowUI's own CPU seconds (user + system of the flowui process and
its children, not moto's), then the ratios CPU(50)/CPU(1) of each engine and step beside the
ratio of the new engine's stacks (the issue's target: FlowUI's share grows no faster than the
number of stacks), and the new engine's wall seconds over the old one's.

The old engine runs from a `git worktree` of c627ebf on this environment's libraries; the new
one is the installed `flowui`. Both talk to moto over HTTP, so the wall seconds are mostly
moto's: compare the engines' ratios within one run, with the load average printed beside them.

Usage: uv run --frozen python benchmarks/aws_provisioning.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.server.database import create_database_engine, database_url, migrate
from flowui.server.models import Workspace
from flowui.storage import FileSystemRoot

ROOT = Path(__file__).resolve().parents[1]
# The tests' moto server and paths (tests/support), as runtime_overhead.py uses them.
sys.path.insert(0, str(ROOT))
from tests.support.aws import MOTO_ENVIRONMENT, aws_client, moto_server  # noqa: E402
from tests.support.paths import EXAMPLES, FLOWUI  # noqa: E402

OLD_COMMIT = "c627ebf"
WORKSPACE_COUNTS = (1, 50)
STEPS = ("plan", "apply", "replan")
# A 50-workspace apply takes minutes on moto; an hour means something hangs.
COMMAND_TIMEOUT = 3600


@dataclass
class Timing:
    wall: float
    cpu: float


@dataclass
class Result:
    engine: str
    workspaces: int
    stacks: int | None  # the new engine's stacks; the old one has none
    timings: dict[str, Timing] = field(default_factory=dict)


def machine() -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min)"


def old_launcher(worktree: Path, then: str) -> list[str]:
    """This interpreter with the worktree's flowui first on sys.path, running `then`."""
    source = str(worktree / "src")
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {source!r}); {then}"]


@contextmanager
def old_engine() -> Iterator[list[str]]:
    """The command that runs the old engine's `flowui`, from a worktree of OLD_COMMIT that is
    removed afterwards, whatever happens."""
    with tempfile.TemporaryDirectory(prefix="flowui-bench-old-engine-") as directory:
        worktree = Path(directory) / "flowui"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--quiet", "--detach", str(worktree), OLD_COMMIT], check=True)
        try:
            check_old_code(worktree)
            yield old_launcher(
                worktree, "from flowui.cli.main import app; sys.argv[0] = 'flowui'; app()"
            )
        finally:
            subprocess.run([*git, "remove", "--force", str(worktree)], check=True)


def check_old_code(worktree: Path) -> None:
    """The editable install puts this checkout's src on sys.path too: make sure the launcher
    imports the worktree's flowui, which still has the reconciler's `cloud.desired`."""
    imported = subprocess.run(
        old_launcher(worktree, "import flowui.cloud.desired as d; print(d.__file__)"),
        capture_output=True,
        text=True,
        check=False,
    )
    found = Path(imported.stdout.strip() or "/nowhere")
    if imported.returncode != 0 or not found.is_relative_to(worktree):
        raise SystemExit(
            f"the old engine is not imported from {worktree}: got {found}\n{imported.stderr}"
        )


def make_project(directory: Path, endpoint: str, workspaces: int) -> Path:
    """A project as the tests make one (tests/test_cloud_aws.py: make_project, network,
    add_workspaces): the example operators imported, moto's default VPC as the network, a
    storage bucket, and `workspaces` workspaces in the server's database."""
    project = directory / "project"
    project.mkdir(parents=True)
    ec2 = aws_client(endpoint, "ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2]]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    given = {
        "PROJECT_NAME": "bench",
        "VOLUME_MOUNT_PATH_HOST": str(project / "fs"),
        "FLOWUI_AWS_SUBNETS": ",".join(subnets),
        "FLOWUI_AWS_SECURITY_GROUPS": group,
        "FLOWUI_STORAGE_BUCKET": "flowui-bench-data",
    }
    settings = load_settings(project, given, environ={})
    write_config_file(settings)
    # Only the settings given: the old engine's checkout refuses those it does not know yet.
    config = project / "config.ini"
    config.write_text(
        "".join(
            line
            for line in config.read_text().splitlines(keepends=True)
            if "=" not in line or line.startswith("#") or line.split("=")[0].strip() in given
        )
    )
    install_repository(EXAMPLES / "operators_repository", settings.root.create())
    add_workspaces(settings.root, workspaces)
    return project


def add_workspaces(root: FileSystemRoot, count: int) -> None:
    """Workspaces in the server's database, created and migrated as the server does."""
    engine = create_database_engine(database_url(None, root))
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            session.add_all(Workspace(name=f"Workspace {index}") for index in range(count))
    finally:
        engine.dispose()


def run_flowui(
    command: list[str], endpoint: str, project: Path, *arguments: str
) -> tuple[Timing, dict[str, Any]]:
    """`command aws ARGUMENTS --json` as installed_flowui runs it (none of this shell's AWS_ or
    FLOWUI_ settings); its wall seconds, its CPU seconds and its JSON report."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWUI_"))}
    environ |= MOTO_ENVIRONMENT | {"AWS_ENDPOINT_URL": endpoint, "FLOWUI_PROJECT_DIR": str(project)}
    # RUSAGE_CHILDREN counts children once waited for: here the flowui process alone, since
    # moto's server, still running, is not waited for until its benchmark ends.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    finished = subprocess.run(
        [*command, "aws", *arguments, "--json"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if finished.returncode != 0:
        raise SystemExit(
            f"`flowui aws {' '.join(arguments)}` exited with {finished.returncode}:\n"
            f"{finished.stderr}{finished.stdout}"
        )
    return Timing(wall, cpu), json.loads(finished.stdout)


def measure(engine: str, command: list[str], workspaces: int, work: Path) -> Result:
    """Plan, apply and plan again on a fresh moto server."""
    directory = work / f"{engine}-{workspaces}"
    directory.mkdir()
    with moto_server(directory) as endpoint:
        project = make_project(directory, endpoint, workspaces)
        result = Result(engine, workspaces, stacks=None)
        for step in STEPS:
            print(f"  {engine} engine, {workspaces} workspaces: {step}", file=sys.stderr)
            arguments = ("apply",) if step == "apply" else ("plan",)
            timing, report = run_flowui(command, endpoint, project, *arguments)
            result.timings[step] = timing
            if step == "plan" and "stacks" in report:
                result.stacks = len(report["stacks"])
            if step == "replan" and report["changes"] != []:
                changes = json.dumps(report["changes"], indent=2)[:4000]
                raise SystemExit(f"{engine} engine: the plan after apply has changes:\n{changes}")
    return result


def print_table(results: list[Result]) -> None:
    columns = [f"{step}_{figure}" for step in STEPS for figure in ("wall_s", "cpu_s")]
    print(f"{'engine':<7}{'workspaces':>11}{'stacks':>7}" + "".join(f"{c:>15}" for c in columns))
    for result in results:
        stacks = "-" if result.stacks is None else str(result.stacks)
        figures = [
            value
            for step in STEPS
            for value in (result.timings[step].wall, result.timings[step].cpu)
        ]
        print(
            f"{result.engine:<7}{result.workspaces:>11}{stacks:>7}"
            + "".join(f"{value:>15.2f}" for value in figures)
        )


def print_ratios(results: list[Result]) -> None:
    found = {(r.engine, r.workspaces): r for r in results}
    few, many = WORKSPACE_COUNTS
    new_few, new_many = found["new", few], found["new", many]
    assert new_few.stacks and new_many.stacks, "the new engine's plan lists its stacks"
    stacks = new_many.stacks / new_few.stacks
    print(f"stacks_ratio_{many}_to_{few}: {new_many.stacks}/{new_few.stacks} = {stacks:.2f}")
    for engine in ("old", "new"):
        for step in STEPS:
            cpu = found[engine, many].timings[step].cpu / found[engine, few].timings[step].cpu
            line = f"cpu_ratio_{many}_to_{few}_{engine}_{step}: {cpu:.2f}"
            if engine == "new":
                verdict = "yes" if cpu <= stacks else "no"
                line += f" (grows no faster than the stacks, <= {stacks:.2f}: {verdict})"
            print(line)
    for workspaces in WORKSPACE_COUNTS:
        for step in STEPS:
            new = found["new", workspaces].timings[step].wall
            old = found["old", workspaces].timings[step].wall
            print(f"wall_ratio_new_to_old_{workspaces}_workspaces_{step}: {new / old:.2f}")


def main() -> None:
    print(f"machine_start: {machine()}")
    results = []
    with old_engine() as old, tempfile.TemporaryDirectory(prefix="flowui-bench-aws-") as work:
        for workspaces in WORKSPACE_COUNTS:
            results.append(measure("old", old, workspaces, Path(work)))
            results.append(measure("new", [str(FLOWUI)], workspaces, Path(work)))
    print_table(results)
    print_ratios(results)
    print(f"machine_end: {machine()}")


if __name__ == "__main__":
    main()
