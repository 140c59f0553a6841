"""The bubblewrap sandbox of code from operators repositories (flowui.sandbox), and the process
runtime inside it: what a sandboxed process can and cannot see, reach and use, as an operator
from a repository nobody trusts would try it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowui.airflow.operators.common import FlowUITask
from flowui.airflow.operators.process import FlowUIOperator
from flowui.operators.dry_run import dry_run
from flowui.runtime.forkserver import stop_forkservers
from flowui.runtime.process import task_sandbox
from flowui.runtime.secrets import EnvironmentSecrets
from flowui.runtime.spec import TaskOutcome
from flowui.sandbox import (
    DEFAULT_ENVIRON,
    Limits,
    Sandbox,
    SandboxPolicy,
    SandboxUnavailable,
    missing_tool,
    unavailable_reason,
)
from flowui.storage import FileSystemRoot
from tests.support.processes import forkserver_pids
from tests.support.spying import listener, write_spy_at_run_time

PLATFORM_SECRET = "platform-SECRET-5f1e"
API_TOKEN = "tok-sandbox-SECRET-0b7d"
PYTHON = Path(sys.executable)
POLICY = SandboxPolicy()


def run_python(sandbox: Sandbox, code: str, environ: dict[str, str] | None = None, **kwargs: Any):
    command = sandbox.wrap([sys.executable, "-c", code], environ)
    return subprocess.run(
        command.argv, env=command.env, capture_output=True, text=True, timeout=60, **kwargs
    )


def report_of(sandbox: Sandbox, code: str) -> Any:
    result = run_python(sandbox, f"import json\n{code}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A folder given read-only, one given read-write, and a secret file given to nobody."""
    given = tmp_path / "given"
    given.mkdir()
    (given / "code.py").write_text("print('hi')\n")
    writable = tmp_path / "writable"
    writable.mkdir()
    secret = tmp_path / "platform" / "secret.key"
    secret.parent.mkdir()
    secret.write_text(PLATFORM_SECRET)
    return {"given": given, "writable": writable, "secret": secret}


def test_a_sandboxed_process_sees_only_its_environment_and_the_paths_it_is_given(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWUI_INTERNAL_TOKEN", PLATFORM_SECRET)
    uid = POLICY.uid()
    sandbox = Sandbox(
        python=PYTHON, read_only=(places["given"],), writable=(places["writable"],), uid=uid
    )
    sandbox.prepare()

    found = report_of(
        sandbox,
        f"""
import os
found = {{"environ": dict(os.environ), "uid": os.getuid(), "reads": {{}}, "writes": {{}}}}
for path in [{str(places["given"] / "code.py")!r}, {str(places["secret"])!r},
             "/proc/{os.getpid()}/environ", "/var/lib", "/etc/shadow"]:
    try:
        found["reads"][path] = open(path).read(10) if not os.path.isdir(path) else "listed"
    except OSError as error:
        found["reads"][path] = type(error).__name__
for path in [{str(places["writable"] / "out.txt")!r}, {str(places["given"] / "new.txt")!r}]:
    try:
        open(path, "w").write("x")
        found["writes"][path] = "written"
    except OSError as error:
        found["writes"][path] = type(error).__name__
found["capabilities"] = [line for line in open("/proc/self/status") if line.startswith("CapEff")]
found["processes"] = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
print(json.dumps(found))
""",
    )

    assert found["environ"] == {**DEFAULT_ENVIRON, "PWD": "/tmp"}
    if os.geteuid() == 0:
        assert found["uid"] == POLICY.uid_base  # never root
    assert found["reads"] == {
        str(places["given"] / "code.py"): "print('hi'",
        str(places["secret"]): "FileNotFoundError",
        f"/proc/{os.getpid()}/environ": "FileNotFoundError",  # no process of the host's
        "/var/lib": "FileNotFoundError",  # the databases' files among others
        "/etc/shadow": "FileNotFoundError",
    }
    assert found["writes"] == {
        str(places["writable"] / "out.txt"): "written",
        str(places["given"] / "new.txt"): "OSError",  # read-only file system
    }
    assert (places["writable"] / "out.txt").read_text() == "x"
    assert found["capabilities"] == ["CapEff:\t0000000000000000\n"]
    assert len(found["processes"]) <= 3  # bwrap's init, setpriv/prlimit's exec of Python


def test_the_network_is_the_hosts_only_when_the_sandbox_asks_for_it() -> None:
    with listener() as (port, accepted):
        code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print(json.dumps("connected"))
except OSError as error:
    print(json.dumps(type(error).__name__))
"""
        closed = report_of(Sandbox(python=PYTHON, uid=POLICY.uid()), code)
        assert accepted == []
        opened = report_of(Sandbox(python=PYTHON, uid=POLICY.uid(), network=True), code)

    assert closed == "ConnectionRefusedError"  # a loopback of its own, where nothing listens
    assert opened == "connected"
    assert len(accepted) == 1


def test_cpu_time_memory_and_processes_are_limited() -> None:
    limits = Limits(cpu_seconds=1, memory_mib=256, processes=12)
    sandbox = Sandbox(python=PYTHON, uid=POLICY.uid(), limits=limits)

    started = time.monotonic()
    spinning = run_python(sandbox, "while True: pass")
    assert spinning.returncode != 0
    assert time.monotonic() - started < 20

    memory = run_python(
        sandbox,
        "try:\n    block = bytearray(512 << 20)\n    print('allocated')\n"
        "except MemoryError:\n    print('MemoryError')",
    )
    assert memory.stdout.strip() == "MemoryError", memory.stderr

    processes = run_python(
        sandbox,
        "import subprocess\nstarted = []\ntry:\n"
        "    for _ in range(40):\n"
        "        started.append(subprocess.Popen(['sleep', '5']))\n"
        "except OSError as error:\n    print(len(started), type(error).__name__)\n"
        "for child in started:\n    child.kill()",
    )
    count, error = processes.stdout.split()
    assert error == "BlockingIOError"  # EAGAIN: the process limit
    assert int(count) < 12


def test_a_bind_that_would_show_a_private_part_of_the_root_is_refused(tmp_path: Path) -> None:
    root = FileSystemRoot(tmp_path / "fs").create()
    sandbox = Sandbox(python=PYTHON, read_only=(root.path,), hidden=root.private_paths)

    with pytest.raises(SandboxUnavailable, match=r"would show .*platform"):
        sandbox.wrap(["true"])


def test_without_bubblewrap_code_from_repositories_is_refused_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    monkeypatch.setenv("PATH", str(no_bwrap))
    unavailable_reason.cache_clear()
    try:
        assert missing_tool() == "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
        with pytest.raises(SandboxUnavailable) as refused:
            POLICY.check(POLICY.uid(), PYTHON)
    finally:
        unavailable_reason.cache_clear()

    assert "apt-get install bubblewrap" in str(refused.value)
    assert "FLOWUI_SANDBOX=none" in str(refused.value)


# --- the process runtime in its workspace's sandbox ------------------------------------------


@dataclass
class TaskInstance:
    task_id: str
    try_number: int = 1
    map_index: int = -1


@dataclass(frozen=True)
class Platform:
    root: FileSystemRoot
    repository: Path
    other_workspace_file: Path
    own_dataset_file: Path


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    """A root with the platform's private files, a tree for workspaces 7 and 8 (each with a
    dataset file), and a spy's repository checkout."""
    root = FileSystemRoot(tmp_path / "fs").create()
    root.platform.mkdir()
    (root.platform / "secret.key").write_text(PLATFORM_SECRET)
    (root.platform / "flowui.db").write_text(PLATFORM_SECRET)
    files = []
    for workspace in (7, 8):
        dataset = root.workspace(workspace).dataset("numbers")
        dataset.mkdir(parents=True)
        (dataset / "data.csv").write_text(f"workspace {workspace}\n")
        files.append(dataset / "data.csv")
    return Platform(root, root.operators_repository("r7_spy"), files[1], files[0])


def spy_task(platform: Platform, workspace_id: int, memory: int = 1024) -> FlowUITask:
    return FlowUITask(
        root=str(platform.root.path),
        repository="spies",
        repository_path=str(platform.repository),
        operator="SpyOperator",
        version="0.1.0",
        dependency={},
        image=None,
        secret_names=["API_TOKEN"],
        resources={"limits": {"cpu": 1000, "memory": memory}},
        workspace_id=workspace_id,
    )


def run_spy(platform: Platform, workspace_id: int, task_id: str) -> dict[str, Any]:
    operator = FlowUIOperator(
        task_id=task_id,
        flowui_task=spy_task(platform, workspace_id),
        secrets_source=EnvironmentSecrets({"API_TOKEN": API_TOKEN, "OTHER": PLATFORM_SECRET}),
    )
    context = {"run_id": "run_1", "ti": TaskInstance(task_id), "params": {}, "logical_date": None}
    output = operator.execute(context)
    assert output is not None
    return json.loads(output["report"])  # type: ignore[no-any-return]


def test_a_process_runtime_task_sees_only_its_workspace_and_its_declared_secret(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FLOWUI_INTERNAL_TOKEN", "FLOWUI_SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        monkeypatch.setenv(name, PLATFORM_SECRET)  # as the worker's own environment holds
    monkeypatch.setenv("FLOWUI_TASK_NETWORK", "false")
    with listener() as (port, accepted):
        write_spy_at_run_time(
            platform.repository,
            paths=[
                platform.root.platform / "secret.key",
                platform.root.platform / "flowui.db",
                platform.root.platform,
                platform.other_workspace_file,
                platform.root.forkservers,
                platform.own_dataset_file,
            ],
            targets=[("127.0.0.1", port)],
        )
        try:
            first = run_spy(platform, 7, "spy_1")
            second = run_spy(platform, 7, "spy_2")
            [server] = forkserver_pids(platform.root.path)
            server_uid, server_folder = _uid_of(server), _server_folder_of(server)
        finally:
            stop_forkservers(platform.root.path)
        assert accepted == []

    tree = platform.root.workspace(7)
    assert set(first["environ"]) <= {*DEFAULT_ENVIRON, "PWD", "PYTHONUNBUFFERED", "API_TOKEN"}
    assert PLATFORM_SECRET not in json.dumps(first)
    assert first["secret_sha256"] == sha256(API_TOKEN)  # the one it declares, and no other
    assert first["reads"] == {
        str(platform.root.platform / "secret.key"): "FileNotFoundError",
        str(platform.root.platform / "flowui.db"): "FileNotFoundError",
        str(platform.root.platform): "FileNotFoundError",
        str(platform.other_workspace_file): "FileNotFoundError",
        # Its own server's folder (where the server listens) and no other.
        str(platform.root.forkservers): [server_folder],
        str(platform.own_dataset_file): "workspace 7\n",
    }
    assert first["network"] == {f"127.0.0.1:{port}": "ConnectionRefusedError"}
    if os.geteuid() == 0:
        assert first["uid"] == POLICY.uid_base + 7
        assert server_uid == POLICY.uid_base + 7  # the fork server runs in the sandbox
    assert second == first  # forked from the same sandboxed server
    run_directory = next(tree.runs.glob("*/run_1/spy_1"))
    assert json.loads((run_directory / "output.json").read_text())["report"]
    assert "spied" in (run_directory / "log.txt").read_text()
    assert API_TOKEN not in (run_directory / "log.txt").read_text()
    assert (run_directory / "results" / "found.json").is_file()


def test_workspaces_get_sandboxes_of_their_own(platform: Platform) -> None:
    write_spy_at_run_time(
        platform.repository,
        paths=[platform.own_dataset_file, platform.other_workspace_file],
        targets=[],
    )
    try:
        seven = run_spy(platform, 7, "spy")
        eight = run_spy(platform, 8, "spy")
        servers = forkserver_pids(platform.root.path)
    finally:
        stop_forkservers(platform.root.path)

    assert seven["reads"] == {
        str(platform.own_dataset_file): "workspace 7\n",
        str(platform.other_workspace_file): "FileNotFoundError",
    }
    assert eight["reads"] == {
        str(platform.own_dataset_file): "FileNotFoundError",
        str(platform.other_workspace_file): "workspace 8\n",
    }
    assert len(servers) == 2
    if os.geteuid() == 0:
        assert {seven["uid"], eight["uid"]} == {POLICY.uid_base + 7, POLICY.uid_base + 8}


def test_a_repository_installed_again_at_the_same_place_is_run_anew(platform: Platform) -> None:
    """`flowui workflows run --repo` installs a repository at the same path again: the fork
    server of the old folder (a bind shows the old one) must not serve the new one's tasks."""
    write_spy_at_run_time(platform.repository, paths=[platform.own_dataset_file], targets=[])
    try:
        first = run_spy(platform, 7, "spy_1")
        shutil.rmtree(platform.repository)
        write_spy_at_run_time(platform.repository, paths=["/nowhere"], targets=[])
        second = run_spy(platform, 7, "spy_2")
    finally:
        stop_forkservers(platform.root.path)

    assert list(first["reads"]) == [str(platform.own_dataset_file)]
    assert second["reads"] == {"/nowhere": "FileNotFoundError"}  # the new code ran


def test_a_task_that_cannot_have_its_sandbox_fails_saying_why(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_spy_at_run_time(platform.repository, paths=[], targets=[])
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="apt-get install bubblewrap"):
        run_spy(platform, 7, "spy")


def test_a_dry_run_the_platform_starts_is_sandboxed_without_network(platform: Platform) -> None:
    with listener() as (port, accepted):
        write_spy_at_run_time(
            platform.repository,
            paths=[platform.root.platform / "secret.key"],
            targets=[("127.0.0.1", port)],
        )
        outcome = dry_run_in_sandbox(platform)
        assert accepted == []

    assert outcome.succeeded, outcome.error
    assert outcome.output is not None
    report = json.loads(outcome.output["report"])
    assert report["secret_sha256"] == sha256(API_TOKEN)
    assert set(report["environ"]) <= {*DEFAULT_ENVIRON, "PWD", "API_TOKEN"}
    assert report["reads"] == {str(platform.root.platform / "secret.key"): "FileNotFoundError"}
    assert report["network"] == {f"127.0.0.1:{port}": "ConnectionRefusedError"}


def dry_run_in_sandbox(platform: Platform) -> TaskOutcome:
    """A dry run of SpyOperator as the server starts one: in workspace 7's sandbox, with its
    secret, without network."""
    tree = platform.root.workspace(7)
    sandbox = task_sandbox(
        POLICY,
        python=PYTHON,
        repository=platform.repository,
        tree=tree,
        platform_root=platform.root,
        workspace_id=7,
        memory_mib=1024,
        network=False,
    )
    return dry_run(
        platform.repository,
        "SpyOperator",
        {},
        root=tree.path,
        secrets={"API_TOKEN": API_TOKEN},
        sandbox=sandbox,
    )


def _server_folder_of(pid: int) -> str:
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return Path(arguments[arguments.index(b"--directory") + 1].decode()).name


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def test_bubblewrap_is_here() -> None:
    """The tests above need bubblewrap (`make test` installs it): fail loudly, never skip."""
    assert shutil.which("bwrap"), "bubblewrap is missing: apt-get install bubblewrap"
    assert unavailable_reason(POLICY.uid()) is None
