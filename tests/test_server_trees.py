"""Each workspace keeps its runs and datasets in its own tree, on SQLite and PostgreSQL: what an
earlier server left in the root's shared folders is moved there when the server opens, and a
deleted workspace leaves no tree behind for a workspace that may get its id later."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.storage import FileSystemRoot
from tests.support.runs_api import DOCUMENT, add_workflow
from tests.support.server_api import ApiUser, new_workspace, sign_up, upload_dataset

RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def test_an_earlier_servers_runs_and_datasets_move_into_their_workspaces_trees(
    tmp_path: Path, database: str | None
) -> None:
    root = FileSystemRoot(tmp_path / "fs")
    context = ServerContext.open(root, database=database)
    try:
        with TestClient(create_app(context)) as client:
            owner = sign_up(client, "owner@example.org")
            workspace = new_workspace(owner)
            dataset = upload_dataset(owner, workspace, b"region,amount\nnorth,3\n").json()
        workflow = add_workflow(context, workspace, DOCUMENT)
    finally:
        context.close()
    tree = root.workspace(workspace)
    # Where a server before the workspace trees kept them: the root's shared folders.
    tree.dataset(dataset["storage_id"]).rename(root.dataset(dataset["storage_id"]))
    old_log = root.task_run(workflow.dag_id, RUN_ID, "greet").create().log
    old_log.write_text("hello ada\n")
    not_the_servers = root.task_run("cli_workflow", RUN_ID, "greet").create()

    reopened = ServerContext.open(root, database=database)
    try:
        with TestClient(create_app(reopened)) as client:
            again = ApiUser(client, owner.email, owner.password, owner.token)
            download = again.get(f"/api/workspaces/{workspace}/datasets/{dataset['id']}/download")
    finally:
        reopened.close()

    assert download.status_code == 200, download.text
    assert download.content == b"region,amount\nnorth,3\n"
    assert tree.task_run(workflow.dag_id, RUN_ID, "greet").log.read_text() == "hello ada\n"
    assert not root.dag_runs(workflow.dag_id).exists()
    assert not root.dataset(dataset["storage_id"]).exists()
    assert not_the_servers.directory.is_dir()  # a workflow compiled without the server


def test_deleting_a_workspace_deletes_its_tree_and_no_other(
    api: TestClient, server_context: ServerContext
) -> None:
    owner = sign_up(api, "owner@example.org")
    mine, other = new_workspace(owner), new_workspace(owner, "Other team")
    for workspace in (mine, other):
        assert upload_dataset(owner, workspace, b"data\n").status_code == 201
    root = server_context.root

    deleted = owner.delete(f"/api/workspaces/{mine}")

    assert deleted.status_code == 204, deleted.text
    assert not root.workspace(mine).path.exists()
    assert root.workspace_ids() == [other]
    [dataset] = owner.get(f"/api/workspaces/{other}/datasets").json()
    assert owner.get(f"/api/workspaces/{other}/datasets/{dataset['id']}/download").content == (
        b"data\n"
    )
