"""A finished run written by hand into a tree (the root's own or a workspace's), no Airflow
involved: two tasks' logs, outputs and result files, made as old as a test needs; for
housekeeping's tests and the archived runs' tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flowui.storage import FileSystemRoot, run_directory_name

DAG_ID = "flowui_0123456789abcdef"
OLD_RUN = "scheduled__2026-01-01T00:00:00+00:00"
# Runs older than this are archived.
MONTH = timedelta(days=30)

REPORT_FILES = {
    "log.txt": b"===== try 1\nhello Ada\ntask succeeded\n",
    "output.json": b'{"message": "hello Ada", "report": "report.html"}',
    "display_result.json": b'{"file_type": "html", "path": "results/report.html"}',
    "results/report.html": b"<html><body><h1>Hello Ada</h1></body></html>",
    "results/data/numbers.csv": b"n\n1\n2\n",
}
GREET_FILES = {"log.txt": b"hello hello Ada\n", "output.json": b'{"message": "hello hello Ada"}'}


def write_run(tree: FileSystemRoot, run_id: str, age: timedelta, dag_id: str = DAG_ID) -> Path:
    """A finished run of two tasks in `tree` (the root's own or a workspace's), last written
    `age` ago; returns its directory."""
    for task_id, files in (("report", REPORT_FILES), ("greet", GREET_FILES)):
        directory = tree.task_run(dag_id, run_id, task_id).directory
        for name, data in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)
    run_directory = tree.runs / dag_id / run_directory_name(run_id)
    set_age(run_directory, age)
    return run_directory


def set_age(directory: Path, age: timedelta) -> None:
    """Everything in `directory` (itself included) last modified `age` ago."""
    stamp = (datetime.now(UTC) - age).timestamp()
    for path in [*directory.rglob("*"), directory]:
        os.utime(path, (stamp, stamp), follow_symlinks=False)
