"""Benchmark: importing the example operators repository as the platform server does, with its
model files inspected unconfined (FLOWUI_SANDBOX=none, FlowUI before its sandbox) and in the
bubblewrap sandbox (the default).

Prints, one figure per line (`name: value`), the median seconds of `--repeat` imports of
examples/operators_repository each way (copied into a new root, validated or organized, its
model files imported in child processes), interleaved so that the machine's noise falls on
both alike, and their ratio against the 2.0 target. The last line is `result: PASS` or
`result: FAIL`; the exit code is 0 or 1 to match.

Usage: uv run --frozen python benchmarks/repository_import.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flowui.sandbox import SandboxPolicy
from flowui.server.repository_import import import_repository, parse_source
from flowui.storage import FileSystemRoot

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "operators_repository"
TARGET_RATIO = 2.0


def import_seconds(root: FileSystemRoot, policy: SandboxPolicy, checkout_id: str) -> float:
    started = time.perf_counter()
    imported = import_repository(parse_source(str(EXAMPLES)), root, checkout_id, sandbox=policy)
    elapsed = time.perf_counter() - started
    assert imported.operators, "the example repository has operators"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Imports each way.")
    arguments = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    unconfined, sandboxed = SandboxPolicy(enabled=False), SandboxPolicy()
    with tempfile.TemporaryDirectory(prefix="flowui-bench-import-") as directory:
        root = FileSystemRoot(Path(directory) / "fs").create()
        import_seconds(root, sandboxed, "warm-up")  # first-run costs are not the steady state
        plain, confined = [], []
        for index in range(arguments.repeat):
            plain.append(import_seconds(root, unconfined, f"plain-{index}"))
            confined.append(import_seconds(root, sandboxed, f"sandboxed-{index}"))
    operators = len(list((EXAMPLES / "operators").iterdir()))
    ratio = statistics.median(confined) / statistics.median(plain)
    print(f"example_repository_operators: {operators}")
    print(f"import_unconfined_seconds_median: {statistics.median(plain):.3f}")
    print(f"import_sandboxed_seconds_median: {statistics.median(confined):.3f}")
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"import_sandboxed_ratio: {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    print(f"result: {verdict}")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
