"""Environments of dependency groups for the `process` runtime, built for real with uv.

The requirements name tiny pure-Python packages (six, iniconfig) that uv already has in its
cache, so a build takes a few seconds; flowui goes in the way it is installed here (editable).
The nonexistent-package test asks the package registry about one made-up name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowui.runtime.environments import (
    MARKER,
    EnvironmentBuildError,
    UnsupportedDependencyError,
    environment_for,
    environment_key,
    flowui_install,
)
from tests.support.paths import ROOT

SRC = ROOT / "src"
REQUIREMENTS = {"requirements_file": "requirements_0.txt", "dockerfile": None, "docker_image": None}
NO_SUCH_PACKAGE = "flowui-test-no-such-package-7f3a9c"


def repository_with(path: Path, requirements: str, name: str = "requirements_0.txt") -> Path:
    (path / "dependencies").mkdir(parents=True, exist_ok=True)
    (path / "dependencies" / name).write_text(requirements)
    return path


def run_python(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def building(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("building the environment of")]


def cache_entries(cache: Path) -> list[str]:
    """What the cache holds besides lock files (hidden staging directories included)."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the tests that may share the `six` environment."""
    return tmp_path_factory.mktemp("environments")


@pytest.fixture(scope="module")
def six_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repository_with(tmp_path_factory.mktemp("repo"), "six\n")


# --- requirements groups -----------------------------------------------------------------------


def test_environment_is_built_once_then_reused(six_repository: Path, cache: Path):
    first_log: list[str] = []
    started = time.monotonic()
    python = environment_for(six_repository, REQUIREMENTS, cache_dir=cache, log=first_log.append)
    built_in = time.monotonic() - started

    second_log: list[str] = []
    started = time.monotonic()
    again = environment_for(six_repository, REQUIREMENTS, cache_dir=cache, log=second_log.append)
    reused_in = time.monotonic() - started

    assert again == python
    assert python.parent.parent.parent == cache
    assert len(building(first_log)) == 1, first_log
    assert second_log == [], "a cached environment must not be built (or logged) again"
    assert reused_in < 0.5, f"cached lookup took {reused_in:.2f} s (first build {built_in:.1f} s)"
    marker = json.loads((python.parent.parent / MARKER).read_text())
    assert marker["requirements_file"].endswith("dependencies/requirements_0.txt")
    assert cache_entries(cache) == [python.parent.parent.name], "no staging directory is left"


def test_built_environment_runs_the_task_runtime_with_its_requirements(
    six_repository: Path, cache: Path
):
    python = environment_for(six_repository, REQUIREMENTS, cache_dir=cache)

    # The venv was built under another name and renamed: it must still be itself.
    checked = run_python(
        python,
        "import sys, six, flowui, flowui.runtime.task; "
        "print(sys.prefix); print(flowui.__file__); print(sys.modules.get('airflow'))",
    )
    assert checked.returncode == 0, checked.stderr
    prefix, flowui_file, airflow = checked.stdout.splitlines()
    assert Path(prefix) == python.parent.parent
    assert Path(flowui_file).is_relative_to(SRC), "flowui is this checkout, installed editable"
    assert airflow == "None"
    no_airflow = run_python(python, "import importlib.util as u; print(u.find_spec('airflow'))")
    assert no_airflow.stdout.strip() == "None", "task environments get flowui without Airflow"
    # Scripts work after the rename too.
    script = subprocess.run(
        [str(python.parent / "flowui-task"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert script.returncode == 0, script.stderr
    assert "TaskSpec" in script.stdout


def test_a_changed_requirements_file_gives_a_new_environment(tmp_path: Path, cache: Path):
    repository = repository_with(tmp_path / "repo", "six\n")
    before = environment_for(repository, REQUIREMENTS, cache_dir=cache)
    (repository / "dependencies" / "requirements_0.txt").write_text("six\niniconfig\n")

    log: list[str] = []
    after = environment_for(repository, REQUIREMENTS, cache_dir=cache, log=log.append)

    assert after != before
    assert len(building(log)) == 1
    assert run_python(after, "import iniconfig, six").returncode == 0
    assert run_python(before, "import iniconfig").returncode != 0, "the old one is unchanged"


def test_tasks_asking_at_once_wait_for_one_build(tmp_path: Path):
    repository = repository_with(tmp_path / "repo", "six\n")
    cache = tmp_path / "cache"
    # One other process and two threads of this one, all at once.
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from flowui.runtime.environments import environment_for; "
            f"print(environment_for(Path({str(repository)!r}), {REQUIREMENTS!r}, "
            f"cache_dir=Path({str(cache)!r}), log=print))",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    logs: list[list[str]] = [[], []]
    results: list[Path] = []

    def ask(log: list[str]) -> None:
        results.append(environment_for(repository, REQUIREMENTS, cache_dir=cache, log=log.append))

    threads = [threading.Thread(target=ask, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    other_output, _ = other.communicate(timeout=300)
    for thread in threads:
        thread.join(timeout=300)

    assert other.returncode == 0
    other_log = other_output.splitlines()
    assert len(results) == 2 and results[0] == results[1] == Path(other_log[-1])
    assert len(building(logs[0] + logs[1] + other_log)) == 1, "the environment was built twice"
    assert run_python(results[0], "import six").returncode == 0
    assert cache_entries(cache) == [results[0].parent.parent.name]


def test_what_a_dead_builder_left_behind_is_never_used(tmp_path: Path):
    repository = repository_with(tmp_path / "repo", "six\n")
    cache = tmp_path / "cache"
    key = environment_key(b"six\n", flowui_install().identity)
    (cache / key / "bin").mkdir(parents=True)  # renamed but no marker: not complete
    (cache / f".{key}.building-deadbeef" / "lib").mkdir(parents=True)

    log: list[str] = []
    python = environment_for(repository, REQUIREMENTS, cache_dir=cache, log=log.append)

    assert python == cache / key / "bin" / "python"
    assert len(building(log)) == 1
    assert run_python(python, "import six").returncode == 0
    assert cache_entries(cache) == [key]


# --- failures ----------------------------------------------------------------------------------


def test_a_package_that_does_not_exist_fails_with_uvs_message_and_leaves_nothing(
    tmp_path: Path,
):
    repository = repository_with(tmp_path / "repo", f"six\n{NO_SUCH_PACKAGE}==1.0\n")
    cache = tmp_path / "cache"

    with pytest.raises(EnvironmentBuildError) as raised:
        environment_for(repository, REQUIREMENTS, cache_dir=cache, timeout=120)

    message = str(raised.value)
    requirements = repository / "dependencies" / "requirements_0.txt"
    assert message.startswith(f"installing {requirements} failed (exit code 1):\n"), message
    assert "was not found in the package registry" in message  # uv's own words, its tail
    assert NO_SUCH_PACKAGE in message
    assert cache_entries(cache) == []


def test_a_syntax_error_in_the_requirements_fails_fast(tmp_path: Path):
    repository = repository_with(tmp_path / "repo", "six===>=1\n")
    cache = tmp_path / "cache"
    started = time.monotonic()

    with pytest.raises(EnvironmentBuildError, match="Couldn't parse requirement") as raised:
        environment_for(repository, REQUIREMENTS, cache_dir=cache)

    assert "six===>=1" in str(raised.value)
    assert time.monotonic() - started < 30
    assert cache_entries(cache) == []


def test_a_build_that_takes_too_long_is_stopped_and_leaves_nothing(tmp_path: Path):
    repository = repository_with(tmp_path / "repo", "six\n")
    cache = tmp_path / "cache"

    with pytest.raises(EnvironmentBuildError, match=r"did not finish within 0\.2 s"):
        environment_for(repository, REQUIREMENTS, cache_dir=cache, timeout=0.2)

    assert cache_entries(cache) == []


def test_a_missing_requirements_file_is_named(tmp_path: Path):
    repository = repository_with(tmp_path / "repo", "six\n", name="requirements_1.txt")

    with pytest.raises(EnvironmentBuildError, match=r"requirements_0\.txt does not exist"):
        environment_for(repository, REQUIREMENTS, cache_dir=tmp_path / "cache")


def test_a_requirements_path_outside_dependencies_is_refused(tmp_path: Path):
    with pytest.raises(EnvironmentBuildError, match="must be a file name inside dependencies/"):
        environment_for(
            tmp_path, {"requirements_file": "../../etc/passwd"}, cache_dir=tmp_path / "cache"
        )


# --- groups without an environment of their own ------------------------------------------------


@pytest.mark.parametrize(
    "dependency",
    [{}, {"requirements_file": None, "dockerfile": None, "docker_image": None}],
)
def test_no_dependency_runs_with_this_interpreter(tmp_path: Path, dependency: dict):
    cache = tmp_path / "cache"

    assert environment_for(tmp_path, dependency, cache_dir=cache) == Path(sys.executable)
    assert not cache.exists()


@pytest.mark.parametrize(
    "dependency",
    [{"dockerfile": "Dockerfile_gpu"}, {"docker_image": "ghcr.io/acme/ml:1.2"}],
)
def test_container_groups_ask_for_the_docker_runtime(tmp_path: Path, dependency: dict):
    with pytest.raises(UnsupportedDependencyError, match="run these operators with the docker"):
        environment_for(tmp_path, dependency, cache_dir=tmp_path / "cache")


def test_the_cache_key_covers_requirements_and_flowui(tmp_path: Path):
    identity = flowui_install().identity

    assert environment_key(b"six\n", identity) == environment_key(b"six\n", identity)
    assert environment_key(b"six\n", identity) != environment_key(b"six==1.17.0\n", identity)
    assert environment_key(b"six\n", identity) != environment_key(b"six\n", identity + " other")


def test_flowui_is_installed_the_way_it_is_installed_here():
    install = flowui_install()

    # This checkout is installed editable (uv sync), so environments get it editable too.
    assert install.arguments[0] == "-e"
    assert Path(install.arguments[1]).resolve() == SRC.parent
    assert str(SRC.parent) in install.identity
