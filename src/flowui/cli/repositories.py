"""`flowui repositories list | import | upgrade`: the operators repositories of a remote
platform's workspace (locally, `flowui workflows ... --repo DIR` installs one into the root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flowui.cli.output import JsonOption, console, err_console, print_json
from flowui.cli.project import ProjectDirOption
from flowui.cli.remote import (
    Remote,
    RemoteWorkspaceOption,
    ServerOption,
    needs_server,
    remote_errors,
    remote_platform,
)

app = typer.Typer(
    help="The operators repositories of a remote platform's workspace: list, import, upgrade.",
    no_args_is_help=True,
)

RefOption = typer.Option(
    None,
    "--ref",
    help="Branch, tag or commit (default: the default branch).",
    show_default=False,
)


def _remote(
    command: str, server: str | None, project: Path | None, workspace: int | None
) -> Remote:
    remote = remote_platform(server, project, workspace)
    if remote is None:
        needs_server(f"repositories {command}")
    return remote


def _print_repository(verb: str, repository: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(repository)
        return
    console.print(
        f"[green]{verb}[/] {escape(repository['name'])} {repository['current_version']} "
        f"({repository['operator_count']} operator(s)) as repository {repository['id']}",
        highlight=False,
    )


@app.command("list")
def list_repositories(
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """The workspace's operators repositories, with their current version and source.

    Example: [bold]flowui repositories list --workspace 2[/]
    """
    remote = _remote("list", server, project, workspace)
    with remote_errors():
        repositories = remote.client.get(remote.path("/repositories"))
    if json_output:
        print_json(repositories)
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "NAME", "VERSION", "OPERATORS", "SOURCE"):
        table.add_column(column)
    for each in repositories:
        table.add_row(
            str(each["id"]),
            escape(each["name"]),
            each["current_version"],
            str(each["operator_count"]),
            escape(each["source"]),
        )
    console.print(table)


@app.command("import")
def import_repository(
    source: str = typer.Argument(
        ...,
        help="https:// or ssh:// URL, GitHub's owner/repository, or (platform administrators) a "
        "directory on the server.",
    ),
    ref: str | None = RefOption,
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Import an operators repository into the workspace: the platform fetches it, validates it
    and adds its operators (nothing is left behind when it is invalid).

    A relative directory that exists here is sent as its absolute path: the server reads it
    from its own file system, which only platform administrators may import from.

    Example: [bold]flowui repositories import https://github.com/acme/operators --ref v1.2.0[/]
    """
    remote = _remote("import", server, project, workspace)
    local = Path(source).expanduser()
    if "://" not in source and local.exists():
        source = str(local.resolve())
    body = {"source": source, "ref": ref}
    with remote_errors(), err_console.status(f"Importing {source} on {remote.url}"):
        repository = remote.client.post(remote.path("/repositories"), json=body)
    _print_repository("imported", repository, json_output)


@app.command()
def upgrade(
    repository_id: int = typer.Argument(..., min=1, help="The repository's id (see `list`)."),
    ref: str | None = RefOption,
    project: Path | None = ProjectDirOption,
    server: str | None = ServerOption,
    workspace: int | None = RemoteWorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Import another ref of a repository's source as its new current version (its VERSION
    must be new); workflows keep the versions they name.

    Example: [bold]flowui repositories upgrade 3 --ref v1.3.0[/]
    """
    remote = _remote("upgrade", server, project, workspace)
    path = remote.path(f"/repositories/{repository_id}/upgrade")
    with remote_errors(), err_console.status(f"Upgrading repository {repository_id}"):
        repository = remote.client.post(path, json={"ref": ref})
    _print_repository("upgraded", repository, json_output)
