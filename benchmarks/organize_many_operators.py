"""Benchmark: organizing an operators repository of many operators (default 1,000).

Generates a realistic repository in a temporary directory, then times
`flowui.operators.organize.organize_repository` in-process and `flowui operators organize
PATH --json` end to end, checks both results and that every run writes byte-identical `.flowui/`
files, and prints one figure per line. Exit code 1 if a check or the time target fails.

Run: uv run --frozen python benchmarks/organize_many_operators.py [--operators N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowui.operators.organize import (
    COMPILED_METADATA_FILE,
    DEPENDENCIES_MAP_FILE,
    FLOWUI_DIR,
    organize_repository,
)

TARGET_SECONDS = 10.0
DIFFERENT_FILES = ".flowui files differ from the first run's"
DEPENDENCY_GROUPS = {
    "requirements_tabular.txt": ["pandas>=2.2", "pyarrow>=15"],
    "requirements_ml.txt": ["scikit-learn>=1.5", "numpy>=1.26"],
    "requirements_plots.txt": ["matplotlib>=3.9", "plotly>=5.20"],
    "requirements_http.txt": ["requests>=2.31", "tenacity>=8.2"],
    "requirements_cloud.txt": ["boto3>=1.34", "smart-open>=7.0"],
}
VERBS = ["Load", "Filter", "Join", "Aggregate", "Train", "Score", "Plot", "Export", "Fetch"]
NOUNS = ["Sales", "Customers", "Orders", "Images", "Sensors", "Invoices", "Events", "Prices"]
COLORS = ["#fef9c3", "#dbeafe", "#dcfce7", "#fee2e2", "#ede9fe"]


# --- generating the repository ---------------------------------------------------------------


def model_source(index: int, rng: random.Random, with_secrets: bool) -> str:
    low = rng.randint(0, 10)
    high = low + rng.randint(10, 1000)
    choices = rng.sample(["csv", "json", "parquet", "tsv", "xlsx", "feather"], 3)
    secrets = (
        "\n\nclass SecretsModel(BaseModel):\n"
        f'    API_TOKEN_{index % 7}: str = Field(description="Token of the source API.")\n'
        if with_secrets
        else ""
    )
    return f'''\
"""Models of operator number {index}."""

from typing import Literal

from pydantic import BaseModel, Field


class InputModel(BaseModel):
    source: str = Field(description="Path or URL of the data to read.", min_length=1)
    limit: int = Field(default={low + 1}, ge={low}, le={high}, description="Rows at most.")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Score cut-off.")
    file_format: Literal{choices!r} = Field(default={choices[0]!r})
    columns: list[str] = Field(default_factory=list, description="Columns to keep; empty: all.")


class OutputModel(BaseModel):
    path: str = Field(description="Where the result was written.")
    rows: int = Field(ge=0)
    columns: list[str] = Field(default_factory=list)
{secrets}'''


def operator_source(name: str) -> str:
    return f"""\
from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class {name}(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        self.logger.info("reading %s", input_model.source)
        target = self.results_path / f"result.{{input_model.file_format}}"
        target.write_text("")
        return OutputModel(path=str(target), rows=0, columns=input_model.columns)
"""


def metadata(name: str, index: int, requirements_file: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Operator {index}: reads a source, applies a threshold, writes a file.",
        "tags": [VERBS[index % len(VERBS)].lower(), "benchmark"],
        "dependency": {"requirements_file": requirements_file},
        "style": {
            "node_label": f"{name[: -len('Operator')]} #{index}",
            "node_type": "default",
            "node_style": {"backgroundColor": COLORS[index % len(COLORS)]},
        },
        "container_resources": {
            "requests": {"cpu": 100, "memory": 128 * (1 + index % 4)},
            "limits": {"cpu": 1000, "memory": 1024 * (1 + index % 4)},
            "gpu": 0,
        },
    }


def generate_repository(path: Path, operators: int, seed: int = 7) -> dict[str, Any]:
    """Write the repository; return what organize should find in it."""
    rng = random.Random(seed)
    (path / "config.toml").write_text(
        "[repository]\n"
        'REPOSITORY_NAME = "benchmark_operators"\n'
        'VERSION = "1.0.0"\n\n'
        "[registry]\n"
        'REGISTRY_NAME = "ghcr.io/flowui-benchmarks"\n'
    )
    dependencies = path / "dependencies"
    dependencies.mkdir()
    for file_name, requirements in DEPENDENCY_GROUPS.items():
        (dependencies / file_name).write_text("\n".join(requirements) + "\n")
    group_files = list(DEPENDENCY_GROUPS)
    secret_names: set[str] = set()
    for index in range(operators):
        name = f"{VERBS[index % len(VERBS)]}{NOUNS[index % len(NOUNS)]}{index:05d}Operator"
        folder = path / "operators" / name
        folder.mkdir(parents=True)
        with_secrets = index % 4 == 0
        if with_secrets:
            secret_names.add(f"API_TOKEN_{index % 7}")
        (folder / "model.py").write_text(model_source(index, rng, with_secrets))
        (folder / "operator.py").write_text(operator_source(name))
        meta = metadata(name, index, group_files[index % len(group_files)])
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {
        "operators": operators,
        "groups": min(operators, len(group_files)),
        "secret_names": sorted(secret_names),
    }


# --- checking and timing ---------------------------------------------------------------------


def flowui_files(repository: Path) -> dict[str, bytes]:
    directory = repository / FLOWUI_DIR
    return {
        name: (directory / name).read_bytes()
        for name in sorted(p.name for p in directory.iterdir())
    }


def check_dependencies_map(mapped: dict[str, Any] | None, expected: dict[str, Any]) -> list[str]:
    if not mapped:
        return ["no dependencies map"]
    problems = []
    if len(mapped) != expected["groups"]:
        problems.append(f"{len(mapped)} dependency groups, expected {expected['groups']}")
    grouped = sum(len(group["operators"]) for group in mapped.values())
    if grouped != expected["operators"]:
        problems.append(
            f"{grouped} operators in dependency groups, expected {expected['operators']}"
        )
    secrets = sorted({name for group in mapped.values() for name in group["secrets"]})
    if secrets != expected["secret_names"]:
        problems.append(f"secrets {secrets}, expected {expected['secret_names']}")
    return problems


def check_compiled_metadata(repository: Path, expected: dict[str, Any]) -> list[str]:
    compiled = json.loads((repository / FLOWUI_DIR / COMPILED_METADATA_FILE).read_text())
    problems = []
    if len(compiled) != expected["operators"]:
        problems.append(f"{len(compiled)} compiled operators, expected {expected['operators']}")
    for name, entry in compiled.items():
        fields = sorted((entry.get("input_schema") or {}).get("properties", {}))
        if fields != ["columns", "file_format", "limit", "source", "threshold"]:
            problems.append(f"{name}: input schema has fields {fields}")
            break
        if not entry.get("output_schema"):
            problems.append(f"{name}: no output schema")
            break
    return problems


def organize_in_process(repository: Path, expected: dict[str, Any]) -> list[str]:
    result = organize_repository(repository)
    if not result.report.ok:
        shown = "; ".join(str(problem) for problem in result.report.problems[:5])
        return [f"{len(result.report.problems)} problem(s): {shown}"]
    return check_dependencies_map(result.dependencies_map, expected)


def organize_with_cli(repository: Path, expected: dict[str, Any]) -> list[str]:
    flowui = Path(sys.executable).parent / "flowui"
    finished = subprocess.run(
        [str(flowui), "operators", "organize", str(repository), "--json"],
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        detail = (finished.stderr.strip() or finished.stdout.strip()).splitlines()[-5:]
        return [f"`flowui operators organize` exited {finished.returncode}: " + " | ".join(detail)]
    report = json.loads(finished.stdout)
    problems = check_dependencies_map(report.get("dependencies_map"), expected)
    if len(report.get("written", [])) != 2:
        problems.append(f"written: {report.get('written')}")
    return problems


def time_runs(
    label: str,
    organize: Callable[[Path, dict[str, Any]], list[str]],
    repository: Path,
    expected: dict[str, Any],
    repeat: int,
    reference: dict[str, bytes] | None,
) -> tuple[list[float], list[str], dict[str, bytes] | None]:
    """Run `organize` `repeat` times; return the seconds, problems and the first run's files."""
    seconds: list[float] = []
    problems: list[str] = []
    for attempt in range(1, repeat + 1):
        started = time.perf_counter()
        found = organize(repository, expected)
        seconds.append(time.perf_counter() - started)
        if found:
            problems.extend(f"{label} run {attempt}: {problem}" for problem in found)
            break
        problems.extend(
            f"{label} run {attempt}: {problem}"
            for problem in check_compiled_metadata(repository, expected)
        )
        files = flowui_files(repository)
        if set(files) != {COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE}:
            problems.append(f"{label} run {attempt}: .flowui/ holds {sorted(files)}")
        if reference is None:
            reference = files
        elif files != reference:
            changed = sorted(
                name
                for name in files.keys() | reference.keys()
                if files.get(name) != reference.get(name)
            )
            problems.append(f"{label} run {attempt}: {DIFFERENT_FILES}: {changed}")
    return seconds, problems, reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operators", type=int, default=1000, help="Operators to generate.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each way to organize.")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS)
    parser.add_argument("--keep", action="store_true", help="Keep the generated repository.")
    arguments = parser.parse_args()
    if arguments.operators < 1 or arguments.repeat < 1:
        parser.error("--operators and --repeat must be at least 1")

    n = arguments.operators
    workspace = Path(tempfile.mkdtemp(prefix="flowui-bench-organize-"))
    repository = workspace / "operators_repository"
    repository.mkdir()
    started = time.perf_counter()
    expected = generate_repository(repository, n)
    print(f"operators: {n}")
    print(f"dependency_groups: {expected['groups']}")
    print(f"operators_with_secrets: {(n + 3) // 4}")
    print(f"repeat: {arguments.repeat}")
    print(f"generate_repository_seconds: {time.perf_counter() - started:.2f}")

    in_process, problems, reference = time_runs(
        "in-process", organize_in_process, repository, expected, arguments.repeat, None
    )
    cli, cli_problems, _ = time_runs(
        "cli", organize_with_cli, repository, expected, arguments.repeat, reference
    )
    problems += cli_problems

    passed = not problems
    for label, seconds in (("organize", in_process), ("cli_organize", cli)):
        median = statistics.median(seconds)
        print(f"{label}_{n}_operators_seconds_min: {min(seconds):.2f}")
        print(f"{label}_{n}_operators_seconds_median: {median:.2f}")
        print(f"{label}_{n}_operators_per_second: {n / median:.0f}")
        within = median <= arguments.target_seconds
        passed = passed and within
        print(
            f"{label}_{n}_operators_target: median <= {arguments.target_seconds:g} s "
            f"{'PASS' if within else 'FAIL'}"
        )
    runs = len(in_process) + len(cli)
    identical = reference is not None and not any(DIFFERENT_FILES in p for p in problems)
    print(f"flowui_files_byte_identical_across_{runs}_runs: {'yes' if identical else 'no'}")
    for problem in problems:
        print(f"problem: {problem}")
    print(f"result: {'PASS' if passed else 'FAIL'}")

    if arguments.keep:
        print(f"repository: {repository}")
    else:
        shutil.rmtree(workspace, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
