"""The file-system root: its layout, id validation and the versioned dataset store."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flowui.storage import (
    FileSystemRoot,
    InvalidIdError,
    run_directory_name,
    validate_id,
    validate_workspace_id,
    workspace_bucket,
)
from flowui.storage.datasets import DatasetStore


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "dataset id must be a non-empty string"),
        ("..", "dataset id '..' must not start with '.' or contain '..'"),
        ("a/b", "dataset id 'a/b' may contain only letters, digits, '_', '.' and '-'"),
        (".hidden", "dataset id '.hidden' must not start with '.' or contain '..'"),
        ("x" * 251, "dataset id is longer than 250 characters"),
        ("naïve", "dataset id 'naïve' may contain only letters, digits, '_', '.' and '-'"),
    ],
)
def test_unsafe_ids_are_refused_with_a_message(value: str, message: str) -> None:
    with pytest.raises(InvalidIdError) as raised:
        validate_id(value, "dataset id")
    assert str(raised.value) == message


def test_the_root_tree_is_created_and_paths_stay_inside_it(tmp_path: Path) -> None:
    root = FileSystemRoot(tmp_path / "fs").create()
    created = sorted(p.relative_to(root.path).as_posix() for p in root.path.rglob("*"))
    assert created == [
        "airflow",
        "airflow/dags",
        "airflow/logs",
        "airflow/plugins",
        "dataset",
        "operators_repositories",
        "runs",
    ]
    task = root.task_run("dag_1", "run.2", "task-3").create()
    assert task.log == root.path / "runs/dag_1/run.2/task-3/log.txt"
    assert task.results.is_dir()
    with pytest.raises(InvalidIdError):
        root.task_run("dag", "run", "../../etc")
    assert root.task_run("dag", "../../etc", "task").directory.is_relative_to(root.runs / "dag")


def _data(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_publish_is_a_new_numbered_version_with_its_meta(tmp_path: Path) -> None:
    store = DatasetStore(FileSystemRoot(tmp_path / "fs").create())

    first, created_first = store.publish("sales", _data(tmp_path, "a.CSV", "x\n1\n"), {"rows": 1})
    second, created_second = store.publish("sales", _data(tmp_path, "b.csv", "x\n2\n"), {})

    assert (first.name, second.name, created_first, created_second) == (
        "v0001",
        "v0002",
        True,
        True,
    )
    assert first.file.read_text() == "x\n1\n"
    assert first.file.name == "data.csv"
    assert store.get("sales").number == 2
    assert store.get("sales", "1").meta["rows"] == 1
    assert store.get("sales", "v0001").meta["dataset_id"] == "sales"
    assert store.versions("sales") == [1, 2]


def test_unchanged_data_can_reuse_the_latest_version(tmp_path: Path) -> None:
    store = DatasetStore(FileSystemRoot(tmp_path / "fs").create())
    data = _data(tmp_path, "a.csv", "x\n1\n")
    store.publish("sales", data, {})

    again, created = store.publish("sales", data, {}, skip_if_unchanged=True)

    assert (again.name, created) == ("v0001", False)
    assert store.versions("sales") == [1]


def test_a_moved_file_becomes_the_version_itself_readable_by_all(tmp_path: Path) -> None:
    root = FileSystemRoot(tmp_path / "fs").create()
    received = root.datasets / ".upload-1.csv"
    received.write_text("x\n1\n")
    received.chmod(0o600)  # as tempfile.mkstemp leaves it

    version, _ = DatasetStore(root).publish("sales", received, {}, move=True, sha256="ab" * 32)

    assert not received.exists()
    assert version.file.read_text() == "x\n1\n"
    assert version.file.stat().st_mode & 0o777 == 0o644
    assert version.meta["sha256"] == "ab" * 32  # the caller's digest, not read again


def test_unknown_datasets_and_versions_are_explained(tmp_path: Path) -> None:
    store = DatasetStore(FileSystemRoot(tmp_path / "fs").create())
    with pytest.raises(ValueError, match="dataset 'sales' has no versions yet"):
        store.get("sales")
    store.publish("sales", _data(tmp_path, "a.csv", "x\n"), {})
    with pytest.raises(ValueError, match=r"dataset 'sales' has no version 'v9'; it has: v0001"):
        store.get("sales", "v9")
    with pytest.raises(InvalidIdError):
        store.get("../etc")


def test_concurrent_writers_get_distinct_versions_and_no_partial_one_is_seen(
    tmp_path: Path,
) -> None:
    store = DatasetStore(FileSystemRoot(tmp_path / "fs").create())
    files = [_data(tmp_path, f"{n}.csv", f"x\n{n}\n") for n in range(8)]

    threads = [threading.Thread(target=store.publish, args=("sales", f, {})) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.versions("sales") == list(range(1, 9))
    contents = sorted(store.get("sales", str(n)).file.read_text() for n in range(1, 9))
    assert contents == sorted(f.read_text() for f in files)
    assert [p.name for p in store.root.dataset("sales").iterdir() if p.name.startswith(".")] == []


def test_airflow_run_ids_get_a_safe_directory_that_keeps_distinct_ids_apart() -> None:
    assert run_directory_name("manual_1") == "manual_1"
    scheduled = run_directory_name("scheduled__2026-01-01T00:00:00+00:00")
    assert scheduled.startswith("scheduled__2026-01-01T00_00_00_00_00-")
    assert validate_id(scheduled) == scheduled
    assert run_directory_name("a:b") != run_directory_name("a+b")
    assert validate_id(run_directory_name("../../etc")) == run_directory_name("../../etc")


def test_a_workspace_bucket_is_named_after_the_platforms_and_fits_s3s_limit() -> None:
    assert workspace_bucket("acme-flowui", 7) == "acme-flowui-workspace-7"
    # S3 names have at most 63 characters: 45 + "-workspace-" (11) + 7 digits is 63.
    assert len(workspace_bucket("b" * 45, 1_000_000)) == 63
    with pytest.raises(InvalidIdError, match="longer than S3's 63 characters"):
        workspace_bucket("b" * 46, 1_000_000)


@pytest.mark.parametrize("workspace_id", [0, -3, True, "3", 2.0])
def test_only_a_positive_integer_is_a_workspace_id(workspace_id: object) -> None:
    with pytest.raises(InvalidIdError, match="workspace id must be a positive integer"):
        validate_workspace_id(workspace_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError):
        workspace_bucket("acme", workspace_id)  # type: ignore[arg-type]
