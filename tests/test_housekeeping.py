"""Housekeeping: old runs move from their tree (the root's own, or a workspace's) to its bucket
of moto's server, checked and with a tombstone left behind; by `archive_runs`, by
`flowui runs archive` and by the housekeeping DAG (parsed by Airflow's own DagBag, and run by
the session's real Airflow)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowui.cli.main import app
from flowui.config import load_settings, write_config_file
from flowui.storage import FileSystemRoot, workspace_bucket
from flowui.storage.housekeeping import (
    HOUSEKEEPING_DAG_ID,
    HOUSEKEEPING_DAG_STUB,
    HousekeepingSettings,
    archive_runs,
    housekeeping_dag_paths,
    read_archived_file,
    write_housekeeping_dag,
)
from tests.support.airflow_platform import AirflowPlatform
from tests.support.aws import aws_client, bucket_keys, new_bucket
from tests.support.finished_runs import (
    DAG_ID,
    GREET_FILES,
    MONTH,
    OLD_RUN,
    REPORT_FILES,
    set_age,
    write_run,
)

# Workflows of workspaces 3 and 4, whose runs are in the workspaces' trees.
WORKSPACE_3_DAG_ID = "flowui_3333333333333333"
WORKSPACE_4_DAG_ID = "flowui_4444444444444444"
NEW_RUN = "manual__2026-03-01T00:00:00+00:00"
HOSTILE = "x\"\"\"; import os; os.system('rm -rf /')  # \n'''"


def tree(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `directory`: content and modification time."""
    return {
        path.relative_to(directory).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def run_files() -> dict[str, bytes]:
    """Every file of a run written by `write_run`, by its path relative to the run."""
    return {f"report/{name}": data for name, data in REPORT_FILES.items()} | {
        f"greet/{name}": data for name, data in GREET_FILES.items()
    }


def archived_keys(dag_id: str, run_directory: Path) -> list[str]:
    """The objects of a run archived from `run_directory`: its files and the manifest."""
    prefix = f"runs/{dag_id}/{run_directory.name}/"
    return sorted([prefix + "archived.json", *(prefix + path for path in run_files())])


@pytest.fixture
def root(tmp_path: Path) -> FileSystemRoot:
    return FileSystemRoot(tmp_path / "fs").create()


# --- archive_runs -------------------------------------------------------------------------------


def test_an_old_run_moves_to_the_bucket_with_checksums_and_a_tombstone_and_a_new_one_stays(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    s3 = aws_client(moto_server, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    new = write_run(root, NEW_RUN, timedelta(days=1))
    kept = tree(new)
    now = datetime.now(UTC)

    report = archive_runs(root, s3, bucket, MONTH, now)

    prefix = f"runs/{DAG_ID}/{old.name}/"
    assert bucket_keys(moto_server, bucket) == archived_keys(DAG_ID, old)
    for path, data in run_files().items():
        head = s3.head_object(Bucket=bucket, Key=prefix + path, ChecksumMode="ENABLED")
        digest = hashlib.sha256(data)
        assert head["ContentLength"] == len(data)
        assert head["Metadata"]["sha256"] == digest.hexdigest()
        assert head["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()
    assert not old.exists()
    tombstone = json.loads(root.run_tombstone(DAG_ID, OLD_RUN).read_text())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "archived.json")["Body"].read())
    assert tombstone == manifest
    assert (tombstone["bucket"], tombstone["prefix"]) == (bucket, prefix)
    assert datetime.fromisoformat(tombstone["archived_at"]) == now
    assert {file["path"]: (file["size"], file["sha256"]) for file in tombstone["files"]} == {
        path: (len(data), hashlib.sha256(data).hexdigest()) for path, data in run_files().items()
    }
    assert tree(new) == kept
    assert not root.run_tombstone(DAG_ID, NEW_RUN).exists()
    summary = report.to_dict()
    assert (summary["archived"], summary["kept"], summary["failed"]) == (1, 1, 0)
    assert summary["files"] == len(run_files())
    assert summary["bytes"] == sum(len(data) for data in run_files().values())
    assert [
        (run["workspace"], run["bucket"], run["run_directory"], run["outcome"])
        for run in summary["runs"]
    ] == [(None, bucket, new.name, "kept"), (None, bucket, old.name, "archived")]
    text = str(report)
    assert text.startswith(f"archived 1 run(s) (7 files, {summary['bytes']} bytes)")
    assert f"platform -> s3://{bucket}/runs/: archived 1, kept 1, failed 0" in text
    assert f"archived      {DAG_ID}/{old.name}" in text
    assert f"kept          {DAG_ID}/{new.name}" in text


def test_archived_files_are_read_back_by_run_id_and_paths_cannot_leave_the_run(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    s3 = aws_client(moto_server, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    by_id = read_archived_file(root, s3, DAG_ID, OLD_RUN, "report/results/data/numbers.csv")
    by_directory = read_archived_file(root, s3, DAG_ID, old.name, "report/output.json")

    assert by_id == REPORT_FILES["results/data/numbers.csv"]
    assert by_directory == REPORT_FILES["output.json"]
    for bad in ("../other/report/log.txt", "/etc/passwd", "report/../greet/log.txt", ""):
        with pytest.raises(ValueError, match="is not a path inside a run"):
            read_archived_file(root, s3, DAG_ID, OLD_RUN, bad)
    with pytest.raises(ValueError, match="dag id"):
        read_archived_file(root, s3, "../etc", OLD_RUN, "report/log.txt")
    with pytest.raises(FileNotFoundError, match="is not among the files of s3://"):
        read_archived_file(root, s3, DAG_ID, OLD_RUN, "report/results/missing.csv")
    with pytest.raises(FileNotFoundError, match="is not archived"):
        read_archived_file(root, s3, DAG_ID, NEW_RUN, "report/log.txt")


def test_a_dry_run_uploads_and_removes_nothing_and_tells_what_it_would_archive(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    write_run(root, NEW_RUN, timedelta(days=1))
    before = tree(root.path)

    report = archive_runs(
        root, aws_client(moto_server, "s3"), bucket, MONTH, datetime.now(UTC), dry_run=True
    )

    assert tree(root.path) == before
    assert bucket_keys(moto_server, bucket) == []
    summary = report.to_dict()
    assert (summary["dry_run"], summary["archived"], summary["kept"]) == (True, 1, 1)
    assert summary["files"] == len(run_files())
    assert report.of("would archive")[0].run_directory == old.name
    assert str(report).startswith("would archive 1 run(s)")
    assert "(dry run: nothing uploaded or removed)" in str(report)


def test_an_archive_stopped_half_way_leaves_the_run_and_the_next_one_completes_it(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    s3 = aws_client(moto_server, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    before = tree(old)
    uploaded: list[int] = []

    def stop_after_two_files(_run: str, size: int) -> None:
        uploaded.append(size)
        if len(uploaded) == 2:
            raise KeyboardInterrupt  # as if the process were stopped here

    with pytest.raises(KeyboardInterrupt):
        archive_runs(root, s3, bucket, MONTH, datetime.now(UTC), progress=stop_after_two_files)

    assert tree(old) == before
    assert not root.run_tombstone(DAG_ID, OLD_RUN).exists()
    half = bucket_keys(moto_server, bucket)
    assert len(half) == 2 and not any(key.endswith("archived.json") for key in half)

    report = archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    assert [run.outcome for run in report.runs] == ["archived"]
    assert not old.exists()
    assert len(bucket_keys(moto_server, bucket)) == len(run_files()) + 1
    for path, data in run_files().items():
        assert read_archived_file(root, s3, DAG_ID, OLD_RUN, path) == data


def test_a_missing_bucket_fails_the_run_which_stays_until_a_later_archive_succeeds(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = f"flowui-runs-{secrets.token_hex(4)}"  # not created yet
    s3 = aws_client(moto_server, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    before = tree(old)

    failed = archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    [run] = failed.failed
    assert run.run_directory == old.name
    assert run.detail == f"s3://{bucket}: no such bucket"
    assert failed.problems == [
        f"platform: s3://{bucket}: no such bucket (1 old run(s) stay in its tree)"
    ]
    assert tree(old) == before
    assert not root.run_tombstone(DAG_ID, OLD_RUN).exists()

    s3.create_bucket(Bucket=bucket)
    report = archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    assert [run.outcome for run in report.runs] == ["archived"]
    assert not old.exists() and root.run_tombstone(DAG_ID, OLD_RUN).is_file()


def test_a_run_whose_removal_was_interrupted_is_removed_next_time_with_every_file_listed(
    moto_server: str, root: FileSystemRoot
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    s3 = aws_client(moto_server, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))
    # What a removal stopped half-way leaves: the tombstone, and part of the run directory.
    (old / "greet").mkdir(parents=True)
    (old / "greet" / "log.txt").write_bytes(GREET_FILES["log.txt"])
    set_age(old, timedelta(days=40))

    report = archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    assert [(run.outcome, run.files) for run in report.runs] == [("archived", 1)]
    assert not old.exists()
    tombstone = json.loads(root.run_tombstone(DAG_ID, OLD_RUN).read_text())
    assert sorted(file["path"] for file in tombstone["files"]) == sorted(run_files())


def test_links_leading_out_of_a_run_are_left_out_and_said_so(
    moto_server: str, root: FileSystemRoot, tmp_path: Path
) -> None:
    bucket = new_bucket(moto_server, "flowui-runs")
    s3 = aws_client(moto_server, "s3")
    (tmp_path / "secret.txt").write_text("not part of the run")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    results = old / "report" / "results"
    (results / "outside.txt").symlink_to(tmp_path / "secret.txt")
    (results / "again.html").symlink_to(results / "report.html")
    set_age(old, timedelta(days=40))

    report = archive_runs(root, s3, bucket, MONTH, datetime.now(UTC))

    [run] = report.runs
    assert (run.outcome, run.detail) == ("archived", "left out: report/results/outside.txt")
    assert (
        read_archived_file(root, s3, DAG_ID, OLD_RUN, "report/results/again.html")
        == (REPORT_FILES["results/report.html"])
    )
    assert (tmp_path / "secret.txt").read_text() == "not part of the run"
    assert not any("outside" in key for key in bucket_keys(moto_server, bucket))


# --- flowui runs archive ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    settings = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={})
    write_config_file(settings)
    settings.root.create()
    return project


def runs_archive(project: Path, environ: dict[str, str | None], *arguments: str) -> Any:
    return CliRunner().invoke(
        app,
        ["runs", "archive", *arguments],
        env={"FLOWUI_PROJECT_DIR": str(project), **environ},
    )


def test_the_command_archives_by_hand_and_reports_as_json(
    moto_environment: str, project: Path
) -> None:
    root = FileSystemRoot(project / "fs")
    bucket = new_bucket(moto_environment, "flowui-runs")
    old = write_run(root, OLD_RUN, timedelta(days=10))
    environ: dict[str, str | None] = {"FLOWUI_STORAGE_BUCKET": bucket}

    default_age = runs_archive(project, environ, "--json")
    dry = runs_archive(project, environ, "--older-than-days", "7", "--dry-run", "--json")
    archived = runs_archive(project, environ, "--older-than-days", "7")

    assert default_age.exit_code == 0, default_age.output
    assert json.loads(default_age.stdout)["kept"] == 1  # 10 days is younger than 30
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["runs"][0]["outcome"] == "would archive"
    assert archived.exit_code == 0, archived.output
    assert archived.stdout.startswith("archived 1 run(s) (7 files,")
    assert not old.exists()


def test_each_tree_goes_to_its_own_bucket_and_a_missing_one_fails_only_its_workspace(
    moto_environment: str, project: Path
) -> None:
    root = FileSystemRoot(project / "fs")
    s3 = aws_client(moto_environment, "s3")
    platform_bucket = new_bucket(moto_environment, "flowui-runs")
    bucket_3, bucket_4 = (workspace_bucket(platform_bucket, n) for n in (3, 4))
    s3.create_bucket(Bucket=bucket_3)  # workspace 4's bucket is missing
    platform_old = write_run(root, OLD_RUN, timedelta(days=40))
    old_3 = write_run(root.workspace(3), OLD_RUN, timedelta(days=40), WORKSPACE_3_DAG_ID)
    new_3 = write_run(root.workspace(3), NEW_RUN, timedelta(days=1), WORKSPACE_3_DAG_ID)
    old_4 = write_run(root.workspace(4), OLD_RUN, timedelta(days=40), WORKSPACE_4_DAG_ID)
    kept_3, kept_4 = tree(new_3), tree(old_4)
    environ: dict[str, str | None] = {"FLOWUI_STORAGE_BUCKET": platform_bucket}

    result = runs_archive(project, environ, "--json")

    assert result.exit_code == 1
    assert (
        f"error: workspace 4: s3://{bucket_4}: no such bucket (1 old run(s) stay in its tree)"
        in result.stderr
    )
    report = json.loads(result.stdout)
    assert [
        (run["workspace"], run["bucket"], run["dag_id"], run["run_directory"], run["outcome"])
        for run in report["runs"]
    ] == [
        (None, platform_bucket, DAG_ID, platform_old.name, "archived"),
        (3, bucket_3, WORKSPACE_3_DAG_ID, new_3.name, "kept"),
        (3, bucket_3, WORKSPACE_3_DAG_ID, old_3.name, "archived"),
        (4, bucket_4, WORKSPACE_4_DAG_ID, old_4.name, "failed"),
    ]
    assert [(t["workspace"], t["archived"], t["failed"], t["error"]) for t in report["trees"]] == [
        (None, 1, 0, ""),
        (3, 1, 0, ""),
        (4, 0, 1, f"s3://{bucket_4}: no such bucket"),
    ]
    # Each run is in its own tree's bucket, and only there.
    assert bucket_keys(moto_environment, platform_bucket) == archived_keys(DAG_ID, platform_old)
    assert bucket_keys(moto_environment, bucket_3) == archived_keys(WORKSPACE_3_DAG_ID, old_3)
    assert not platform_old.exists() and not old_3.exists()
    assert tree(new_3) == kept_3 and tree(old_4) == kept_4
    # The tombstone stays in the tree the run was in, and the run is read back from there.
    tombstone = json.loads(root.workspace(3).run_tombstone(WORKSPACE_3_DAG_ID, OLD_RUN).read_text())
    assert (tombstone["bucket"], tombstone["prefix"]) == (
        bucket_3,
        f"runs/{WORKSPACE_3_DAG_ID}/{old_3.name}/",
    )
    assert not root.dag_runs(WORKSPACE_3_DAG_ID).exists()
    assert (
        read_archived_file(root.workspace(3), s3, WORKSPACE_3_DAG_ID, OLD_RUN, "greet/log.txt")
        == GREET_FILES["log.txt"]
    )
    assert not root.workspace(4).run_tombstone(WORKSPACE_4_DAG_ID, OLD_RUN).exists()

    s3.create_bucket(Bucket=bucket_4)
    dry = runs_archive(project, environ, "--workspace", "4", "--dry-run", "--json")
    done = runs_archive(project, environ, "--workspace", "4")

    assert dry.exit_code == 0, dry.output
    assert [(run["workspace"], run["outcome"]) for run in json.loads(dry.stdout)["runs"]] == [
        (4, "would archive")
    ]
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[1:] == [
        f"workspace 4 -> s3://{bucket_4}/runs/: archived 1, kept 0, failed 0",
        f"  archived      {WORKSPACE_4_DAG_ID}/{old_4.name} (7 files, "
        f"{sum(len(data) for data in run_files().values())} bytes)",
    ]
    assert bucket_keys(moto_environment, bucket_4) == archived_keys(WORKSPACE_4_DAG_ID, old_4)
    assert not old_4.exists()


def test_the_command_says_which_setting_or_workspace_is_wrong(project: Path) -> None:
    FileSystemRoot(project / "fs").workspace(3).create()
    bucket: dict[str, str | None] = {"FLOWUI_STORAGE_BUCKET": "flowui-runs"}

    no_bucket = runs_archive(project, {"FLOWUI_STORAGE_BUCKET": None})
    no_tree = runs_archive(project, bucket, "--workspace", "9")
    not_an_id = runs_archive(project, bucket, "--workspace", "0")
    # The longest platform bucket name leaves room for ids up to 999999 only.
    too_long = runs_archive(project, {"FLOWUI_STORAGE_BUCKET": "b" * 46}, "--workspace", "1000000")

    assert no_bucket.exit_code == 2
    assert "no bucket: nothing archived (FLOWUI_STORAGE_BUCKET is not set)" in no_bucket.stderr
    assert no_tree.exit_code == 2
    assert f"workspace 9 has no tree in {project / 'fs' / 'workspaces'}" in no_tree.stderr
    assert "the workspaces with a tree: 3" in no_tree.stderr
    assert not_an_id.exit_code == 2
    assert "Invalid value for '--workspace'" in not_an_id.stderr
    assert too_long.exit_code == 2
    assert "choose a shorter FLOWUI_STORAGE_BUCKET" in too_long.stderr


def test_the_command_exits_1_when_a_run_cannot_be_archived(
    moto_environment: str, project: Path
) -> None:
    write_run(FileSystemRoot(project / "fs"), OLD_RUN, timedelta(days=40))

    result = runs_archive(project, {"FLOWUI_STORAGE_BUCKET": "flowui-no-such-bucket"})

    assert result.exit_code == 1
    assert "failed" in result.stdout and "no such bucket" in result.stdout
    assert "error: platform: s3://flowui-no-such-bucket: no such bucket" in result.stderr


# --- the housekeeping DAG -----------------------------------------------------------------------


def housekeeping_settings(root: FileSystemRoot, bucket: str | None) -> HousekeepingSettings:
    return HousekeepingSettings(
        root=str(root.path),
        bucket=bucket,
        region="us-east-1",
        archive_runs_after_days=30,
        interval_hours=6,
        dry_run=False,
    )


def parsed_dag(root: FileSystemRoot) -> Any:
    """The housekeeping DAG as Airflow's own DagBag loads it from the root's DAG folder."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(root.airflow_dags))
    assert bag.import_errors == {}
    assert list(bag.dags) == [HOUSEKEEPING_DAG_ID]
    return bag.dags[HOUSEKEEPING_DAG_ID]


def test_the_dag_file_is_a_constant_stub_with_its_settings_as_data(root: FileSystemRoot) -> None:
    settings_path, stub_path = housekeeping_dag_paths(root)

    write_housekeeping_dag(root, housekeeping_settings(root, HOSTILE))
    dag = parsed_dag(root)
    written = {path: path.stat().st_mtime_ns for path in (settings_path, stub_path)}
    write_housekeeping_dag(root, housekeeping_settings(root, HOSTILE))

    assert stub_path.read_text() == HOUSEKEEPING_DAG_STUB
    assert json.loads(settings_path.read_text())["bucket"] == HOSTILE
    assert dag.get_task("archive_runs").settings.bucket == HOSTILE  # carried as data
    assert dag.schedule == timedelta(hours=6)
    assert (dag.catchup, dag.max_active_runs, dag.is_paused_upon_creation) == (False, 1, False)
    assert {path: path.stat().st_mtime_ns for path in written} == written  # left alone


def test_the_dag_task_archives_every_tree_and_fails_at_the_end_naming_a_missing_bucket(
    moto_environment: str, root: FileSystemRoot
) -> None:
    from airflow.sdk.exceptions import AirflowException

    bucket = new_bucket(moto_environment, "flowui-runs")
    bucket_3 = workspace_bucket(bucket, 3)
    s3 = aws_client(moto_environment, "s3")
    old = write_run(root, OLD_RUN, timedelta(days=40))
    old_3 = write_run(root.workspace(3), OLD_RUN, timedelta(days=40), WORKSPACE_3_DAG_ID)
    write_housekeeping_dag(root, housekeeping_settings(root, bucket))
    task = parsed_dag(root).get_task("archive_runs")

    with pytest.raises(AirflowException, match=f"workspace 3: s3://{bucket_3}: no such bucket"):
        task.execute(context={})
    assert not old.exists() and old_3.is_dir()  # the platform's run went all the same

    s3.create_bucket(Bucket=bucket_3)
    report = task.execute(context={})

    assert (report["archived"], report["files"]) == (1, 7)
    assert [(tree["workspace"], tree["bucket"], tree["archived"]) for tree in report["trees"]] == [
        (None, bucket, 0),
        (3, bucket_3, 1),
    ]
    assert not old_3.exists()
    assert read_archived_file(root, s3, DAG_ID, OLD_RUN, "greet/log.txt") == GREET_FILES["log.txt"]
    assert (
        read_archived_file(root.workspace(3), s3, WORKSPACE_3_DAG_ID, OLD_RUN, "report/output.json")
        == REPORT_FILES["output.json"]
    )


@pytest.mark.timeout(660)  # both deadlines below, so that the one that passes is named
def test_the_platform_writes_the_dag_and_airflow_runs_it_without_a_bucket(
    airflow_platform: AirflowPlatform,
) -> None:
    settings_path, stub_path = housekeeping_dag_paths(airflow_platform.root)
    client = airflow_platform.client
    assert stub_path.read_text() == HOUSEKEEPING_DAG_STUB
    assert json.loads(settings_path.read_text())["bucket"] is None

    client.wait_for_dag(HOUSEKEEPING_DAG_ID, timeout=300)
    run = client.trigger_run(HOUSEKEEPING_DAG_ID)
    try:
        finished = client.wait_for_run(HOUSEKEEPING_DAG_ID, run.run_id, timeout=300)
    except TimeoutError as error:
        # The platform is shared by the worker's modules: say what else holds its task slots.
        waiting = client.list_runs("~", state=["queued", "running"])  # "~": every DAG's
        tasks = client.task_instances(HOUSEKEEPING_DAG_ID, run.run_id)
        pytest.fail(
            f"{error}; its tasks: {[(t.task_id, t.state) for t in tasks]}; runs not finished: "
            f"{[(r.dag_id, r.run_id, r.state) for r in waiting]}"
        )

    assert finished.state == "success"
    log = client.task_log(HOUSEKEEPING_DAG_ID, run.run_id, "archive_runs").text
    assert "no bucket: nothing archived" in log
