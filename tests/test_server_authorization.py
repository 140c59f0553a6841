"""Who may do what: every route of the API x {owner, admin, write, read, non-member, anonymous},
each signed in with a session and with a personal access token.

One world per database: a workspace with a member of each role, an imported repository, a
deployed workflow, a secret and a dataset. The table below says, for every route, the least
role that may use it; the test checks that the table covers every route of the app, that those
below get 401 (anonymous), 404 (non-member: the workspace does not exist for them) or 403, and
that those allowed get the route's answer. A token acts as its user, except on the routes that
manage sessions, tokens and the password (403). Routes that change or delete run last, once,
with their least role, so that they do not take the world away from the routes before them.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from flowui.server.context import ServerContext
from tests.support.operator_repositories import make_repository
from tests.support.server_api import ApiUser, join, make_platform_admin, new_workspace, sign_up

PERSONAS = ("anonymous", "outsider", "read", "write", "admin", "owner")
ROLE_RANK = {"read": 0, "write": 1, "admin": 2, "owner": 3}
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Call:
    """One request, the least persona that may make it and what that persona gets."""

    method: str
    route: str  # the app's path template, to check that the table covers every route
    # "anonymous", "user" (anyone signed in), "platform-admin" (the owner is one here), or a
    # role in the workspace
    least: str
    allowed: int  # the status an allowed persona gets
    body: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    changes: bool = False  # run once, last, by the least allowed role
    session_only: bool = False  # a personal access token gets 403


@dataclass
class World:
    client: TestClient
    users: dict[str, ApiUser]
    ids: dict[str, Any]
    tokens: dict[str, str]  # each persona's personal access token (every workspace, writes)


@pytest.fixture
def world(api: TestClient, server_context: ServerContext, tmp_path: Path) -> World:
    users = {role: sign_up(api, f"{role}@example.org") for role in ROLE_RANK}
    users["outsider"] = sign_up(api, "outsider@example.org")
    extra = sign_up(api, "extra@example.org")  # the member whose role is changed, then removed
    owner = users["owner"]
    make_platform_admin(server_context, owner)  # may import from a server path
    workspace = new_workspace(owner)
    for role in ("read", "write", "admin"):
        join(owner, workspace, users[role], role)
    join(owner, workspace, extra, "read")
    base = f"/api/workspaces/{workspace}"
    repository = owner.post(
        f"{base}/repositories", json={"source": str(make_repository(tmp_path / "demo"))}
    )
    assert repository.status_code == 201, repository.text
    operators = owner.get(f"{base}/operators").json()
    document = {
        "name": "greetings",
        "tasks": [
            {
                "id": "greet",
                "operator": {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"},
            }
        ],
    }
    workflow = owner.post(f"{base}/workflows", json={"document": document})
    assert workflow.status_code == 201, workflow.text
    workflow_id = workflow.json()["id"]
    assert owner.post(f"{base}/workflows/{workflow_id}/deploy").status_code == 200
    secret = owner.put(f"{base}/secrets/demo/API_TOKEN", json={"value": "s3cr3t"})
    assert secret.status_code == 200, secret.text
    dataset = owner.post(
        f"{base}/datasets", data={"name": "sales"}, files={"file": ("a.csv", b"a\n1\n")}
    )
    assert dataset.status_code == 201, dataset.text
    invitation = owner.post(f"{base}/invitations", json={"email": "guest@example.org"})
    tokens = {}
    for persona, user in users.items():
        created = user.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 1})
        assert created.status_code == 201, created.text
        tokens[persona] = created.json()["token"]
    return World(
        api,
        users,
        {
            "workspace_id": workspace,
            "repository_id": repository.json()["id"],
            "operator_id": operators[0]["id"],
            "workflow_id": workflow_id,
            "dataset_id": dataset.json()["id"],
            "invitation_id": invitation.json()["id"],
            "member_id": extra.get("/api/auth/me").json()["id"],
            "document": document,
        },
        tokens,
    )


def calls(world: World) -> list[Call]:
    w = world.ids
    ws = "/api/workspaces/{workspace_id}"
    wf = ws + "/workflows/{workflow_id}"
    run = wf + "/runs/{run_id}"
    task = run + "/tasks/{task_id}"
    document = {"document": w["document"]}
    renamed = {"document": {**w["document"], "name": "renamed"}}
    upload = {"file": ("b.csv", b"b\n2\n")}
    exported = json.dumps({**w["document"], "name": "imported"}).encode()
    return [
        Call("GET", "/api/health/live", "anonymous", 200),
        Call("GET", "/api/health/ready", "anonymous", 503),  # no Airflow in this world
        Call("POST", "/api/auth/register", "anonymous", 422, body={}),
        Call("POST", "/api/auth/login", "anonymous", 422, data={}),
        Call("POST", "/api/auth/refresh", "anonymous", 401, body={"refresh_token": "x"}),
        Call("GET", "/api/auth/me", "user", 200),
        Call("POST", "/api/auth/password", "user", 403, body=_password_change(), session_only=True),
        Call("GET", "/api/auth/sessions", "user", 200, session_only=True),
        Call("DELETE", "/api/auth/sessions/{session_id}", "user", 404, session_only=True),
        Call("GET", "/api/auth/tokens", "user", 200, session_only=True),
        Call("DELETE", "/api/auth/tokens/{token_id}", "user", 404, session_only=True),
        Call("GET", "/api/admin/audit", "platform-admin", 200),
        Call("GET", "/api/admin/users", "platform-admin", 200),
        Call("GET", "/api/auth/providers", "anonymous", 200),
        # No provider is set here: both send the browser back to the sign-in page, saying so.
        Call("GET", "/api/auth/oidc/start", "anonymous", 303),
        Call("GET", "/api/auth/oidc/callback", "anonymous", 303),
        Call("GET", "/api/workspaces", "user", 200),
        Call("GET", "/api/invitations", "user", 200),
        Call("GET", ws, "read", 200),
        Call("GET", ws + "/members", "read", 200),
        Call("GET", ws + "/limits", "read", 200),
        Call("GET", ws + "/invitations", "admin", 200),
        Call("GET", ws + "/repositories", "read", 200),
        Call("GET", ws + "/repositories/{repository_id}", "read", 200),
        Call("GET", ws + "/operators", "read", 200),
        Call("GET", ws + "/operators/{operator_id}", "read", 200),
        Call("GET", ws + "/secrets", "read", 200),
        Call("GET", ws + "/datasets", "read", 200),
        Call("GET", ws + "/datasets/{dataset_id}", "read", 200),
        Call("GET", ws + "/datasets/{dataset_id}/download", "read", 200),
        # No bucket in this world: the writer gets the 409 that names FLOWUI_STORAGE_BUCKET.
        Call("POST", ws + "/datasets/{dataset_id}/sync", "write", 409, body={"direction": "push"}),
        Call("GET", ws + "/workflows", "read", 200),
        Call("POST", ws + "/workflows/validate", "read", 200, body=document),
        Call("GET", wf, "read", 200),
        Call("GET", wf + "/versions", "read", 200),
        Call("GET", wf + "/versions/{number}", "read", 200),
        Call("GET", wf + "/diff", "read", 200),
        Call("GET", wf + "/export", "read", 200),
        Call("GET", wf + "/runs", "read", 503),  # runs live in Airflow, absent here
        Call("GET", run, "read", 503),
        Call("GET", task + "/log", "read", 503),
        Call("GET", task + "/output", "read", 404),  # the task produced none
        Call("GET", task + "/results", "read", 200),
        Call("GET", task + "/results/{path}", "read", 404),
        # Changes, in an order that leaves what later calls need.
        Call("POST", "/api/workspaces", "user", 201, body={"name": "another"}, changes=True),
        Call("PATCH", ws, "admin", 200, body={"name": "renamed"}, changes=True),
        # Platform administrators only: the owner is one here.
        Call("PUT", ws + "/limits", "owner", 200, body={"task_cpus": 64}, changes=True),
        Call("POST", ws + "/invitations", "admin", 201, body=_invite(), changes=True),
        Call("POST", "/api/invitations/{invitation_id}/accept", "user", 404, changes=True),
        Call(
            "PATCH",
            ws + "/members/{user_id}",
            "admin",
            200,
            body={"role": "read"},
            changes=True,
        ),
        Call("POST", ws + "/workflows", "write", 201, body=renamed, changes=True),
        Call("PUT", wf, "write", 200, body=document, changes=True),
        Call(
            "POST",
            ws + "/workflows/import",
            "write",
            201,
            files={"file": ("w.json", exported)},
            changes=True,
        ),
        Call("POST", wf + "/deploy", "write", 200, changes=True),
        Call("POST", wf + "/pause", "write", 200, changes=True),  # Airflow learns it at deploy
        Call("POST", wf + "/resume", "write", 200, changes=True),
        Call("POST", wf + "/runs", "write", 503, body={"parameters": {}}, changes=True),
        Call("POST", run + "/cancel", "write", 503, changes=True),
        Call("POST", task + "/retry", "write", 503, changes=True),
        Call(
            "PUT", ws + "/secrets/{repository}/{name}", "admin", 200, body=_secret(), changes=True
        ),
        Call("DELETE", ws + "/secrets/{repository}/{name}", "admin", 204, changes=True),
        Call(
            "POST",
            ws + "/datasets",
            "write",
            201,
            data={"name": "more"},
            files=upload,
            changes=True,
        ),
        Call("DELETE", ws + "/datasets/{dataset_id}", "write", 204, changes=True),
        Call("POST", ws + "/repositories", "admin", 422, body={"source": "-x"}, changes=True),
        # From a server path: for platform administrators only (the owner here); 409 as the
        # directory holds the same VERSION again.
        Call(
            "POST",
            ws + "/repositories/{repository_id}/upgrade",
            "owner",
            409,
            body={},
            changes=True,
        ),
        Call("DELETE", wf, "write", 204, changes=True),
        Call("DELETE", ws + "/repositories/{repository_id}", "admin", 409, changes=True),
        Call("DELETE", ws + "/members/{user_id}", "admin", 204, changes=True),
        Call("DELETE", ws, "owner", 204, changes=True),
        Call(
            "POST",
            "/api/auth/tokens",
            "user",
            201,
            body={"name": "more", "expires_in_days": 1},
            changes=True,
            session_only=True,
        ),
        Call(
            "PATCH",
            "/api/admin/users/{user_id}",
            "platform-admin",
            200,
            body={"disabled": False},
            changes=True,
        ),
        # Last: it ends the session of the persona that makes it.
        Call("POST", "/api/auth/logout", "user", 204, changes=True, session_only=True),
    ]


def _password_change() -> dict[str, str]:
    return {"current_password": "wrong password", "new_password": "a new password"}


def _invite() -> dict[str, str]:
    return {"email": "newcomer@example.org", "role": "read"}


def _secret() -> dict[str, str]:
    return {"value": "another value"}


def url_of(call: Call, world: World) -> str:
    values = {
        **world.ids,
        "run_id": urllib.parse.quote(RUN_ID, safe=""),
        "task_id": "greet",
        "path": "report.html",
        "number": 1,
        "repository": "demo",
        "name": "API_TOKEN",
        "user_id": world.ids["member_id"],
        "session_id": 987654,  # no one's: each user reaches their own only
        "token_id": 987654,
    }
    url = call.route.format(**values)
    return url + "?from=1&to=1" if url.endswith("/diff") else url


def send(world: World, persona: str, call: Call, credential: str) -> int:
    if persona == "anonymous":
        headers = {}
    elif credential == "token":
        headers = {"Authorization": f"Bearer {world.tokens[persona]}"}
    else:
        headers = world.users[persona].headers
    response = world.client.request(
        call.method,
        url_of(call, world),
        headers=headers,
        json=call.body,
        data=call.data,
        files=call.files,
        follow_redirects=False,
    )
    return response.status_code


def expected(persona: str, call: Call, credential: str) -> int:
    if call.least == "anonymous":
        return call.allowed
    if persona == "anonymous":
        return 401
    if credential == "token" and call.session_only:
        return 403
    if call.least == "platform-admin":
        return call.allowed if persona == "owner" else 403
    if call.least == "user":
        return call.allowed
    if persona == "outsider":
        return 404
    return call.allowed if ROLE_RANK[persona] >= ROLE_RANK[call.least] else 403


def test_the_table_names_every_route_of_the_api(world: World) -> None:
    routes = {
        (method, route.path)
        for route in create_app_routes()
        for method in route.methods
        if route.path.startswith("/api/") and not route.path.startswith("/api/internal/")
    }
    table = {(call.method, call.route.replace("{path}", "{path:path}")) for call in calls(world)}
    assert routes - table == set(), "routes missing from the authorization table"
    assert table - routes == set(), "table rows that are no route"


def create_app_routes() -> list[APIRoute]:
    from flowui.server.app import _application

    return [route for route in _application().routes if isinstance(route, APIRoute)]


@pytest.mark.parametrize("credential", ["session", "token"])
def test_every_route_answers_each_persona_as_its_role_allows(world: World, credential: str) -> None:
    mismatches = []
    table = calls(world)
    for call in [c for c in table if not c.changes]:
        for persona in PERSONAS:
            got, want = send(world, persona, call, credential), expected(persona, call, credential)
            if got != want:
                mismatches.append(f"{call.method} {call.route} as {persona}: {got}, not {want}")
    for call in [c for c in table if c.changes]:
        allowed = [p for p in PERSONAS if expected(p, call, credential) == call.allowed]
        for persona in [p for p in PERSONAS if p not in allowed] + allowed[:1]:
            got, want = send(world, persona, call, credential), expected(persona, call, credential)
            if got != want:
                mismatches.append(f"{call.method} {call.route} as {persona}: {got}, not {want}")
    assert not mismatches, "\n".join(mismatches)
