"""Sessions, failed sign-ins and personal access tokens, as a user of the API meets them: a
session's tokens stop when it ends; guessing passwords is slowed per account and per address;
a token acts as its user at most, narrowed to workspaces and to reading, and stops when revoked,
expired or when its user leaves a workspace."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import AccessToken, SignInFailure, utc_now
from flowui.server.services.access import AccessPolicy
from tests.support.server_api import ApiUser, join, new_workspace, sign_up


def error_of(response: Any) -> dict[str, Any]:
    return response.json()["error"]  # type: ignore[no-any-return]


def sign_in(api: TestClient, user: ApiUser, agent: str = "testclient") -> ApiUser:
    """Another session of `user`."""
    answer = api.post(
        "/api/auth/login",
        data={"username": user.email, "password": user.password},
        headers={"User-Agent": agent},
    )
    assert answer.status_code == 200, answer.text
    return dataclasses.replace(user, token=answer.json()["access_token"])


def with_token(user: ApiUser, token: str) -> ApiUser:
    return dataclasses.replace(user, token=token)


# --- sessions ---------------------------------------------------------------------------------


def test_a_users_sessions_are_listed_and_an_ended_one_stops_at_once(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")
    laptop = sign_in(api, ada, "Firefox on the laptop")

    listed = ada.get("/api/auth/sessions").json()
    agents = {each["user_agent"]: each for each in listed}
    assert set(agents) >= {"Firefox on the laptop", "testclient"}
    assert [each["current"] for each in listed].count(True) == 1
    assert agents["Firefox on the laptop"]["current"] is False

    ended = ada.delete(f"/api/auth/sessions/{agents['Firefox on the laptop']['id']}")
    assert ended.status_code == 204
    assert laptop.get("/api/auth/me").status_code == 401
    assert ada.get("/api/auth/me").status_code == 200

    assert ada.post("/api/auth/logout").status_code == 204
    assert ada.get("/api/auth/me").status_code == 401


def test_a_refresh_token_of_an_ended_session_gives_nothing(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")
    tokens = api.post(
        "/api/auth/login", data={"username": ada.email, "password": ada.password}
    ).json()
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # The refreshed access token is of the same session: signing out ends both.
    again = with_token(ada, refreshed.json()["access_token"])
    assert again.post("/api/auth/logout").status_code == 204

    stale = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert stale.status_code == 401
    assert with_token(ada, tokens["access_token"]).get("/api/auth/me").status_code == 401


def test_someone_elses_session_cannot_be_ended(api: TestClient) -> None:
    ada, bob = sign_up(api, "ada@example.org"), sign_up(api, "bob@example.org")
    [bobs] = bob.get("/api/auth/sessions").json()

    assert ada.delete(f"/api/auth/sessions/{bobs['id']}").status_code == 404
    assert bob.get("/api/auth/me").status_code == 200


# --- failed sign-ins --------------------------------------------------------------------------


@pytest.fixture
def strict_api(server_context: ServerContext) -> Iterator[TestClient]:
    """A server that allows 3 failures per account and 5 per address in 15 minutes."""
    policy = AccessPolicy(account_failures=3, address_failures=5, window=timedelta(minutes=15))
    with TestClient(create_app(dataclasses.replace(server_context, access=policy))) as client:
        yield client


def test_an_account_that_failed_too_often_waits_even_with_the_right_password(
    strict_api: TestClient, server_context: ServerContext
) -> None:
    ada = sign_up(strict_api, "ada@example.org")
    for _ in range(3):
        wrong = strict_api.post(
            "/api/auth/login", data={"username": ada.email, "password": "a wrong guess"}
        )
        assert wrong.status_code == 401

    locked = strict_api.post(
        "/api/auth/login", data={"username": ada.email, "password": ada.password}
    )
    assert locked.status_code == 429
    assert error_of(locked)["message"] == (
        "too many failed sign-ins for this account: try again in 15 minutes"
    )
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60

    # Once the failures are older than the window, the right password works again.
    with server_context.sessions() as session:
        session.execute(update(SignInFailure).values(at=utc_now() - timedelta(minutes=16)))
        session.commit()
    assert sign_in(strict_api, ada).get("/api/auth/me").status_code == 200


def test_an_address_that_failed_too_often_waits_whichever_account_it_tries(
    strict_api: TestClient,
) -> None:
    ada = sign_up(strict_api, "ada@example.org")
    for number in range(5):  # two failures per account: no account reaches its limit
        guess = {"username": f"user{number // 2}@example.org", "password": "a wrong guess"}
        assert strict_api.post("/api/auth/login", data=guess).status_code == 401

    locked = strict_api.post(
        "/api/auth/login", data={"username": ada.email, "password": ada.password}
    )
    assert locked.status_code == 429
    assert error_of(locked)["message"].startswith("too many failed sign-ins for your address")


# --- personal access tokens -------------------------------------------------------------------


def create_token(user: ApiUser, **body: Any) -> dict[str, Any]:
    answer = user.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 30} | body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_token_is_shown_once_acts_as_its_user_and_stops_when_revoked(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")
    workspace = new_workspace(ada)
    created = create_token(ada, name="nightly export")
    token = created["token"]
    assert token.startswith("flowui_pat_") and token.startswith(created["shown_prefix"])

    [listed] = ada.get("/api/auth/tokens").json()
    assert "token" not in listed and token not in str(listed)
    assert listed["last_used_at"] is None
    script = with_token(ada, token)
    assert [w["id"] for w in script.get("/api/workspaces").json()] == [workspace]
    made = script.post(f"/api/workspaces/{workspace}/workflows/validate", json={"document": {}})
    assert made.status_code == 200
    [listed] = ada.get("/api/auth/tokens").json()
    assert listed["last_used_at"] is not None

    assert ada.delete(f"/api/auth/tokens/{created['id']}").status_code == 204
    refused = script.get("/api/workspaces")
    assert refused.status_code == 401
    assert ada.get("/api/auth/tokens").json() == []


def test_a_token_narrowed_to_a_workspace_and_to_reading_reaches_no_more(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")
    mine, other = new_workspace(ada, "mine"), new_workspace(ada, "other")
    reader = with_token(ada, create_token(ada, workspace_ids=[mine], read_only=True)["token"])
    writer = with_token(ada, create_token(ada, name="w", workspace_ids=[mine])["token"])

    assert [w["id"] for w in reader.get("/api/workspaces").json()] == [mine]
    assert reader.get(f"/api/workspaces/{mine}").status_code == 200
    assert reader.get(f"/api/workspaces/{other}").status_code == 404
    renamed = reader.patch(f"/api/workspaces/{mine}", json={"name": "renamed"})
    assert renamed.status_code == 403
    assert error_of(renamed)["message"] == "the access token 'ci' is read-only"
    # A narrowed writer changes its workspace, and nothing outside it.
    assert writer.patch(f"/api/workspaces/{mine}", json={"name": "renamed"}).status_code == 200
    assert writer.patch(f"/api/workspaces/{other}", json={"name": "x"}).status_code == 404
    outside = writer.post("/api/workspaces", json={"name": "new"})
    assert outside.status_code == 403
    assert "narrowed to workspaces" in error_of(outside)["message"]


def test_a_token_loses_a_workspace_with_its_user(api: TestClient) -> None:
    owner, bob = sign_up(api, "owner@example.org"), sign_up(api, "bob@example.org")
    workspace = new_workspace(owner)
    join(owner, workspace, bob, "write")
    script = with_token(bob, create_token(bob)["token"])
    assert script.get(f"/api/workspaces/{workspace}").status_code == 200

    members = owner.get(f"/api/workspaces/{workspace}/members").json()
    [bobs] = [m for m in members if m["email"] == bob.email]
    assert owner.delete(f"/api/workspaces/{workspace}/members/{bobs['user_id']}").status_code == 204

    assert script.get(f"/api/workspaces/{workspace}").status_code == 404


def test_an_expired_token_is_refused(api: TestClient, server_context: ServerContext) -> None:
    ada = sign_up(api, "ada@example.org")
    created = create_token(ada)
    with server_context.sessions() as session:
        session.execute(
            update(AccessToken)
            .where(AccessToken.id == created["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
        session.commit()

    assert with_token(ada, created["token"]).get("/api/auth/me").status_code == 401


def test_a_token_cannot_manage_tokens_sessions_or_the_password(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")
    script = with_token(ada, create_token(ada)["token"])

    answers = [
        script.post("/api/auth/tokens", json={"name": "more", "expires_in_days": 1}),
        script.get("/api/auth/tokens"),
        script.get("/api/auth/sessions"),
        script.post(
            "/api/auth/password",
            json={"current_password": ada.password, "new_password": "another password"},
        ),
    ]
    assert [answer.status_code for answer in answers] == [403, 403, 403, 403]
    assert "sign in with your password" in error_of(answers[0])["message"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"expires_in_days": 5000}, "/body/expires_in_days"),
        ({"expires_in_days": 400}, "/body/expires_in_days"),  # over the platform's 365
        ({"workspace_ids": [987654]}, "/body/workspace_ids/0"),
        ({"name": ""}, "/body/name"),
    ],
)
def test_a_token_asked_beyond_what_is_allowed_is_refused_at_the_field(
    api: TestClient, body: dict[str, Any], where: str
) -> None:
    ada = sign_up(api, "ada@example.org")
    answer = ada.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 30} | body)

    assert answer.status_code == 422
    assert [detail["where"] for detail in error_of(answer)["details"]] == [where]
    assert ada.get("/api/auth/tokens").json() == []
