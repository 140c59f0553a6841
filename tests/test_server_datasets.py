"""The datasets API on SQLite and PostgreSQL: streamed upload with a size limit, list, download,
delete; hostile file names kept as data; access by role."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import event

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import Dataset
from flowui.storage.datasets import DatasetStore
from tests.support.server_api import (
    ApiUser,
    error_of,
    join,
    new_workspace,
    sign_up,
    upload_dataset,
)


def post_body(
    user: ApiUser, workspace: int, body: bytes | Iterator[bytes], headers: dict[str, str]
) -> Response:
    """An upload whose body the test writes itself (chunked when it is an iterator)."""
    return user.client.post(
        f"/api/workspaces/{workspace}/datasets", content=body, headers={**user.headers, **headers}
    )


def stored_entries(context: ServerContext) -> list[str]:
    """Everything under the workspaces' dataset folders, hidden temporary files included."""
    root = context.root
    return sorted(
        str(path.relative_to(root.workspaces))
        for workspace_id in root.workspace_ids()
        for path in root.workspace(workspace_id).datasets.rglob("*")
    )


def dataset_folders(context: ServerContext) -> list[Path]:
    """The dataset folders of every workspace's tree."""
    root = context.root
    return [
        folder
        for workspace_id in root.workspace_ids()
        for folder in root.workspace(workspace_id).datasets.iterdir()
    ]


def wheres(response: Response) -> set[str]:
    details = error_of(response)["details"]
    assert isinstance(details, list)
    return {detail["where"] for detail in details}


def dataset_rows(context: ServerContext) -> int:
    with context.sessions() as session:
        return session.query(Dataset).count()


@pytest.fixture
def owner(api: TestClient) -> ApiUser:
    return sign_up(api, "owner@example.org")


@pytest.fixture
def workspace(owner: ApiUser) -> int:
    return new_workspace(owner)


def test_upload_list_download_round_trip(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    data = b"region,amount\n" + os.urandom(3 * 1024 * 1024)

    created = upload_dataset(owner, workspace, data)

    assert created.status_code == 201, created.text
    dataset = created.json()
    assert dataset["name"] == "sales"
    assert dataset["filename"] == "sales.csv"
    assert dataset["content_type"] == "text/csv"
    assert dataset["size"] == len(data)
    assert dataset["sha256"] == hashlib.sha256(data).hexdigest()
    assert dataset["created_by"] == "owner@example.org"
    base = f"/api/workspaces/{workspace}/datasets"
    assert owner.get(base).json() == [dataset]
    assert owner.get(f"{base}/{dataset['id']}").json() == dataset
    download = owner.get(f"{base}/{dataset['id']}/download")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"sales.csv\"; filename*=UTF-8''sales.csv"
    )
    # The workspace's tasks find it in its tree's dataset store under its storage id.
    version = DatasetStore(server_context.root.workspace(workspace)).get(dataset["storage_id"])
    assert version.file.read_bytes() == data
    assert version.file.stat().st_mode & 0o777 == 0o644  # readable by tasks of other users
    assert version.meta["sha256"] == dataset["sha256"]
    assert version.meta["filename"] == "sales.csv"
    assert not any(entry.startswith(".") for entry in stored_entries(server_context))


def test_an_upload_sent_in_small_chunks_is_reassembled(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    data = bytes(range(256)) * 400  # every byte value, the boundary's characters included
    boundary = "flowui-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="bytes.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
            f"all bytes\r\n--{boundary}--\r\n"
        ).encode()
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 777):
            yield body[start : start + 777]

    created = post_body(
        owner,
        workspace,
        chunks(),
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert created.status_code == 201, created.text
    assert created.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert created.json()["name"] == "all bytes"
    download = owner.get(f"/api/workspaces/{workspace}/datasets/{created.json()['id']}/download")
    assert download.content == data


@pytest.fixture
def small_limit(server_context: ServerContext) -> Iterator[tuple[ApiUser, int, ServerContext]]:
    """A server whose upload limit is 1,000 bytes: a signed-in owner and their workspace."""
    context = dataclasses.replace(server_context, max_upload_bytes=1000)
    with TestClient(create_app(context)) as client:
        owner = sign_up(client, "owner@example.org")
        yield owner, new_workspace(owner), context


def test_an_upload_over_the_limit_is_413_and_leaves_nothing_behind(
    small_limit: tuple[ApiUser, int, ServerContext],
) -> None:
    owner, workspace, context = small_limit

    too_large = upload_dataset(owner, workspace, b"x" * 1001)
    streamed = post_body(
        owner,
        workspace,
        iter(
            [b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n']
            + [b"y" * 500] * 10
        ),
        {"Content-Type": "multipart/form-data; boundary=b"},
    )
    declared_huge = post_body(
        owner,
        workspace,
        b"z",
        {
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(10 * 1024 * 1024),
        },
    )

    for answer in (too_large, streamed, declared_huge):
        assert answer.status_code == 413
        assert error_of(answer)["message"] == (
            "the file is larger than the upload limit of 1000 bytes"
        )
    assert stored_entries(context) == []
    assert dataset_rows(context) == 0
    assert upload_dataset(owner, workspace, b"x" * 1000).status_code == 201


HOSTILE_FILENAMES = {
    "../../etc/passwd": "passwd",
    "..\\..\\boot.ini": "boot.ini",
    "quo\"te's.csv": "quo\"te's.csv",
    "line\nbreak\r\n.csv": "line_break__.csv",
    "naïve ☃.csv": "naïve ☃.csv",
    "/": "dataset",
    "f" * 255: "f" * 255,
}


def test_hostile_file_names_are_kept_as_data_and_never_used_as_a_path(
    owner: ApiUser, workspace: int, server_context: ServerContext, tmp_path: Path
) -> None:
    root = server_context.root.workspace(workspace)
    for index, (filename, download_name) in enumerate(HOSTILE_FILENAMES.items()):
        data = f"data {index}".encode()

        created = upload_dataset(owner, workspace, data, name=f"d{index}", filename=filename)

        assert created.status_code == 201, (filename, created.text)
        assert created.json()["filename"] == filename
        download = owner.get(
            f"/api/workspaces/{workspace}/datasets/{created.json()['id']}/download"
        )
        assert download.content == data
        header = download.headers["content-disposition"]
        fallback, encoded = header.removeprefix('attachment; filename="').split(
            "\"; filename*=UTF-8''"
        )
        assert '"' not in fallback and "\\" not in fallback and fallback.isprintable()
        assert fallback.isascii() and len(fallback) == len(download_name)
        assert unquote(encoded) == download_name
        stored = DatasetStore(root).get(created.json()["storage_id"]).file
        assert stored.parent.parent == root.dataset(created.json()["storage_id"])
        assert stored.name in ("data", "data.csv", "data.ini")
    storage_ids = {
        d["storage_id"] for d in owner.get(f"/api/workspaces/{workspace}/datasets").json()
    }
    assert {path.name for path in root.datasets.iterdir()} == storage_ids
    assert not (tmp_path / "etc").exists()


def test_a_file_name_longer_than_255_characters_is_refused(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    refused = upload_dataset(owner, workspace, b"data", filename="f" * 256)

    assert refused.status_code == 422
    assert wheres(refused) == {"/body/file"}
    assert stored_entries(server_context) == []


def test_a_dataset_name_is_unique_in_its_workspace(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    assert upload_dataset(owner, workspace, b"first").status_code == 201

    again = upload_dataset(owner, workspace, b"second")
    elsewhere = upload_dataset(owner, new_workspace(owner, "Other team"), b"second")

    assert again.status_code == 409
    assert error_of(again)["message"] == "a dataset named 'sales' already exists in this workspace"
    assert elsewhere.status_code == 201
    assert len(dataset_folders(server_context)) == 2
    assert dataset_rows(server_context) == 2


def test_bad_uploads_say_what_and_where(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    base = f"/api/workspaces/{workspace}/datasets"
    file = {"file": ("a.csv", b"a,b\n", "text/csv")}
    answers = {
        "no name": (owner.post(base, files=file), {"/body/name"}),
        "blank name": (owner.post(base, data={"name": "  "}, files=file), {"/body/name"}),
        "long name": (owner.post(base, data={"name": "n" * 201}, files=file), {"/body/name"}),
        "two lines": (owner.post(base, data={"name": "a\nb"}, files=file), {"/body/name"}),
        "unexpected field": (
            owner.post(base, data={"name": "x"}, files={"other": ("x", b"")}),
            {"/body/other"},
        ),
        "only a name": (
            post_body(
                owner,
                workspace,
                b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--\r\n',
                {"Content-Type": "multipart/form-data; boundary=b"},
            ),
            {"/body/file"},
        ),
    }
    not_multipart = owner.post(base, json={"name": "x"})

    for case, (answer, where) in answers.items():
        assert answer.status_code == 422, case
        assert wheres(answer) == where, case
    assert not_multipart.status_code == 415
    assert "multipart/form-data" in str(error_of(not_multipart)["message"])
    assert stored_entries(server_context) == []
    assert dataset_rows(server_context) == 0


def test_a_dataset_exists_only_for_the_members_of_its_workspace(
    api: TestClient, owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    reader = join(owner, workspace, sign_up(api, "reader@example.org"), "read")
    writer = join(owner, workspace, sign_up(api, "writer@example.org"), "write")
    stranger = sign_up(api, "stranger@example.org")
    theirs = new_workspace(stranger, "Elsewhere")
    dataset = upload_dataset(writer, workspace, b"numbers").json()
    base = f"/api/workspaces/{workspace}/datasets"
    one = f"{base}/{dataset['id']}"

    assert reader.get(base).json() == [dataset]
    assert reader.get(f"{one}/download").content == b"numbers"
    assert upload_dataset(reader, workspace, b"mine", name="mine").status_code == 403
    assert reader.delete(one).status_code == 403
    for url in (base, one, f"{one}/download"):
        assert stranger.get(url).status_code == 404
        assert api.get(url).status_code == 401
    assert upload_dataset(stranger, workspace, b"x", name="x").status_code == 404
    assert stranger.delete(one).status_code == 404
    # Through a workspace of their own, the id of another workspace's dataset is unknown.
    for url in (
        f"/api/workspaces/{theirs}/datasets/{dataset['id']}",
        f"/api/workspaces/{theirs}/datasets/{dataset['id']}/download",
    ):
        assert stranger.get(url).status_code == 404
    assert stranger.delete(f"/api/workspaces/{theirs}/datasets/{dataset['id']}").status_code == 404
    assert dataset_rows(server_context) == 1
    assert len(dataset_folders(server_context)) == 1


def test_deleting_removes_the_dataset_and_its_files(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    dataset = upload_dataset(owner, workspace, b"to be deleted").json()
    one = f"/api/workspaces/{workspace}/datasets/{dataset['id']}"

    deleted = owner.delete(one)

    assert deleted.status_code == 204
    assert owner.get(one).status_code == 404
    assert owner.delete(one).status_code == 404
    assert owner.get(f"/api/workspaces/{workspace}/datasets").json() == []
    assert stored_entries(server_context) == []


def test_listing_datasets_costs_the_same_queries_however_many_creators_they_have(
    api: TestClient, server_context: ServerContext
) -> None:
    owner = sign_up(api, "owner@example.org")
    workspace = new_workspace(owner)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def list_queries() -> int:
        statements.clear()
        event.listen(server_context.engine, "before_cursor_execute", count)
        try:
            listed = owner.get(f"/api/workspaces/{workspace}/datasets")
        finally:
            event.remove(server_context.engine, "before_cursor_execute", count)
        assert listed.status_code == 200, listed.text
        return len(statements)

    upload_dataset(owner, workspace, b"a\n1\n", name="first")
    one = list_queries()
    for index in range(5):  # five more, each by a writer of its own
        writer = join(owner, workspace, sign_up(api, f"w{index}@example.org"), "write")
        assert upload_dataset(writer, workspace, b"a\n1\n", name=f"by-{index}").status_code == 201
    six = list_queries()

    assert six == one
    creators = {d["created_by"] for d in owner.get(f"/api/workspaces/{workspace}/datasets").json()}
    assert creators == {"owner@example.org", *(f"w{index}@example.org" for index in range(5))}
