"""`flowui login | logout`, and which platform a command goes to: the local project, or a
remote platform's REST API (`--server URL`, else the last login)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
import typer

from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.config import PROJECT_DIR_VARIABLE

if TYPE_CHECKING:
    from flowui.cli.remote_api import CredentialStore, PlatformClient, RemoteError

TOKEN_VARIABLE = "FLOWUI_TOKEN"
SERVER_VARIABLE = "FLOWUI_SERVER"
TOKEN_HOW_TO = (
    "make one in the GUI: your account page (the menu at the top right) -> Access tokens -> "
    "New token; then `flowui login URL --token TOKEN`"
)

ServerOption = typer.Option(
    None,
    "--server",
    metavar="URL",
    help="The platform to ask through its REST API (default: `flowui --server`, "
    f"{SERVER_VARIABLE}, else the last `flowui login`; --project means the local project).",
    show_default=False,
)
RemoteWorkspaceOption = typer.Option(
    None,
    "--workspace",
    min=1,
    metavar="N",
    help="On a remote platform, workspace N (default: your first workspace there).",
    show_default=False,
)


def credential_store() -> CredentialStore:
    """The logins of this user: under the user's config dir ($XDG_CONFIG_HOME/flowui)."""
    from flowui.cli.remote_api import CredentialStore

    return CredentialStore(Path(typer.get_app_dir("flowui")))


def fail_remote(error: RemoteError) -> NoReturn:
    """Exit with the error a platform gave, each detail on a line of its own."""
    for detail in error.details:
        where = detail.get("where", "")
        err_console.print(f"  {where}: {detail.get('message', '')}", highlight=False, markup=False)
    fail(str(error), hint=error.hint)


@contextmanager
def remote_errors() -> Iterator[None]:
    """Turn a failed request into one clear line on stderr and exit code 1."""
    from flowui.cli.remote_api import RemoteError

    try:
        yield
    except RemoteError as error:
        fail_remote(error)


@dataclass
class Remote:
    """A remote platform a command goes to, and the workspace it means there."""

    client: PlatformClient
    workspace_option: int | None
    _workspace: int | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def workspace(self) -> int:
        """The workspace given, or the user's first one (said on stderr)."""
        if self._workspace is None:
            self._workspace = self.workspace_option or self._first_workspace()
        return self._workspace

    def path(self, rest: str) -> str:
        """The API path of `rest` (`/datasets`, ...) in the workspace."""
        return f"/api/workspaces/{self.workspace}{rest}"

    def _first_workspace(self) -> int:
        with remote_errors():
            workspaces = self.client.get("/api/workspaces")
        if not workspaces:
            fail(
                f"you belong to no workspace on {self.url}",
                hint="create one in the GUI, or ask a workspace owner for an invitation",
            )
        first = workspaces[0]
        others = f"; {len(workspaces) - 1} other(s): --workspace N" if len(workspaces) > 1 else ""
        err_console.print(
            f"[dim]workspace {first['id']} ({first['name']}) on {self.url}{others}[/]",
            highlight=False,
        )
        return int(first["id"])


def remote_platform(
    server: str | None, project: Path | None = None, workspace: int | None = None
) -> Remote | None:
    """The remote platform a command goes to, or None for the local project.

    Remote when `--server` is given (on the command, on `flowui`, or FLOWUI_SERVER), or else
    when a login selected a server and no local project is named (--project or
    FLOWUI_PROJECT_DIR). FLOWUI_TOKEN, if set, is the token sent instead of the stored one.
    """
    from flowui.cli.remote_api import PlatformClient, server_url

    root = click.get_current_context(silent=True)
    given = server or (root.find_root().params.get("server") if root else None)
    store = credential_store()
    if given is None:
        if project is not None or os.environ.get(PROJECT_DIR_VARIABLE):
            return None
        with remote_errors():
            given = store.current()
        if given is None:
            return None
    try:
        url = server_url(given)
    except ValueError as error:
        fail(str(error), code=2)
    with remote_errors():
        login = store.load(url)
    token = os.environ.get(TOKEN_VARIABLE) or (login.token if login else None)
    if not token:
        fail(f"not logged in to {url}", hint=f"run `flowui login {url}`; {TOKEN_HOW_TO}", code=2)
    try:
        client = PlatformClient(url, token)
    except ImportError:
        fail("the remote platform commands need httpx", hint="pip install 'flowui[server]'")
    return Remote(client, workspace)


def needs_server(command: str) -> NoReturn:
    """Exit: `command` exists only against a platform's REST API."""
    fail(
        f"`flowui {command}` works on a platform's REST API: no server is selected",
        hint="give --server URL, or `flowui login URL` first (--project means the local project)",
        code=2,
    )


def login(
    url: str = typer.Argument(..., help="The platform's URL, such as https://flowui.example.com."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar=TOKEN_VARIABLE,
        help=f"A personal access token (flowui_pat_...); default: {TOKEN_VARIABLE}.",
        show_default=False,
    ),
    json_output: bool = JsonOption,
) -> None:
    """Sign in to a remote platform with a personal access token, and select it.

    The token is checked with the platform, then kept with your e-mail in a file of its own
    that only you may read ($XDG_CONFIG_HOME/flowui/servers/HOST_PORT.json, mode 0600). Until
    `flowui logout`, the commands that work on a platform (`workflows list|validate|deploy|run`,
    `runs`, `repositories`, `datasets list|upload|download`) go to it unless --project names a
    local project.

    Example: [bold]flowui login https://flowui.example.com --token flowui_pat_...[/]
    """
    from flowui.cli.remote_api import PlatformClient, ServerLogin, server_url

    try:
        url = server_url(url)
    except ValueError as error:
        fail(str(error), code=2)
    if not token:
        fail(
            f"give a personal access token of {url} with --token TOKEN (or {TOKEN_VARIABLE})",
            hint=TOKEN_HOW_TO.replace("URL", url),
            code=2,
        )
    with remote_errors(), PlatformClient(url, token) as client:
        me = client.get("/api/auth/me")
        path = credential_store().save(ServerLogin(url=url, token=token, email=me["email"]))
    if json_output:
        print_json({"url": url, "email": me["email"], "credentials": str(path)})
    else:
        console.print(
            f"[green]logged in[/] to {url} as {me['email']} (kept in {path})",
            highlight=False,
        )


def logout(
    url: str | None = typer.Argument(
        None, help="The platform to forget (default: the selected one).", show_default=False
    ),
) -> None:
    """Forget the token kept for a platform; the commands work on the local project again.

    The token itself stays valid until it expires: revoke it in the GUI (Access tokens) if it
    may have leaked.

    Example: [bold]flowui logout https://flowui.example.com[/]
    """
    from flowui.cli.remote_api import server_url

    store = credential_store()
    with remote_errors():
        given = url or store.current()
    if given is None:
        fail("no platform is selected: give its URL", hint="flowui logout URL", code=2)
    try:
        server = server_url(given)
    except ValueError as error:
        fail(str(error), code=2)
    removed = store.remove(server)
    if removed is None:
        fail(f"not logged in to {server}", code=1)
    console.print(f"[green]logged out[/] of {server} (removed {removed})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
