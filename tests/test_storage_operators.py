"""The storage operators shipped with FlowUI (LoadDataset, LoadModel, SaveToS3), run through the
installed `flowui operators run` in an environment of their own, against moto's server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

from flowui.storage import FileSystemRoot
from flowui.storage.datasets import DatasetStore, file_sha256
from flowui.storage.s3sync import sync_dataset
from tests.support.aws import MOTO_ENVIRONMENT, aws_client, new_bucket
from tests.support.paths import FLOWUI


def builtin_repository() -> Path:
    found = subprocess.run(
        [str(FLOWUI), "operators", "builtin"], capture_output=True, text=True, check=True
    )
    return Path(found.stdout.strip())


def run_operator(
    endpoint: str, root: Path, name: str, inputs: dict[str, Any], succeeds: bool = True
) -> dict[str, Any]:
    # The operator's SecretsModel takes the credentials and endpoint from the environment.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWUI_"))}
    command = [str(FLOWUI), "operators", "run", name, "--repo", str(builtin_repository())]
    command += ["--input", json.dumps(inputs), "--root", str(root), "--json"]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environ | MOTO_ENVIRONMENT | {"AWS_ENDPOINT_URL": endpoint},
        timeout=300,
        check=False,
    )
    assert completed.returncode == (0 if succeeds else 1), completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_load_dataset_copies_the_missing_versions_once_and_gives_the_one_asked_for(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = new_bucket(moto_server, "flowui-ops")
    elsewhere = FileSystemRoot(tmp_path / "elsewhere").create()
    for text in ("a\n1\n", "a\n1\n2\n"):
        source = tmp_path / f"{secrets.token_hex(3)}.csv"
        source.write_text(text)
        DatasetStore(elsewhere).publish("sales", source, {})
    sync_dataset(elsewhere, aws_client(moto_server, "s3"), bucket, "sales", "push")
    root = tmp_path / "root"
    inputs = {"bucket": bucket, "dataset_id": "sales", "version": "v0001"}

    first = run_operator(moto_server, root, "LoadDatasetOperator", inputs)
    second = run_operator(moto_server, root, "LoadDatasetOperator", inputs | {"version": "latest"})

    assert first["status"] == "success", first
    assert first["output"]["copied_versions"] == ["v0001", "v0002"]
    assert first["output"]["version"] == "v0001"
    assert Path(first["output"]["path"]).read_text() == "a\n1\n"
    assert second["output"]["copied_versions"] == []  # there already, unchanged
    assert second["output"]["version"] == "v0002"
    assert second["output"]["sha256"] == file_sha256(Path(second["output"]["path"]))


def test_save_to_s3_and_load_model_round_trip_a_file_and_skip_an_unchanged_copy(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = new_bucket(moto_server, "flowui-ops")
    root = FileSystemRoot(tmp_path / "root").create()
    result = root.path / "runs" / "somewhere" / "model.pkl"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"\x80\x04weights")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the bucket")

    saved = run_operator(
        moto_server,
        root.path,
        "SaveToS3Operator",
        {"bucket": bucket, "path": str(result), "key": "models/churn/model.pkl"},
    )
    loaded = run_operator(
        moto_server,
        root.path,
        "LoadModelOperator",
        {"bucket": bucket, "key": "models/churn/model.pkl"},
    )
    again = run_operator(
        moto_server,
        root.path,
        "LoadModelOperator",
        {"bucket": bucket, "key": "models/churn/model.pkl"},
    )
    refused = run_operator(
        moto_server,
        root.path,
        "SaveToS3Operator",
        {"bucket": bucket, "path": str(outside), "key": "stolen.txt"},
        succeeds=False,
    )

    digest = file_sha256(result)
    assert saved["output"] == {
        "uri": f"s3://{bucket}/models/churn/model.pkl",
        "sha256": digest,
        "size": result.stat().st_size,
    }
    head = aws_client(moto_server, "s3").head_object(Bucket=bucket, Key="models/churn/model.pkl")
    assert head["Metadata"]["sha256"] == digest
    assert loaded["output"]["copied"] is True and loaded["output"]["sha256"] == digest
    stored = Path(loaded["output"]["path"])
    assert stored == root.path / "models" / "models" / "churn" / "model.pkl"
    assert stored.read_bytes() == result.read_bytes()
    assert again["output"]["copied"] is False
    assert "is not on the shared file system" in json.dumps(refused)
    listed = aws_client(moto_server, "s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["models/churn/model.pkl"]
