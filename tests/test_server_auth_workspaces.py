"""The API's accounts, sign-in and workspaces, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import User
from tests.support.server_api import error_of, sign_up


def test_register_login_and_me(api: TestClient) -> None:
    ada = sign_up(api, "Ada@Example.org")

    me = ada.get("/api/auth/me")

    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.org"
    assert "password" not in me.text and "hash" not in me.text


def test_passwords_are_stored_as_argon2_hashes(
    api: TestClient, server_context: ServerContext
) -> None:
    sign_up(api, "ada@example.org", "correct horse battery")

    with server_context.sessions() as session:
        user = session.query(User).one()
    assert user.password_hash.startswith("$argon2")
    assert "correct horse battery" not in user.password_hash


def test_a_taken_email_is_a_conflict(api: TestClient) -> None:
    sign_up(api, "ada@example.org")

    again = api.post(
        "/api/auth/register", json={"email": "ADA@example.org", "password": "another password"}
    )

    assert again.status_code == 409
    assert "ada@example.org already exists" in error_of(again)["message"]


def test_bad_registration_says_what_and_where(api: TestClient) -> None:
    response = api.post("/api/auth/register", json={"email": "not-an-email", "password": "short"})

    assert response.status_code == 422
    where = {detail["where"] for detail in error_of(response)["details"]}
    assert where == {"/body/email", "/body/password"}


def test_wrong_password_and_missing_token_are_401(api: TestClient) -> None:
    sign_up(api, "ada@example.org")

    wrong = api.post("/api/auth/login", data={"username": "ada@example.org", "password": "nope"})
    anonymous = api.get("/api/auth/me")
    forged = api.get("/api/auth/me", headers={"Authorization": "Bearer not.a.token"})

    assert [wrong.status_code, anonymous.status_code, forged.status_code] == [401, 401, 401]
    assert error_of(wrong)["message"] == "wrong e-mail or password"
    assert anonymous.headers["www-authenticate"] == "Bearer"


def test_refresh_gives_new_tokens_and_a_password_change_ends_the_other_sessions(
    api: TestClient,
) -> None:
    ada = sign_up(api, "ada@example.org", "first password")
    tokens = api.post(
        "/api/auth/login", data={"username": ada.email, "password": "first password"}
    ).json()

    refreshed = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert api.get("/api/auth/me", headers=ada.headers).status_code == 200

    changed = ada.post(
        "/api/auth/password",
        json={"current_password": "first password", "new_password": "second password"},
    )

    assert changed.status_code == 204
    # The session that changed it goes on; the other one (both its tokens) ends.
    assert api.get("/api/auth/me", headers=ada.headers).status_code == 200
    other = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.get("/api/auth/me", headers=other).status_code == 401
    stale = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert stale.status_code == 401
    old = api.post("/api/auth/login", data={"username": ada.email, "password": "first password"})
    assert old.status_code == 401
    relogin = api.post(
        "/api/auth/login", data={"username": ada.email, "password": "second password"}
    )
    assert relogin.status_code == 200


def test_an_access_token_is_not_a_refresh_token(api: TestClient) -> None:
    ada = sign_up(api, "ada@example.org")

    response = api.post("/api/auth/refresh", json={"refresh_token": ada.token})

    assert response.status_code == 401


def test_registration_can_be_switched_off(server_context: ServerContext) -> None:
    from dataclasses import replace

    from flowui.server.app import create_app

    closed = replace(server_context, allow_registration=False)
    with TestClient(create_app(closed)) as client:
        response = client.post(
            "/api/auth/register", json={"email": "eve@example.org", "password": "long enough"}
        )
    assert response.status_code == 403
    assert "sign-up is switched off" in error_of(response)["message"]


def test_the_key_file_is_created_private_and_reused(server_context: ServerContext) -> None:
    key_file = server_context.root.secret_key_file
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    again = ServerContext.open(server_context.root, database=None)
    try:
        assert again.keys.signing_key == server_context.keys.signing_key
    finally:
        again.close()


def test_workspace_lifecycle_with_members_and_roles(api: TestClient) -> None:
    owner = sign_up(api, "owner@example.org")
    bob = sign_up(api, "bob@example.org")

    created = owner.post("/api/workspaces", json={"name": "Data team"})
    assert created.status_code == 201
    workspace = created.json()
    assert workspace["role"] == "owner"
    wid = workspace["id"]

    invited = owner.post(f"/api/workspaces/{wid}/invitations", json={"email": bob.email})
    assert invited.status_code == 201
    assert [i["workspace_name"] for i in bob.get("/api/invitations").json()] == ["Data team"]
    assert bob.get(f"/api/workspaces/{wid}").status_code == 404  # not a member yet

    accepted = bob.post(f"/api/invitations/{invited.json()['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["role"] == "read"
    assert [w["name"] for w in bob.get("/api/workspaces").json()] == ["Data team"]

    assert bob.patch(f"/api/workspaces/{wid}", json={"name": "Mine"}).status_code == 403
    promoted = owner.patch(f"/api/workspaces/{wid}/members/{bob_id(bob)}", json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert bob.patch(f"/api/workspaces/{wid}", json={"name": "Renamed"}).status_code == 200
    members = owner.get(f"/api/workspaces/{wid}/members").json()
    assert {m["email"]: m["role"] for m in members} == {
        "bob@example.org": "admin",
        "owner@example.org": "owner",
    }

    assert bob.delete(f"/api/workspaces/{wid}").status_code == 403
    assert owner.delete(f"/api/workspaces/{wid}").status_code == 204
    assert bob.get("/api/workspaces").json() == []


def bob_id(user) -> int:  # type: ignore[no-untyped-def]
    return int(user.get("/api/auth/me").json()["id"])


def test_only_an_owner_makes_owners_and_the_last_owner_stays(api: TestClient) -> None:
    owner = sign_up(api, "owner@example.org")
    admin = sign_up(api, "admin@example.org")
    wid = owner.post("/api/workspaces", json={"name": "w"}).json()["id"]
    invitation = owner.post(
        f"/api/workspaces/{wid}/invitations", json={"email": admin.email, "role": "admin"}
    ).json()
    admin.post(f"/api/invitations/{invitation['id']}/accept")
    owner_id = bob_id(owner)

    by_admin = admin.post(
        f"/api/workspaces/{wid}/invitations", json={"email": "x@example.org", "role": "owner"}
    )
    demote_owner = admin.patch(f"/api/workspaces/{wid}/members/{owner_id}", json={"role": "read"})
    last_owner_leaves = owner.delete(f"/api/workspaces/{wid}/members/{owner_id}")

    assert by_admin.status_code == 403
    assert demote_owner.status_code == 403
    assert last_owner_leaves.status_code == 409
    assert "needs an owner" in error_of(last_owner_leaves)["message"]


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_a_workspace_name_must_be_1_to_200_characters(api: TestClient, name: str) -> None:
    owner = sign_up(api, "owner@example.org")

    response = owner.post("/api/workspaces", json={"name": name})

    assert response.status_code == 422
    assert error_of(response)["details"][0]["where"] == "/body/name"


def test_hostile_text_is_stored_as_data(api: TestClient) -> None:
    owner = sign_up(api, "owner@example.org")
    hostile = "'; DROP TABLE users; --\n../../etc/passwd <script>alert(1)</script>"

    created = owner.post("/api/workspaces", json={"name": hostile})

    assert created.status_code == 201
    assert owner.get(f"/api/workspaces/{created.json()['id']}").json()["name"] == hostile
    assert owner.get("/api/auth/me").status_code == 200


def test_text_the_database_cannot_store_is_a_422_not_a_500(
    api: TestClient, database: str | None
) -> None:
    owner = sign_up(api, "owner@example.org")
    wid = owner.post("/api/workspaces", json={"name": "w"}).json()["id"]

    renamed = owner.patch(f"/api/workspaces/{wid}", json={"name": "nul\x00inside"})
    searched = owner.get(f"/api/workspaces/{wid}/workflows", params={"search": "a\x00"})

    if database is None:  # SQLite stores a NUL character as data
        assert (renamed.status_code, searched.status_code) == (200, 200)
    else:  # PostgreSQL cannot store one
        assert (renamed.status_code, searched.status_code) == (422, 422)
        assert "NUL" in error_of(renamed)["message"]


def test_an_installation_without_the_built_gui_says_how_to_build_it(
    server_context: ServerContext, tmp_path: Path
) -> None:
    from flowui.server.app import create_app

    with TestClient(create_app(server_context, gui=tmp_path / "never-built")) as client:
        response = client.get("/")

    assert response.status_code == 503
    assert "make gui" in response.text
    assert response.headers["content-type"].startswith("text/html")


# --- a workspace's default runtime ---------------------------------------------------------------


def runtimes_of(workspace: dict[str, object]) -> tuple[object, object, object]:
    return (
        workspace["default_runtime"],
        workspace["effective_default_runtime"],
        workspace["platform_default_runtime"],
    )


def test_a_workspace_takes_the_platforms_default_runtime_until_an_admin_sets_its_own(
    server_context: ServerContext,
) -> None:
    from dataclasses import replace

    from flowui.server.app import create_app

    on_kubernetes = replace(server_context, default_runtime="kubernetes")
    with TestClient(create_app(on_kubernetes)) as client:
        owner = sign_up(client, "owner@example.org")
        created = owner.post("/api/workspaces", json={"name": "Data team"}).json()
        url = f"/api/workspaces/{created['id']}"

        assert runtimes_of(created) == (None, "kubernetes", "kubernetes")
        set_own = owner.patch(url, json={"default_runtime": "aws_batch"})
        assert set_own.status_code == 200, set_own.text
        assert runtimes_of(set_own.json()) == ("aws_batch", "aws_batch", "kubernetes")
        assert runtimes_of(owner.get(url).json()) == ("aws_batch", "aws_batch", "kubernetes")
        listed = owner.get("/api/workspaces").json()
        assert [runtimes_of(workspace) for workspace in listed] == [
            ("aws_batch", "aws_batch", "kubernetes")
        ]

        renamed = owner.patch(url, json={"name": "Renamed"}).json()  # the runtime stays
        assert (renamed["name"], renamed["default_runtime"]) == ("Renamed", "aws_batch")
        back = owner.patch(url, json={"default_runtime": None}).json()
        assert (back["name"], runtimes_of(back)) == ("Renamed", (None, "kubernetes", "kubernetes"))


def test_an_unknown_default_runtime_is_refused_with_its_pointer(api: TestClient) -> None:
    owner = sign_up(api, "owner@example.org")
    url = f"/api/workspaces/{owner.post('/api/workspaces', json={'name': 'w'}).json()['id']}"

    response = owner.patch(url, json={"default_runtime": "dockr"})
    no_name = owner.patch(url, json={"name": None})

    assert response.status_code == 422
    [detail] = error_of(response)["details"]
    assert detail["where"] == "/body/default_runtime"
    assert "'process', 'docker', 'kubernetes' or 'aws_batch'" in detail["message"]
    assert no_name.status_code == 422
    assert error_of(no_name)["details"][0]["where"] == "/body/name"
    assert owner.get(url).json()["default_runtime"] is None


def test_only_admins_change_the_default_runtime(api: TestClient) -> None:
    owner = sign_up(api, "owner@example.org")
    wid = owner.post("/api/workspaces", json={"name": "w"}).json()["id"]
    url = f"/api/workspaces/{wid}"
    members = {}
    for role in ("read", "write", "admin"):
        member = sign_up(api, f"{role}@example.org")
        invitation = owner.post(
            f"{url}/invitations", json={"email": member.email, "role": role}
        ).json()
        assert member.post(f"/api/invitations/{invitation['id']}/accept").status_code == 200
        members[role] = member

    by_reader = members["read"].patch(url, json={"default_runtime": "docker"})
    by_writer = members["write"].patch(url, json={"default_runtime": "docker"})
    assert [by_reader.status_code, by_writer.status_code] == [403, 403]
    assert "this needs the role admin or higher" in error_of(by_reader)["message"]
    assert members["read"].get(url).json()["default_runtime"] is None  # readers still see it

    by_admin = members["admin"].patch(url, json={"default_runtime": "docker"})
    assert by_admin.status_code == 200, by_admin.text
    assert members["read"].get(url).json()["effective_default_runtime"] == "docker"


def test_migration_0002_adds_the_default_runtime_and_keeps_the_workspaces(
    tmp_path: Path, database: str | None
) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect, text

    from flowui.server.database import MIGRATIONS, create_database_engine, migrate
    from flowui.server.models import Base

    engine = create_database_engine(database or f"sqlite:///{tmp_path / 'server.db'}")
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:  # a database of the first release
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                text("INSERT INTO workspaces (name, created_at) VALUES ('kept', :now)"),
                {"now": "2026-11-24 10:00:00+00:00"},
            )

        migrate(engine)

        columns = {column["name"]: column for column in inspect(engine).get_columns("workspaces")}
        assert columns["default_runtime"]["nullable"] is True
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT name, default_runtime FROM workspaces")).all()
            assert [tuple(row) for row in rows] == [("kept", None)]
            # The migrated schema is the models' schema: nothing left for a new migration.
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("method", "route", "where"),
    [
        ("GET", "/api/workspaces/108928896102195732873745644167815495680", "/path/workspace_id"),
        ("GET", "/api/workspaces/2147483648", "/path/workspace_id"),  # past PostgreSQL's INTEGER
        (
            "DELETE",
            "/api/workspaces/{own}/repositories/18446744073709551616",
            "/path/repository_id",
        ),
        ("GET", "/api/workspaces/{own}/workflows/{huge}/versions/{huge}", "/path/workflow_id"),
        ("POST", "/api/invitations/{huge}/accept", "/path/invitation_id"),
    ],
)
def test_an_id_past_what_the_database_holds_is_a_422_saying_where(
    api: TestClient, method: str, route: str, where: str
) -> None:
    user = sign_up(api, "ada@example.org")
    own = user.post("/api/workspaces", json={"name": "mine"}).json()["id"]

    answer = user.client.request(method, route.format(own=own, huge=2**64), headers=user.headers)

    assert answer.status_code == 422, answer.text
    assert where in [detail["where"] for detail in error_of(answer)["details"]]


@pytest.mark.parametrize("route", ["login", "register", "refresh", "password"])
@pytest.mark.parametrize("gui", ["built", "not built"])
def test_a_get_of_a_post_only_route_is_405_naming_the_method_to_use(
    server_context: ServerContext, tmp_path: Path, route: str, gui: str
) -> None:
    built = tmp_path / "static"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>FlowUI</title>")
    with TestClient(create_app(server_context, gui=built if gui == "built" else None)) as api:
        answer = api.get(f"/api/auth/{route}")
        page = api.get("/w/1/editor")

    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert error_of(answer)["message"] == f"GET is not allowed on /api/auth/{route}: use POST"
    # The GUI's own routes are still its page, where it is built.
    assert page.status_code == (200 if gui == "built" else 404)
