"""The secrets API on SQLite and PostgreSQL: declared and set secrets, encryption at rest, no
value in any answer; and ServerSecrets fetching values for a task from a real uvicorn server."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from flowui.platform import HOST, free_port
from flowui.runtime.secrets import SecretsUnavailable, ServerSecrets
from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import Operator, Repository, RepositoryVersion
from flowui.server.security import SecretDecryptionError, ServerKeys
from tests.support.server_api import ApiUser, error_of, new_workspace, sign_up

SERVER_START_TIMEOUT = 10.0


def add_repository(
    context: ServerContext,
    workspace_id: int,
    name: str,
    versions: dict[str, dict[str, list[str]]],
) -> None:
    """Record an imported repository as the repositories API would: version -> operator ->
    the fields of its SecretsModel (only the database rows matter to secrets)."""
    repository = Repository(
        workspace_id=workspace_id, name=name, source="test", current_version=list(versions)[-1]
    )
    for version, operators in versions.items():
        row = RepositoryVersion(
            checkout_id=f"{name}-{version}",
            version=version,
            compiled_metadata={},
            dependencies_map={},
        )
        for operator, secret_names in operators.items():
            schema = {"type": "object", "properties": {n: {"type": "string"} for n in secret_names}}
            entry = {"name": operator, "secrets_schema": schema if secret_names else None}
            row.operators.append(Operator(workspace_id=workspace_id, name=operator, entry=entry))
        repository.versions.append(row)
    with context.sessions() as session:
        session.add(repository)
        session.commit()


def wheres(response: Response) -> list[str]:
    details = error_of(response)["details"]
    assert isinstance(details, list)
    return [detail["where"] for detail in details]


@pytest.fixture
def owner(api: TestClient) -> ApiUser:
    return sign_up(api, "owner@example.org")


@pytest.fixture
def workspace(owner: ApiUser, server_context: ServerContext) -> int:
    """A workspace with the repository "demo": 0.1.0 then 0.2.0, whose operators use secrets."""
    wid = new_workspace(owner)
    add_repository(
        server_context,
        wid,
        "demo",
        {
            "0.1.0": {"HelloOperator": ["API_TOKEN"], "OldOperator": ["LEGACY_KEY"]},
            "0.2.0": {
                "HelloOperator": ["API_TOKEN", "DB_PASSWORD"],
                "FetchOperator": ["API_TOKEN"],
                "PlainOperator": [],
            },
        },
    )
    return wid


def test_listing_shows_each_declared_secret_and_who_uses_it(owner: ApiUser, workspace: int) -> None:
    listed = owner.get(f"/api/workspaces/{workspace}/secrets")

    assert listed.status_code == 200
    assert listed.json() == [
        {
            "repository": "demo",
            "name": "API_TOKEN",
            "is_set": False,
            "updated_at": None,
            "used_by": ["FetchOperator", "HelloOperator"],
        },
        {
            "repository": "demo",
            "name": "DB_PASSWORD",
            "is_set": False,
            "updated_at": None,
            "used_by": ["HelloOperator"],
        },
        {
            "repository": "demo",
            "name": "LEGACY_KEY",
            "is_set": False,
            "updated_at": None,
            "used_by": ["OldOperator"],
        },
    ]


def test_setting_a_secret_answers_that_it_is_set_and_when(owner: ApiUser, workspace: int) -> None:
    value = "s3cr3t-" + secrets.token_hex(8)

    answer = owner.put(f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": value})

    assert answer.status_code == 200
    assert set(answer.json()) == {"repository", "name", "is_set", "updated_at"}
    assert answer.json()["is_set"] is True
    listed = {s["name"]: s for s in owner.get(f"/api/workspaces/{workspace}/secrets").json()}
    assert listed["API_TOKEN"]["is_set"] is True
    assert listed["API_TOKEN"]["updated_at"] == answer.json()["updated_at"]
    assert listed["DB_PASSWORD"]["is_set"] is False


def test_set_secrets_that_nothing_declares_are_listed_too(owner: ApiUser, workspace: int) -> None:
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/REMOVED_KEY", json={"value": "x"})
    owner.put(f"/api/workspaces/{workspace}/secrets/not_imported/TOKEN", json={"value": "y"})

    listed = owner.get(f"/api/workspaces/{workspace}/secrets").json()

    undeclared = [(s["repository"], s["name"], s["is_set"]) for s in listed if not s["used_by"]]
    assert undeclared == [("demo", "REMOVED_KEY", True), ("not_imported", "TOKEN", True)]


def test_no_route_ever_answers_a_value(api: TestClient, owner: ApiUser, workspace: int) -> None:
    first, second = (f"value-{secrets.token_hex(12)}" for _ in range(2))
    base = f"/api/workspaces/{workspace}/secrets"
    answers: list[Response] = [
        owner.put(f"{base}/demo/API_TOKEN", json={"value": first}),
        owner.get(base),
        owner.put(f"{base}/demo/API_TOKEN", json={"value": second}),
        owner.put(f"{base}/demo/DB_PASSWORD", json={"value": first + "x" * 70_000}),
        owner.put(f"{base}/demo/bad-name", json={"value": first}),
        owner.put(f"{base}/demo/API_TOKEN", json={"value": first, "extra": second}),
        owner.get(base),
        api.post(
            "/api/internal/secrets",
            json={"workspace_id": workspace, "repository": "demo", "names": ["API_TOKEN"]},
        ),
        api.post(
            "/api/internal/secrets",
            json={"workspace_id": workspace, "repository": "demo", "names": ["API_TOKEN"]},
            headers={"Authorization": f"Bearer {first}"},
        ),
    ]
    app = api.app
    assert isinstance(app, FastAPI)
    # The operators API tells which secrets an operator needs: once it exists, it is scanned too.
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/api/workspaces/{workspace_id}/operators" in paths:
        operators = owner.get(
            f"/api/workspaces/{workspace}/operators", params={"all_versions": True}
        )
        assert operators.status_code == 200, operators.text
        answers.append(operators)
        details = [
            owner.get(f"/api/workspaces/{workspace}/operators/{operator['id']}")
            for operator in operators.json()
        ]
        assert [detail.status_code for detail in details] == [200] * 5
        answers += details
    answers += [owner.delete(f"{base}/demo/API_TOKEN"), owner.get(base)]

    assert [a.status_code for a in answers[:8]] == [200, 200, 200, 422, 422, 200, 200, 404]
    for answer in answers:
        assert first not in answer.text and second not in answer.text, answer.request.url


def test_values_are_encrypted_at_rest_with_the_server_key(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    value = "postgres://admin:" + secrets.token_hex(8) + "@db"
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/DB_PASSWORD", json={"value": value})

    with server_context.engine.connect() as connection:
        stored = bytes(connection.execute(text("SELECT ciphertext FROM secrets")).scalar_one())

    assert value.encode() not in stored
    assert server_context.keys.decrypt(stored) == value
    with pytest.raises(SecretDecryptionError):
        ServerKeys.from_key(b"another server key").decrypt(stored)


def test_deleting_unsets_a_secret_and_an_unknown_one_is_404(owner: ApiUser, workspace: int) -> None:
    base = f"/api/workspaces/{workspace}/secrets"
    owner.put(f"{base}/demo/API_TOKEN", json={"value": "abc"})

    deleted = owner.delete(f"{base}/demo/API_TOKEN")
    again = owner.delete(f"{base}/demo/API_TOKEN")

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert error_of(again)["message"] == "secret demo/API_TOKEN not found"
    listed = {s["name"]: s["is_set"] for s in owner.get(base).json()}
    assert listed["API_TOKEN"] is False


BAD_SECRETS = [
    ("demo", "1ST_TOKEN", "v", {"/path/name"}),
    ("demo", "API-TOKEN", "v", {"/path/name"}),
    ("demo", "T" * 201, "v", {"/path/name"}),
    (".hidden", "TOKEN", "v", {"/path/repository"}),
    ("d" * 101, "TOKEN", "v", {"/path/repository"}),
    ("bad repo", "bad name", "v", {"/path/repository", "/path/name"}),
    ("demo", "TOKEN", "", {"/body/value"}),
    ("demo", "TOKEN", "é" * 40_000, {"/body/value"}),  # 80,000 bytes
]


def test_bad_secret_names_and_values_are_422_with_where(owner: ApiUser, workspace: int) -> None:
    for repository, name, value, where in BAD_SECRETS:
        answer = owner.put(
            f"/api/workspaces/{workspace}/secrets/{repository}/{name}", json={"value": value}
        )

        assert answer.status_code == 422, (repository, name)
        assert set(wheres(answer)) == where, (repository, name)
    listed = owner.get(f"/api/workspaces/{workspace}/secrets").json()
    assert not any(secret["is_set"] for secret in listed)


def test_a_value_of_64_kib_is_accepted(owner: ApiUser, workspace: int) -> None:
    answer = owner.put(
        f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": "k" * 65_536}
    )

    assert answer.status_code == 200


def test_reading_needs_membership_and_changing_needs_the_admin_role(
    api: TestClient, owner: ApiUser, workspace: int
) -> None:
    base = f"/api/workspaces/{workspace}/secrets"
    members = {}
    for role in ("admin", "write", "read"):
        user = sign_up(api, f"{role}@example.org")
        invitation = owner.post(
            f"/api/workspaces/{workspace}/invitations", json={"email": user.email, "role": role}
        ).json()
        assert user.post(f"/api/invitations/{invitation['id']}/accept").status_code == 200
        members[role] = user
    members["non-member"] = sign_up(api, "stranger@example.org")

    statuses = {
        who: (
            user.get(base).status_code,
            user.put(f"{base}/demo/API_TOKEN", json={"value": "v"}).status_code,
            user.delete(f"{base}/demo/API_TOKEN").status_code,
        )
        for who, user in {"owner": owner, **members}.items()
    }
    anonymous = (
        api.get(base).status_code,
        api.put(f"{base}/demo/API_TOKEN", json={"value": "v"}).status_code,
        api.delete(f"{base}/demo/API_TOKEN").status_code,
    )

    assert statuses == {
        "owner": (200, 200, 204),
        "admin": (200, 200, 204),
        "write": (200, 403, 403),
        "read": (200, 403, 403),
        "non-member": (404, 404, 404),
    }
    assert anonymous == (401, 401, 401)


def test_secrets_of_one_workspace_are_not_another_workspaces(
    owner: ApiUser, workspace: int
) -> None:
    other = new_workspace(owner, "Other team")
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": "v"})

    assert owner.get(f"/api/workspaces/{other}/secrets").json() == []
    assert owner.delete(f"/api/workspaces/{other}/secrets/demo/API_TOKEN").status_code == 404


# --- run-time delivery: ServerSecrets against a real server ---------------------------------------


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a free loopback port in a uvicorn server of its own thread; stopped after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, f"uvicorn did not start in {SERVER_START_TIMEOUT} s"
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_TIMEOUT)
        assert not thread.is_alive(), "uvicorn did not stop"


INTERNAL_TOKEN = "internal-" + secrets.token_hex(16)


@pytest.fixture
def platform_server(server_context: ServerContext) -> Iterator[str]:
    """The platform's server with its internal token, as Airflow's workers reach it."""
    context = dataclasses.replace(server_context, internal_token=INTERNAL_TOKEN)
    with serving(create_app(context)) as url:
        yield url


def test_a_task_gets_the_set_values_of_its_secrets_from_the_server(
    owner: ApiUser, workspace: int, platform_server: str
) -> None:
    value = 'token with spaces, quotes " and ünïcode ' + secrets.token_hex(4)
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": value})
    owner.put(f"/api/workspaces/{workspace}/secrets/other/API_TOKEN", json={"value": "other"})
    source = ServerSecrets(
        platform_server, INTERNAL_TOKEN, workspace_id=workspace, repository="demo"
    )

    values = source.values(["API_TOKEN", "DB_PASSWORD", "NEVER_DECLARED"])

    assert values == {"API_TOKEN": value}
    assert source.values([]) == {}


def test_a_wrong_internal_token_gets_no_values_and_the_error_shows_none(
    owner: ApiUser, workspace: int, platform_server: str
) -> None:
    value = secrets.token_hex(12)
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": value})
    wrong = "wrong-" + secrets.token_hex(8)
    source = ServerSecrets(platform_server, wrong, workspace_id=workspace, repository="demo")

    with pytest.raises(SecretsUnavailable) as raised:
        source.values(["API_TOKEN"])

    message = str(raised.value)
    assert "401" in message and "internal token" in message
    assert value not in message and wrong not in message and INTERNAL_TOKEN not in message


def test_the_internal_route_is_absent_when_the_server_has_no_internal_token(
    owner: ApiUser, workspace: int, server_context: ServerContext
) -> None:
    owner.put(f"/api/workspaces/{workspace}/secrets/demo/API_TOKEN", json={"value": "v"})
    with serving(create_app(server_context)) as url:
        source = ServerSecrets(url, "anything", workspace_id=workspace, repository="demo")
        with pytest.raises(SecretsUnavailable, match="answered 404"):
            source.values(["API_TOKEN"])


def test_the_internal_route_checks_what_it_is_asked(
    server_context: ServerContext, workspace: int
) -> None:
    context = dataclasses.replace(server_context, internal_token=INTERNAL_TOKEN)
    with TestClient(create_app(context)) as client:
        headers = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
        bad = client.post(
            "/api/internal/secrets",
            json={"workspace_id": workspace, "repository": "../x", "names": ["OK", "no-dash"]},
            headers=headers,
        )
        unknown_workspace = client.post(
            "/api/internal/secrets",
            json={"workspace_id": workspace + 1000, "repository": "demo", "names": ["OK"]},
            headers=headers,
        )

    assert bad.status_code == 422
    assert wheres(bad) == ["/body/repository", "/body/names/1"]
    assert unknown_workspace.status_code == 404


def test_a_server_that_does_not_answer_is_a_clear_error() -> None:
    closed_port = free_port()
    with pytest.raises(SecretsUnavailable, match="did not answer"):
        ServerSecrets(
            f"http://{HOST}:{closed_port}", "token", workspace_id=1, repository="demo"
        ).values(["API_TOKEN"])

    # Listening but never answering: the time limit ends the wait.
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen()
        url = f"http://{HOST}:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(SecretsUnavailable, match=r"no answer within 0\.5 s"):
            ServerSecrets(url, "token", workspace_id=1, repository="demo", timeout=0.5).values(
                ["API_TOKEN"]
            )
        assert time.monotonic() - started < 5


def test_server_secrets_accepts_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        ServerSecrets("file:///etc/passwd", "token", workspace_id=1, repository="demo")
