"""`flowui datasets list | sync` between the dataset store of the root, or of a workspace's tree,
and a bucket of moto's server, run as a user runs the installed `flowui`."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

from flowui.config import load_settings, write_config_file
from flowui.storage import FileSystemRoot, workspace_bucket
from flowui.storage.datasets import DatasetStore, file_sha256
from tests.support.aws import aws_client, installed_flowui, new_bucket


def make_project(path: Path) -> FileSystemRoot:
    path.mkdir(parents=True)
    settings = load_settings(path, {"VOLUME_MOUNT_PATH_HOST": str(path / "fs")}, environ={})
    write_config_file(settings)
    return settings.root.create()


def datasets(
    endpoint: str, project: Path, *arguments: str, storage_bucket: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`flowui datasets ...` in `project`, with FLOWUI_STORAGE_BUCKET set when given."""
    setting = {"FLOWUI_STORAGE_BUCKET": storage_bucket} if storage_bucket else {}
    return installed_flowui(endpoint, project, "datasets", *arguments, environ=setting)


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def publish(root: FileSystemRoot, dataset_id: str, text: str, tmp_path: Path) -> str:
    source = tmp_path / f"{secrets.token_hex(4)}.csv"
    source.write_text(text)
    version, _ = DatasetStore(root).publish(dataset_id, source, {"note": text[:10]})
    return version.name


def test_a_dataset_round_trip_through_the_bucket_keeps_every_version_and_checksum(
    moto_server: str, tmp_path: Path
) -> None:
    here, there = make_project(tmp_path / "here"), make_project(tmp_path / "there")
    bucket = new_bucket(moto_server)
    publish(here, "sales", "region,amount\nnorth,3\n", tmp_path)
    publish(here, "sales", "region,amount\nnorth,3\nsouth,4\n", tmp_path)
    publish(here, "local_only", "a\n1\n", tmp_path)

    pushed = report_of(
        datasets(
            moto_server, here.path.parent, "sync", "sales", "--bucket", bucket, "--push", "--json"
        )
    )
    pulled = report_of(
        datasets(moto_server, there.path.parent, "sync", "--bucket", bucket, "--pull", "--json")
    )
    again = report_of(datasets(moto_server, here.path.parent, "sync", "--bucket", bucket, "--json"))
    where = report_of(
        datasets(moto_server, there.path.parent, "list", "--bucket", bucket, "--json")
    )

    assert [(d["dataset_id"], d["pushed"]) for d in pushed["datasets"]] == [
        ("sales", ["v0001", "v0002"])
    ]
    assert [(d["dataset_id"], d["pulled"]) for d in pulled["datasets"]] == [
        ("sales", ["v0001", "v0002"])
    ]
    # Both ways: local_only goes up; sales is on both sides already.
    by_id = {d["dataset_id"]: d for d in again["datasets"]}
    assert by_id["local_only"]["pushed"] == ["v0001"]
    assert by_id["sales"] == {
        "dataset_id": "sales",
        "pushed": [],
        "pulled": [],
        "unchanged": ["v0001", "v0002"],
        "bytes_copied": 0,
    }
    assert where["datasets"] == {"local_only": "bucket", "sales": "both"}
    for number in (1, 2):
        mine, theirs = (
            DatasetStore(here).get("sales", str(number)),
            DatasetStore(there).get("sales", str(number)),
        )
        assert theirs.file.read_bytes() == mine.file.read_bytes()
        assert theirs.meta == mine.meta and file_sha256(theirs.file) == mine.meta["sha256"]
    s3 = aws_client(moto_server, "s3")
    head = s3.head_object(Bucket=bucket, Key="dataset/sales/v0002/data.csv", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == DatasetStore(here).get("sales", "2").meta["sha256"]
    assert head.get("ChecksumSHA256")  # S3's own checksum of the upload


def test_a_workspace_dataset_round_trips_through_the_workspace_bucket_only(
    moto_server: str, tmp_path: Path
) -> None:
    here, there = make_project(tmp_path / "here"), make_project(tmp_path / "there")
    platform_bucket = new_bucket(moto_server)
    bucket_3 = workspace_bucket(platform_bucket, 3)
    s3 = aws_client(moto_server, "s3")
    s3.create_bucket(Bucket=bucket_3)
    publish(here.workspace(3), "sales", "region,amount\nnorth,3\n", tmp_path)
    publish(here, "platform_only", "a\n1\n", tmp_path)  # the root's own: stays out of it

    def run(project: FileSystemRoot, *arguments: str) -> dict[str, Any]:
        return report_of(
            datasets(
                moto_server,
                project.path.parent,
                *arguments,
                "--workspace",
                "3",
                "--json",
                storage_bucket=platform_bucket,
            )
        )

    pushed = run(here, "sync", "--push")
    pulled = run(there, "sync", "--pull")
    where = run(there, "list")

    assert (pushed["workspace"], pushed["bucket"]) == (3, bucket_3)
    assert [(d["dataset_id"], d["pushed"]) for d in pushed["datasets"]] == [("sales", ["v0001"])]
    assert [(d["dataset_id"], d["pulled"]) for d in pulled["datasets"]] == [("sales", ["v0001"])]
    assert where == {"workspace": 3, "bucket": bucket_3, "datasets": {"sales": "both"}}
    mine, theirs = (DatasetStore(r.workspace(3)).get("sales", "1") for r in (here, there))
    assert theirs.file.read_bytes() == mine.file.read_bytes() and theirs.meta == mine.meta
    assert list(there.datasets.iterdir()) == []  # not in the other root's own tree
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket_3)["Contents"]]
    assert sorted(keys) == ["dataset/sales/v0001/data.csv", "dataset/sales/v0001/meta.json"]
    assert "Contents" not in s3.list_objects_v2(Bucket=platform_bucket)


def test_data_that_does_not_match_its_checksum_never_becomes_a_version(
    moto_server: str, tmp_path: Path
) -> None:
    here, there = make_project(tmp_path / "here"), make_project(tmp_path / "there")
    bucket = new_bucket(moto_server)
    publish(here, "sales", "region,amount\nnorth,3\n", tmp_path)
    report_of(datasets(moto_server, here.path.parent, "sync", "--bucket", bucket, "--json"))
    aws_client(moto_server, "s3").put_object(
        Bucket=bucket, Key="dataset/sales/v0001/data.csv", Body=b"tampered\n"
    )

    result = datasets(moto_server, there.path.parent, "sync", "--bucket", bucket, "--pull")

    assert result.returncode == 1
    assert "dataset sales v0001: received data has sha256" in result.stderr
    assert list((there.datasets / "sales").iterdir()) == []  # no version, no leftover


def test_a_version_that_differs_on_the_two_sides_stops_its_sync_before_any_copy(
    moto_server: str, tmp_path: Path
) -> None:
    here, there = make_project(tmp_path / "here"), make_project(tmp_path / "there")
    bucket = new_bucket(moto_server)
    publish(here, "sales", "one\n", tmp_path)
    report_of(datasets(moto_server, here.path.parent, "sync", "--bucket", bucket, "--json"))
    publish(there, "sales", "other\n", tmp_path)
    publish(there, "sales", "second\n", tmp_path)

    result = datasets(moto_server, there.path.parent, "sync", "--bucket", bucket, "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["errors"] == [
        f"dataset sales: v0001 differ between the root and s3://{bucket}/dataset/sales/ (same "
        "version, other data); nothing was copied"
    ]
    keys = [
        o["Key"] for o in aws_client(moto_server, "s3").list_objects_v2(Bucket=bucket)["Contents"]
    ]
    assert not any(key.startswith("dataset/sales/v0002") for key in keys)


def test_a_meta_file_naming_a_path_outside_its_version_is_refused(
    moto_server: str, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "here")
    bucket = new_bucket(moto_server)
    s3 = aws_client(moto_server, "s3")
    s3.put_object(Bucket=bucket, Key="dataset/evil/v0001/data.csv", Body=b"x")
    meta = {"version": "v0001", "file": "../../../escaped.csv", "sha256": "0" * 64}
    s3.put_object(Bucket=bucket, Key="dataset/evil/v0001/meta.json", Body=json.dumps(meta))

    result = datasets(moto_server, root.path.parent, "sync", "evil", "--bucket", bucket)

    assert result.returncode == 1
    assert "meta.json names data file '../../../escaped.csv'" in result.stderr
    assert not list(tmp_path.rglob("escaped.csv"))


def test_sync_without_a_bucket_or_with_a_wrong_workspace_says_what_to_fix(tmp_path: Path) -> None:
    project = make_project(tmp_path / "here").path.parent
    nowhere = "http://127.0.0.1:9"  # never reached: each fails before asking S3

    no_bucket = datasets(nowhere, project, "sync")
    not_an_id = datasets(nowhere, project, "sync", "--workspace", "0", storage_bucket="acme")
    # The longest platform bucket name leaves room for ids up to 999999 only.
    too_long = datasets(nowhere, project, "list", "--workspace", "1000000", storage_bucket="b" * 46)

    assert no_bucket.returncode == 2
    assert "FLOWUI_STORAGE_BUCKET" in no_bucket.stderr
    assert not_an_id.returncode == 2
    assert "Invalid value for '--workspace'" in not_an_id.stderr
    assert too_long.returncode == 2
    assert f"the bucket of workspace 1000000, {'b' * 46}-workspace-1000000, is longer" in (
        too_long.stderr
    )
