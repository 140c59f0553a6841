"""`flowui datasets list | sync`: the datasets of the platform's tree or of a workspace's, and an
S3 bucket, with checksums."""

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
from flowui.config import Settings
from flowui.storage import FileSystemRoot, InvalidIdError, workspace_bucket

app = typer.Typer(
    help="The datasets of the root or of a workspace's tree, and their copies in an S3 bucket: "
    "list, sync.",
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
    help="The datasets of workspace N's tree (workspaces/N/dataset/) instead of the root's.",
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
    json_output: bool = JsonOption,
) -> None:
    """Each dataset and where it lives: the shared file system (root), the bucket, or both.

    Example: [bold]flowui datasets list --workspace 3[/]
    """
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
