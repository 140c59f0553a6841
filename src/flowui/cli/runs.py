"""`flowui runs archive`: by hand, what the housekeeping DAG does on its schedule; and on a
remote platform `flowui runs list | logs | outputs`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from flowui.cli.output import (
    JsonOption,
    console,
    fail,
    print_json,
    transfer_progress,
)
from flowui.cli.project import ProjectDirOption, settings_or_exit
from flowui.cli.remote import (
    Remote,
    RemoteWorkspaceOption,
    ServerOption,
    needs_server,
    remote_platform,
)

app = typer.Typer(
    help="The runs in the root and the workspaces' trees: archive old ones to their S3 buckets; "
    "on a remote platform: list, logs, outputs.",
    no_args_is_help=True,
)


@app.command()
def archive(
    project: Path | None = ProjectDirOption,
    dry_run: bool | None = typer.Option(
        None,
        "--dry-run/--no-dry-run",
        help="Only report what would be archived (default: FLOWUI_HOUSEKEEPING_DRY_RUN).",
        show_default=False,
    ),
    older_than_days: int | None = typer.Option(
        None,
        "--older-than-days",
        min=1,
        help="Archive runs nothing was written to for this many days "
        "(default: FLOWUI_ARCHIVE_RUNS_AFTER_DAYS).",
        show_default=False,
    ),
    workspace: int | None = typer.Option(
        None,
        "--workspace",
        min=1,
        metavar="N",
        help="Only the runs of workspace N's tree (default: the platform's tree and every "
        "workspace's).",
        show_default=False,
    ),
    json_output: bool = JsonOption,
) -> None:
    """Move the runs nobody has written to for a while to their tree's bucket: the root's own
    runs to FLOWUI_STORAGE_BUCKET, those of workspace N's tree (workspaces/N/) to
    FLOWUI_STORAGE_BUCKET-workspace-N.

    Every file is uploaded and checked (size and sha256) before the run directory is removed;
    a tombstone `runs/{dag-id}/{run-dir}.archived.json` in the tree says where it went, and the
    API still serves its logs, outputs and results. Exit code 1, naming the bucket, when a run
    could not be archived or a workspace's bucket failed (its runs stay in its tree; the other
    trees are archived; run the command again).

    Example: [bold]flowui runs archive --workspace 3 --older-than-days 60 --dry-run[/]
    """
    from datetime import UTC, datetime, timedelta

    from flowui.cloud.aws import session
    from flowui.storage import InvalidIdError, workspace_bucket
    from flowui.storage.housekeeping import archive_runs

    settings = settings_or_exit(project, code=2)
    bucket = settings.FLOWUI_STORAGE_BUCKET
    if not bucket:
        fail(
            "no bucket: nothing archived (FLOWUI_STORAGE_BUCKET is not set)",
            hint="set it in config.ini [storage] or the environment",
            code=2,
        )
    if workspace is not None:
        try:
            workspace_bucket(bucket, workspace)
        except InvalidIdError as error:
            fail(str(error), code=2)
    if workspace is not None and not settings.root.workspace(workspace).path.is_dir():
        known = ", ".join(map(str, settings.root.workspace_ids())) or "none"
        fail(
            f"workspace {workspace} has no tree in {settings.root.workspaces}",
            hint=f"the workspaces with a tree: {known}",
            code=2,
        )
    days = older_than_days or settings.FLOWUI_ARCHIVE_RUNS_AFTER_DAYS
    with transfer_progress(disabled=json_output) as advance:
        report = archive_runs(
            settings.root,
            session(settings).client("s3"),
            bucket,
            timedelta(days=days),
            datetime.now(UTC),
            dry_run=settings.FLOWUI_HOUSEKEEPING_DRY_RUN if dry_run is None else dry_run,
            progress=advance,
            only_workspace=workspace,
        )
    if json_output:
        print_json(report.to_dict())
    else:
        console.print(escape(str(report)), highlight=False)
    if report.problems:
        fail(
            "; ".join(report.problems),
            hint="run the command again once that is fixed: what is archived is not sent again",
        )


WorkflowArgument = typer.Argument(..., help="The workflow: its id or its name.")
RunArgument = typer.Argument(..., help="The run's id (see `flowui runs list`).")


def _remote(
    command: str, server: str | None, project: Path | None, workspace: int | None
) -> Remote:
    remote = remote_platform(server, project, workspace)
    if remote is None:
        needs_server(f"runs {command}")
    return remote


@app.command("list")
def list_runs(
    workflow: str = WorkflowArgument,
    limit: int = typer.Option(50, "--limit", min=1, max=100, help="At most this many runs."),
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """A remote workflow's runs, newest first: state, type, start and duration.

    Example: [bold]flowui runs list greetings --workspace 2[/]
    """
    from flowui.cli import remote_workflows

    remote = _remote("list", server, project, workspace)
    remote_workflows.list_runs(remote, workflow, limit, json_output)


@app.command()
def logs(
    workflow: str = WorkflowArgument,
    run_id: str = RunArgument,
    task_id: str = typer.Argument(..., help="The task's id in the workflow."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing until the task has finished."
    ),
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """A task's log in a run of a remote workflow (every try appended).

    Example: [bold]flowui runs logs greetings manual__2026-01-01T00:00:00+00:00 greet -f[/]
    """
    from flowui.cli import remote_workflows

    remote = _remote("logs", server, project, workspace)
    remote_workflows.task_log(remote, workflow, run_id, task_id, follow, json_output)


@app.command()
def outputs(
    workflow: str = WorkflowArgument,
    run_id: str = RunArgument,
    task_id: str | None = typer.Argument(
        None, help="Only this task's output (default: every task's).", show_default=False
    ),
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """The validated outputs (output.json) of a run's tasks on a remote platform; null for a
    task that has produced none.

    Example: [bold]flowui runs outputs greetings manual__2026-01-01T00:00:00+00:00 --json[/]
    """
    from flowui.cli import remote_workflows

    remote = _remote("outputs", server, project, workspace)
    remote_workflows.task_outputs(remote, workflow, run_id, task_id, json_output)
