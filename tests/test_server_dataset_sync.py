"""The datasets API with the workspaces' buckets (moto's server), on SQLite and PostgreSQL:
where each dataset is, push and pull with checksums, each workspace with its own bucket,
conflicts, no bucket, access by role."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from flowui.server.app import create_app
from flowui.server.context import ServerContext, StorageBucket
from flowui.storage import FileSystemRoot, workspace_bucket
from flowui.storage.datasets import DatasetStore
from flowui.storage.s3sync import sync_dataset
from tests.support.aws import aws_client, bucket_keys, new_bucket
from tests.support.server_api import (
    ApiUser,
    error_of,
    join,
    new_workspace,
    sign_up,
    upload_dataset,
)

DATA = b"region,amount\nnorth,3\n"


@dataclass
class Server:
    context: ServerContext
    client: TestClient


@pytest.fixture
def bucket(moto_environment: str) -> str:
    """A new bucket of moto's server, which the server's boto3 reaches through the
    environment."""
    return new_bucket(moto_environment)


@pytest.fixture
def platform_database(tmp_path: Path, database: str | None) -> str:
    """The platform's database, which its servers share (SQLite: a file outside every root)."""
    return database or f"sqlite:///{tmp_path / 'flowui.db'}"


@contextmanager
def running_server(root: Path, database: str, bucket: str | None) -> Iterator[Server]:
    context = ServerContext.open(
        FileSystemRoot(root),
        database=database,
        storage=StorageBucket(bucket) if bucket else None,
    )
    try:
        with TestClient(create_app(context)) as client:
            yield Server(context, client)
    finally:
        context.close()


@pytest.fixture
def server(tmp_path: Path, platform_database: str, bucket: str) -> Iterator[Server]:
    with running_server(tmp_path / "fs", platform_database, bucket) as running:
        yield running


@pytest.fixture
def owner(server: Server) -> ApiUser:
    return sign_up(server.client, "owner@example.org")


@pytest.fixture
def workspace(owner: ApiUser) -> int:
    return new_workspace(owner)


def create_workspace_bucket(endpoint: str, platform_bucket: str, workspace_id: int) -> str:
    """The workspace's own bucket, as `flowui aws apply` makes it."""
    name = workspace_bucket(platform_bucket, workspace_id)
    aws_client(endpoint, "s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage(moto_environment: str, bucket: str, workspace: int) -> str:
    """The bucket of `workspace`."""
    return create_workspace_bucket(moto_environment, bucket, workspace)


def sign_in(client: TestClient, user: ApiUser) -> ApiUser:
    """`user`, signed in to another server of the platform."""
    login = client.post("/api/auth/login", data={"username": user.email, "password": user.password})
    assert login.status_code == 200, login.text
    return ApiUser(client, user.email, user.password, login.json()["access_token"])


def upload(user: ApiUser, workspace: int, data: bytes = DATA) -> dict[str, Any]:
    created = upload_dataset(user, workspace, data)
    assert created.status_code == 201, created.text
    dataset: dict[str, Any] = created.json()
    return dataset


def sync(user: ApiUser, workspace: int, dataset: dict[str, Any], direction: str) -> Response:
    return user.post(
        f"/api/workspaces/{workspace}/datasets/{dataset['id']}/sync",
        json={"direction": direction},
    )


def listed(user: ApiUser, workspace: int) -> dict[str, Any]:
    """The workspace's one dataset as the list shows it."""
    (dataset,) = user.get(f"/api/workspaces/{workspace}/datasets").json()
    assert isinstance(dataset, dict)
    return dataset


def test_an_uploaded_dataset_is_on_the_file_system_then_on_both_once_pushed(
    server: Server, owner: ApiUser, workspace: int, bucket: str, storage: str, moto_server: str
) -> None:
    dataset = upload(owner, workspace)
    sha256 = hashlib.sha256(DATA).hexdigest()

    before = listed(owner, workspace)
    pushed = sync(owner, workspace, dataset, "push")
    after = listed(owner, workspace)
    again = sync(owner, workspace, dataset, "both")

    assert dataset["location"] == before["location"] == "file_system"
    assert before["storage_bucket"] == storage == f"{bucket}-workspace-{workspace}"
    assert pushed.status_code == 200, pushed.text
    assert pushed.json() == {
        "bucket": storage,
        "pushed": ["v0001"],
        "pulled": [],
        "unchanged": [],
        "bytes_copied": len(DATA),
        "sha256": {"v0001": sha256},
    }
    assert after["location"] == "both"
    assert owner.get(f"/api/workspaces/{workspace}/datasets/{dataset['id']}").json() == after
    assert {key: value for key, value in after.items() if key != "location"} == {
        key: value for key, value in before.items() if key != "location"
    }
    assert again.json()["unchanged"] == ["v0001"] and again.json()["bytes_copied"] == 0
    prefix = f"dataset/{dataset['storage_id']}/v0001"
    assert bucket_keys(moto_server, storage) == [f"{prefix}/data.csv", f"{prefix}/meta.json"]
    assert bucket_keys(moto_server, bucket) == []  # the platform's own bucket


def test_each_workspace_syncs_with_its_own_bucket(
    server: Server, owner: ApiUser, workspace: int, bucket: str, storage: str, moto_server: str
) -> None:
    other = new_workspace(owner, "Other team")
    theirs = create_workspace_bucket(moto_server, bucket, other)
    mine, their_dataset = upload(owner, workspace), upload(owner, other, b"theirs\n")

    assert sync(owner, workspace, mine, "push").status_code == 200
    assert sync(owner, other, their_dataset, "push").status_code == 200

    assert [key.split("/")[1] for key in bucket_keys(moto_server, storage)] == [
        mine["storage_id"]
    ] * 2
    assert [key.split("/")[1] for key in bucket_keys(moto_server, theirs)] == [
        their_dataset["storage_id"]
    ] * 2
    assert listed(owner, other)["storage_bucket"] == theirs


def test_a_dataset_pushed_from_another_file_system_is_pulled_into_an_empty_root(
    server: Server,
    owner: ApiUser,
    workspace: int,
    tmp_path: Path,
    platform_database: str,
    bucket: str,
    storage: str,
    moto_server: str,
) -> None:
    dataset = upload(owner, workspace)
    assert sync(owner, workspace, dataset, "push").status_code == 200
    newer = b"region,amount\nnorth,3\nsouth,4\n"
    source = tmp_path / "sales-2026.csv"
    source.write_bytes(newer)
    # Published beside the server on the first file system, pushed as `flowui datasets sync`
    # would: the platform's row still describes v0001.
    tree = server.context.root.workspace(workspace)
    DatasetStore(tree).publish(
        dataset["storage_id"], source, {"filename": source.name, "content_type": "text/csv"}
    )
    s3 = aws_client(moto_server, "s3")
    sync_dataset(tree, s3, storage, dataset["storage_id"], "push")

    with running_server(tmp_path / "elsewhere", platform_database, bucket) as elsewhere:
        there = sign_in(elsewhere.client, owner)
        one = f"/api/workspaces/{workspace}/datasets/{dataset['id']}"
        before = listed(there, workspace)
        missing = there.get(f"{one}/download")
        pulled = sync(there, workspace, dataset, "pull")
        after = listed(there, workspace)
        download = there.get(f"{one}/download")
        store = DatasetStore(elsewhere.context.root.workspace(workspace))

    assert before["location"] == "bucket"
    assert missing.status_code == 404
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["pulled"] == ["v0001", "v0002"]
    assert pulled.json()["bytes_copied"] == len(DATA) + len(newer)
    assert pulled.json()["sha256"] == {
        "v0001": hashlib.sha256(DATA).hexdigest(),
        "v0002": hashlib.sha256(newer).hexdigest(),
    }
    assert after["location"] == "both"
    # The row tells what tasks now read: the latest version.
    assert (
        after["sha256"]
        == hashlib.sha256(newer).hexdigest()
        == store.get(after["storage_id"]).meta["sha256"]
    )
    assert after["size"] == len(newer)
    assert after["filename"] == "sales-2026.csv"
    assert download.content == newer
    assert listed(owner, workspace)["sha256"] == after["sha256"]


def test_a_version_that_differs_in_the_bucket_is_a_conflict_and_nothing_is_copied(
    owner: ApiUser, workspace: int, tmp_path: Path, storage: str, moto_server: str
) -> None:
    dataset = upload(owner, workspace)
    other = FileSystemRoot(tmp_path / "other").create()
    source = tmp_path / "other.csv"
    source.write_bytes(b"other data\n")
    DatasetStore(other).publish(dataset["storage_id"], source, {})
    sync_dataset(other, aws_client(moto_server, "s3"), storage, dataset["storage_id"], "push")
    keys = bucket_keys(moto_server, storage)

    answers = [sync(owner, workspace, dataset, direction) for direction in ("push", "both")]

    for answer in answers:
        assert answer.status_code == 409, answer.text
        error = error_of(answer)
        assert error["code"] == "conflict"
        assert "v0001 differ" in error["message"] and "nothing was copied" in error["message"]
    assert bucket_keys(moto_server, storage) == keys
    assert listed(owner, workspace)["sha256"] == hashlib.sha256(DATA).hexdigest()


def test_without_a_bucket_datasets_are_on_the_file_system_and_sync_names_the_setting(
    api: TestClient,
) -> None:
    owner = sign_up(api, "owner@example.org")
    workspace = new_workspace(owner)
    dataset = upload(owner, workspace)

    refused = sync(owner, workspace, dataset, "push")

    assert listed(owner, workspace)["location"] == "file_system"
    assert listed(owner, workspace)["storage_bucket"] is None
    assert refused.status_code == 409
    assert "FLOWUI_STORAGE_BUCKET" in error_of(refused)["message"]


def test_only_members_who_may_write_sync(
    server: Server, owner: ApiUser, workspace: int, storage: str
) -> None:
    reader = join(owner, workspace, sign_up(server.client, "reader@example.org"), "read")
    writer = join(owner, workspace, sign_up(server.client, "writer@example.org"), "write")
    stranger = sign_up(server.client, "stranger@example.org")
    dataset = upload(owner, workspace)

    refused = sync(reader, workspace, dataset, "push")

    assert refused.status_code == 403
    assert "write" in error_of(refused)["message"]
    assert listed(reader, workspace)["location"] == "file_system"
    assert sync(stranger, workspace, dataset, "push").status_code == 404
    assert sync(writer, workspace, dataset, "push").status_code == 200
    assert listed(reader, workspace)["location"] == "both"


def test_a_bucket_that_cannot_be_used_is_502_naming_it(
    tmp_path: Path, platform_database: str, bucket: str
) -> None:
    missing = f"{bucket}-missing"
    with running_server(tmp_path / "fs", platform_database, missing) as server:
        owner = sign_up(server.client, "owner@example.org")
        workspace = new_workspace(owner)
        dataset = upload(owner, workspace)
        answers = [
            owner.get(f"/api/workspaces/{workspace}/datasets"),
            sync(owner, workspace, dataset, "push"),
        ]

    for answer in answers:
        assert answer.status_code == 502, answer.text
        assert missing in error_of(answer)["message"]
