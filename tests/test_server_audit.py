"""The audit trail as a platform administrator reads it, on SQLite and PostgreSQL: every change
with who, what, where and from which client, newest first, never a secret's value; filters and
pages; no way to change or remove an event; the retention the server keeps."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import AuditEvent, utc_now
from flowui.server.services.access import AccessPolicy
from tests.support.server_api import (
    ApiUser,
    join,
    make_platform_admin,
    new_workspace,
    sign_up,
    upload_dataset,
)
from tests.support.workflows_api import document, import_repository, task

AUDIT = "/api/admin/audit"
USER_AGENT = "audit-tests/1.0 (FlowUI)"
TEST_CLIENT_ADDRESS = "testclient"  # what Starlette's TestClient gives as the client's host


@pytest.fixture
def admin(api: TestClient, server_context: ServerContext) -> ApiUser:
    user = sign_up(api, "admin@example.org")
    make_platform_admin(server_context, user)
    return user


@pytest.fixture
def owner(api: TestClient) -> ApiUser:
    return sign_up(api, "owner@example.org")


def trail(admin: ApiUser, **params: Any) -> list[dict[str, Any]]:
    answer = admin.get(AUDIT, params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def changes(admin: ApiUser, **params: Any) -> list[dict[str, Any]]:
    """The trail without sign-ins and tokens (recorded by the accounts API)."""
    return [
        event
        for event in trail(admin, **params)
        if not event["action"].startswith(("auth.", "token."))
    ]


def set_secret(user: ApiUser, workspace: int, value: str, name: str = "API_TOKEN") -> None:
    answer = user.put(f"/api/workspaces/{workspace}/secrets/demo/{name}", json={"value": value})
    assert answer.status_code == 200, answer.text


def add_event(context: ServerContext, days_ago: float, target: str) -> None:
    """An event recorded `days_ago`, as the server would have recorded it then."""
    with context.sessions() as session:
        session.add(
            AuditEvent(
                at=utc_now() - timedelta(days=days_ago),
                actor="owner@example.org",
                action="workspace.update",
                target=target,
            )
        )
        session.commit()


def test_an_admin_sees_every_change_with_who_what_where_and_which_client_newest_first(
    api: TestClient,
    server_context: ServerContext,
    admin: ApiUser,
    owner: ApiUser,
    tmp_path: Path,
) -> None:
    api.headers["User-Agent"] = USER_AGENT
    secret_value = f"never-in-the-trail-{secrets.token_hex(8)}"
    bob = sign_up(api, "bob@example.org")
    bob_id = bob.get("/api/auth/me").json()["id"]
    lab = new_workspace(owner, "Lab")
    import_repository(server_context, lab, tmp_path / "repo")

    set_secret(owner, lab, secret_value)
    join(owner, lab, bob, "read")
    assert owner.patch(f"/api/workspaces/{lab}/members/{bob_id}", json={"role": "write"}).is_success
    workflows = f"/api/workspaces/{lab}/workflows"
    created = owner.post(workflows, json={"document": document()}).json()
    second = document("greetings", task(name={"value": "grace"}))
    assert owner.put(f"{workflows}/{created['id']}", json={"document": second}).is_success
    assert upload_dataset(owner, lab, b"region,amount\neast,3\n").status_code == 201

    seen = [
        (e["actor"], e["action"], e["workspace_id"], e["target"], e["detail"])
        for e in changes(admin)
    ]
    workflow = {"workflow_id": created["id"]}
    assert seen == [
        (
            "owner@example.org",
            "dataset.upload",
            lab,
            "sales",
            {"filename": "sales.csv", "size": 21},
        ),
        ("owner@example.org", "workflow.save", lab, "greetings", workflow | {"version": 2}),
        ("owner@example.org", "workflow.create", lab, "greetings", workflow | {"version": 1}),
        (
            "owner@example.org",
            "member.role",
            lab,
            "bob@example.org",
            {"old": "read", "new": "write"},
        ),
        ("bob@example.org", "member.join", lab, "bob@example.org", {"role": "read"}),
        ("owner@example.org", "member.invite", lab, "bob@example.org", {"role": "read"}),
        ("owner@example.org", "secret.set", lab, "demo/API_TOKEN", {}),
        ("owner@example.org", "workspace.create", lab, "Lab", {}),
    ]
    for event in changes(admin):
        assert event["address"] == TEST_CLIENT_ADDRESS
        assert event["user_agent"] == USER_AGENT
        assert event["token_name"] is None
    ids = [event["id"] for event in trail(admin)]
    assert ids == sorted(ids, reverse=True)
    assert secret_value not in admin.get(AUDIT, params={"limit": 500}).text


def test_only_platform_administrators_read_the_trail(
    api: TestClient, admin: ApiUser, owner: ApiUser
) -> None:
    new_workspace(owner)

    assert owner.get(AUDIT).status_code == 403
    assert api.get(AUDIT).status_code == 401
    assert admin.get(AUDIT).status_code == 200


def test_a_refused_change_leaves_no_event(admin: ApiUser, owner: ApiUser) -> None:
    lab = new_workspace(owner)
    invite = {"email": "bob@example.org", "role": "read"}
    assert owner.post(f"/api/workspaces/{lab}/invitations", json=invite).status_code == 201

    again = owner.post(f"/api/workspaces/{lab}/invitations", json=invite)
    unset = owner.delete(f"/api/workspaces/{lab}/secrets/demo/NEVER_SET")

    assert again.status_code == 409 and unset.status_code == 404
    assert [event["action"] for event in changes(admin)] == ["member.invite", "workspace.create"]


def test_filters_and_pages_narrow_the_trail(
    server_context: ServerContext, admin: ApiUser, owner: ApiUser
) -> None:
    lab, other = new_workspace(owner, "Lab"), new_workspace(owner, "Other")
    set_secret(owner, lab, "one")
    set_secret(owner, other, "two")
    assert owner.delete(f"/api/workspaces/{other}/secrets/demo/API_TOKEN").status_code == 204
    set_secret(admin, new_workspace(admin, "Admins"), "three")
    add_event(server_context, days_ago=10, target="ten days ago")
    a_day_ago = (utc_now() - timedelta(days=1)).isoformat()

    def actions(**params: Any) -> list[tuple[str, str]]:
        return [(e["action"], e["target"]) for e in changes(admin, **params)]

    assert actions(action="secret") == [
        ("secret.set", "demo/API_TOKEN"),
        ("secret.delete", "demo/API_TOKEN"),
        ("secret.set", "demo/API_TOKEN"),
        ("secret.set", "demo/API_TOKEN"),
    ]
    assert actions(action="secret.delete") == [("secret.delete", "demo/API_TOKEN")]
    assert actions(action="secre") == []  # a prefix is whole words of the action
    assert actions(workspace_id=other) == [
        ("secret.delete", "demo/API_TOKEN"),
        ("secret.set", "demo/API_TOKEN"),
        ("workspace.create", "Other"),
    ]
    assert actions(actor="ADMIN@example.org") == [
        ("secret.set", "demo/API_TOKEN"),
        ("workspace.create", "Admins"),
    ]
    assert actions(until=a_day_ago) == [("workspace.update", "ten days ago")]
    assert ("workspace.update", "ten days ago") not in actions(since=a_day_ago)
    assert len(actions(since=a_day_ago)) == len(actions()) - 1

    everything = [event["id"] for event in trail(admin)]
    paged: list[int] = []
    before_id = None
    while True:
        params = {"limit": 3} | ({"before_id": before_id} if before_id else {})
        page = admin.get(AUDIT, params=params).json()
        paged += [event["id"] for event in page["events"]]
        before_id = page["next_before_id"]
        if before_id is None:
            break
    assert paged == everything and len(everything) > 3


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_route_changes_or_removes_events(
    api: TestClient, admin: ApiUser, owner: ApiUser, method: str
) -> None:
    new_workspace(owner)
    before = trail(admin)

    answer = api.request(method, AUDIT, headers=admin.headers, json={"events": []})

    assert answer.status_code == 405
    assert trail(admin) == before


def test_a_change_made_with_an_access_token_names_the_token(admin: ApiUser, owner: ApiUser) -> None:
    lab = new_workspace(owner)
    created = owner.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 1})
    assert created.status_code == 201, created.text
    ci = dataclasses.replace(owner, token=created.json()["token"])

    set_secret(ci, lab, "from a script")

    [by_token, by_session] = changes(admin)
    assert (by_token["action"], by_token["actor"], by_token["token_name"]) == (
        "secret.set",
        "owner@example.org",
        "ci",
    )
    assert (by_session["action"], by_session["token_name"]) == ("workspace.create", None)


def test_the_server_removes_events_older_than_the_retention_and_keeps_recent_ones(
    server_context: ServerContext, admin: ApiUser
) -> None:
    add_event(server_context, days_ago=31, target="past the retention")
    add_event(server_context, days_ago=29, target="within the retention")
    thirty_days = dataclasses.replace(server_context, access=AccessPolicy(audit_retention_days=30))

    with TestClient(create_app(thirty_days)) as restarted:
        targets = [e["target"] for e in changes(dataclasses.replace(admin, client=restarted))]

    assert targets == ["within the retention"]
