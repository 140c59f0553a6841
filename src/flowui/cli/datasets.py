"""`flowui datasets list | sync | upload | download`: the datasets of the platform's tree or of a
workspace's, and an S3 bucket, with checksums; on a remote platform, through its REST API."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from flowui.cli.output import (
    JsonOption,
    console,
    err_console,
    fail,
    print_json,
    transfer_progress,
)
from flowui.cli.project import ProjectDirOption, settings_or_exit
from flowui.cli.remote import Remote, ServerOption, needs_server, remote_errors, remote_platform
from flowui.config import Settings
from flowui.storage import FileSystemRoot, InvalidIdError, workspace_bucket

app = typer.Typer(
    help="The datasets of the root or of a workspace's tree, and their copies in an S3 bucket: "
    "list, sync; on a remote platform: list, upload, download.",
    no_args_is_help=True,
)

BucketOption = typer.Option(
    None,
    "--bucket",
    help="S3 bucket (default: FLOWUI_STORAGE_BUCKET, or with --workspace N its bucket "
    "FLOWUI_STORAGE_BUCKET-workspace-N).",
    show_default=False,
)
WorkspaceOption = typer.Option(
    None,
    "--workspace",
    min=1,
    metavar="N",
    help="The datasets of workspace N's tree (workspaces/N/dataset/) instead of the root's; "
    "on a remote platform, workspace N (default: your first workspace there).",
    show_default=False,
)


def _tree_and_bucket(
    settings: Settings, workspace: int | None, bucket: str | None
) -> tuple[FileSystemRoot, str]:
    """The tree whose datasets are meant (the root's, or the workspace's) and its bucket."""
    tree = settings.root if workspace is None else settings.root.workspace(workspace)
    if bucket:
        return tree, bucket
    if not settings.FLOWUI_STORAGE_BUCKET:
        named = "" if workspace is None else f" (workspace {workspace}'s bucket is named after it)"
        fail(
            f"no bucket: give --bucket NAME or set FLOWUI_STORAGE_BUCKET{named}",
            hint="in config.ini [storage] or the environment",
            code=2,
        )
    if workspace is None:
        return tree, settings.FLOWUI_STORAGE_BUCKET
    try:
        return tree, workspace_bucket(settings.FLOWUI_STORAGE_BUCKET, workspace)
    except InvalidIdError as error:
        fail(str(error), hint="or give the workspace's bucket with --bucket NAME", code=2)


@app.command("list")
def list_datasets(
    project: Path | None = ProjectDirOption,
    bucket: str | None = BucketOption,
    workspace: int | None = WorkspaceOption,
    server: str | None = ServerOption,
    json_output: bool = JsonOption,
) -> None:
    """Each dataset and where it lives: the shared file system (root), the bucket, or both.

    On a remote platform: the workspace's datasets with their id, name, size and sha256 too.

    Example: [bold]flowui datasets list --workspace 3[/]
    """
    remote = remote_platform(server, project, workspace)
    if remote is not None:
        _list_remote(remote, json_output)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    from flowui.cloud.aws import session
    from flowui.storage.s3sync import dataset_ids

    settings = settings_or_exit(project, code=2)
    tree, name = _tree_and_bucket(settings, workspace, bucket)
    try:
        where = dataset_ids(tree, session(settings).client("s3"), name)
    except (BotoCoreError, ClientError) as error:
        fail(f"s3://{name}: {error}")
    places = {
        dataset: "both" if len(found) == 2 else next(iter(found))
        for dataset, found in sorted(where.items())
    }
    if json_output:
        print_json({"workspace": workspace, "bucket": name, "datasets": places})
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("DATASET")
    table.add_column("WHERE")
    for dataset, place in places.items():
        table.add_row(escape(dataset), place)
    console.print(table)


@app.command()
def sync(
    dataset_ids: list[str] | None = typer.Argument(
        None, help="Datasets to sync (default: every dataset on either side).", show_default=False
    ),
    project: Path | None = ProjectDirOption,
    bucket: str | None = BucketOption,
    workspace: int | None = WorkspaceOption,
    push: bool = typer.Option(
        False, "--push", help="Only copy from the file system to the bucket."
    ),
    pull: bool = typer.Option(
        False, "--pull", help="Only copy from the bucket to the file system."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Copy the dataset versions one side lacks to the other, checking every file's sha256.

    A version that exists on both sides with other data stops the sync of that dataset before
    anything of it is copied (exit code 1).

    Example: [bold]flowui datasets sync sales --workspace 3 --push[/]
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from flowui.cloud.aws import session
    from flowui.storage.s3sync import Direction, SyncError, sync_dataset
    from flowui.storage.s3sync import dataset_ids as all_ids

    if push and pull:
        fail("--push and --pull: give one, or neither for both ways", code=2)
    direction: Direction = "push" if push else "pull" if pull else "both"
    settings = settings_or_exit(project, code=2)
    tree, name = _tree_and_bucket(settings, workspace, bucket)
    s3 = session(settings).client("s3")
    reports, failures = [], []
    with transfer_progress(disabled=json_output) as advance:
        try:
            targets = dataset_ids or sorted(all_ids(tree, s3, name))
        except (BotoCoreError, ClientError) as error:
            fail(f"s3://{name}: {error}")
        for dataset in targets:
            try:
                reports.append(sync_dataset(tree, s3, name, dataset, direction, advance))
            except (SyncError, ValueError) as error:
                failures.append(str(error))
    if json_output:
        print_json(
            {
                "workspace": workspace,
                "bucket": name,
                "direction": direction,
                "datasets": [
                    {
                        "dataset_id": r.dataset_id,
                        "pushed": r.pushed,
                        "pulled": r.pulled,
                        "unchanged": r.unchanged,
                        "bytes_copied": r.bytes_copied,
                    }
                    for r in reports
                ],
                "errors": failures,
            }
        )
    else:
        for report in reports:
            console.print(
                f"{escape(report.dataset_id)}: pushed {', '.join(report.pushed) or 'nothing'}, "
                f"pulled {', '.join(report.pulled) or 'nothing'} "
                f"({report.bytes_copied} bytes, every sha256 checked)",
                highlight=False,
            )
        for failure in failures:
            err_console.print(f"[bold red]error:[/] {escape(failure)}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _list_remote(remote: Remote, json_output: bool) -> None:
    with remote_errors():
        datasets = remote.client.get(remote.path("/datasets"))
    if json_output:
        # The local shape ({storage id: where}), with each dataset's record beside it.
        print_json(
            {
                "workspace": remote.workspace,
                "bucket": datasets[0]["storage_bucket"] if datasets else None,
                "datasets": {each["storage_id"]: each["location"] for each in datasets},
                "records": datasets,
            }
        )
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "NAME", "FILE", "BYTES", "WHERE", "SHA256"):
        table.add_column(column)
    for each in datasets:
        table.add_row(
            str(each["id"]),
            escape(each["name"]),
            escape(each["filename"]),
            str(each["size"]),
            each["location"],
            each["sha256"][:12],
        )
    console.print(table)


def _remote_only(
    command: str, server: str | None, project: Path | None, workspace: int | None
) -> Remote:
    remote = remote_platform(server, project, workspace)
    if remote is None:
        needs_server(f"datasets {command}")
    return remote


@app.command()
def upload(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="The file to upload."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="The dataset's name, unique in the workspace (default: the file's name).",
        show_default=False,
    ),
    project: Path | None = ProjectDirOption,
    workspace: int | None = WorkspaceOption,
    server: str | None = ServerOption,
    json_output: bool = JsonOption,
) -> None:
    """Upload a file as a new dataset of a remote platform's workspace; its sha256 is checked
    against the one the platform computed.

    Example: [bold]flowui datasets upload sales.csv --name sales --workspace 2[/]
    """
    import hashlib
    import mimetypes

    remote = _remote_only("upload", server, project, workspace)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    digest = hashlib.sha256()
    with file.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    with (
        remote_errors(),
        err_console.status(f"Uploading {file} to {remote.url}"),
        file.open("rb") as data,
    ):
        dataset = remote.client.post(
            remote.path("/datasets"),
            data={"name": name or file.name},
            files={"file": (file.name, data, content_type)},
        )
    if dataset["sha256"] != digest.hexdigest():
        fail(
            f"{remote.url} stored dataset {dataset['id']} with sha256 {dataset['sha256']}, "
            f"but {file} has {digest.hexdigest()}: the upload was damaged",
            hint="upload it again (and delete the damaged dataset in the GUI)",
        )
    if json_output:
        print_json(dataset)
    else:
        console.print(
            f"[green]uploaded[/] {escape(str(file))} as dataset {dataset['id']} "
            f"{escape(dataset['name'])} ({dataset['size']} bytes, sha256 checked)",
            highlight=False,
        )


@app.command()
def download(
    dataset_id: int = typer.Argument(..., min=1, help="The dataset's id (see `list`)."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write it (default: its uploaded file name, here).",
        show_default=False,
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    project: Path | None = ProjectDirOption,
    workspace: int | None = WorkspaceOption,
    server: str | None = ServerOption,
    json_output: bool = JsonOption,
) -> None:
    """Download a dataset of a remote platform's workspace; the file is written only once its
    sha256 matches the platform's.

    Example: [bold]flowui datasets download 7 -o sales.csv --workspace 2[/]
    """
    import hashlib
    import os
    import tempfile

    remote = _remote_only("download", server, project, workspace)
    with remote_errors():
        dataset = remote.client.get(remote.path(f"/datasets/{dataset_id}"))
    target = output or Path(Path(dataset["filename"]).name or f"dataset-{dataset_id}")
    if target.exists() and not force:
        fail(f"{target} exists", hint="give --force to overwrite it, or --output PATH", code=2)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with (
            os.fdopen(descriptor, "wb") as file,
            remote_errors(),
            remote.client.stream(remote.path(f"/datasets/{dataset_id}/download")) as response,
            transfer_progress(disabled=json_output) as advance,
        ):
            for block in response.iter_bytes():
                file.write(block)
                digest.update(block)
                advance(str(target), len(block))
        if digest.hexdigest() != dataset["sha256"]:
            fail(
                f"dataset {dataset_id} from {remote.url} arrived with sha256 "
                f"{digest.hexdigest()}, not {dataset['sha256']}: nothing written",
                hint="download it again",
            )
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    if json_output:
        print_json({**dataset, "output": str(target)})
    else:
        console.print(
            f"[green]downloaded[/] dataset {dataset_id} to {escape(str(target))} "
            f"({dataset['size']} bytes, sha256 checked)",
            highlight=False,
        )
