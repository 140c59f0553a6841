"""Single sign-on through an OpenID Connect provider, against a real one (panva's certified
oidc-provider, tests/support/oidc_provider): the code flow creates the user with the workspace
roles their groups map to and hands the GUI working tokens; a wrong state, and ID tokens that are
forged, expired, for another audience or of another sign-in (nonce) are refused; a disabled user
gets in neither by password nor through the provider, and their tokens stop; with passwords off
only the provider signs in."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from flowui.cli.server import single_sign_on
from flowui.config import ConfigError, load_settings
from flowui.server.app import create_app
from flowui.server.context import ServerContext
from flowui.server.models import AuditEvent, Membership, Role, User, Workspace
from flowui.server.services.oidc import OidcProvider, RoleGrant, SignInError, sign_in_user
from flowui.storage import FileSystemRoot
from tests.support.oidc_provider import RunningProvider, running_provider, sign_in_at_provider
from tests.support.server_api import ApiUser, make_platform_admin, sign_up

CALLBACK = "http://testserver/api/auth/oidc/callback"
ACCOUNTS = {
    "ada": {"email": "ada@example.com", "name": "Ada Lovelace", "groups": ["data-eng", "platform"]},
    "bob": {"email": "bob@example.com", "name": "Bob", "groups": ["marketing"]},
    "carol": {"email": "carol@example.com", "name": "Carol", "groups": ["data-eng"]},
    "dan": {"email": "dan@example.com", "name": "Dan", "groups": ["data-eng"]},
}
ROLE_MAP = (
    RoleGrant("data-eng", "Analytics", Role.WRITE),
    RoleGrant("platform", "Analytics", Role.OWNER),
    RoleGrant("platform", "Operations", Role.ADMIN),
)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    with running_provider(tmp_path_factory.mktemp("oidc"), CALLBACK, ACCOUNTS) as running:
        yield running


def _context(
    root: Path, database: str | None, provider: RunningProvider, *, password_login: bool = True
) -> ServerContext:
    oidc = OidcProvider(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        name="Acme ID",
        role_map=ROLE_MAP,
    )
    return ServerContext.open(
        FileSystemRoot(root), database=database, oidc=oidc, password_login=password_login
    )


@pytest.fixture
def sso_context(
    tmp_path: Path, database: str | None, provider: RunningProvider
) -> Iterator[ServerContext]:
    context = _context(tmp_path / "fs", database, provider)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def sso_api(sso_context: ServerContext) -> Iterator[TestClient]:
    with TestClient(create_app(sso_context)) as client:
        yield client


def come_back_from_provider(api: TestClient, provider: RunningProvider, login: str) -> str:
    """Start a sign-in in FlowUI, sign in at the provider as `login`; the callback URL the
    provider sends the browser back to (with its code and state)."""
    started = api.get("/api/auth/oidc/start", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(provider.issuer + "/auth?")
    return sign_in_at_provider(started.headers["location"], provider.issuer, login)


def single_sign_on_as(api: TestClient, provider: RunningProvider, login: str) -> str:
    """The whole journey; where FlowUI's callback sends the browser."""
    callback = come_back_from_provider(api, provider, login)
    finished = api.get(callback, follow_redirects=False)
    assert finished.status_code == 303, finished.text
    return str(finished.headers["location"])


def gui_tokens(landing: str) -> dict[str, str]:
    """What the GUI's /signed-in page reads from the fragment."""
    assert landing.startswith("/signed-in#"), landing
    return dict(parse_qsl(urlsplit(landing).fragment))


def signed_in(api: TestClient, landing: str, email: str) -> ApiUser:
    return ApiUser(api, email, "", gui_tokens(landing)["access_token"])


def refused_with(landing: str) -> str:
    assert landing.startswith("/sign-in?"), landing
    return parse_qs(urlsplit(landing).query)["error"][0]


# --- the code flow with the real provider -----------------------------------------------------


def test_first_sign_in_creates_the_user_with_the_mapped_roles_and_the_gui_tokens_work(
    sso_api: TestClient, sso_context: ServerContext, provider: RunningProvider
) -> None:
    landing = single_sign_on_as(sso_api, provider, "ada")
    ada = signed_in(sso_api, landing, "ada@example.com")
    tokens = gui_tokens(landing)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}

    me = ada.get("/api/auth/me").json()
    assert (me["email"], me["display_name"]) == ("ada@example.com", "Ada Lovelace")
    roles = {w["name"]: w["role"] for w in ada.get("/api/workspaces").json()}
    # platform=Analytics:owner is stronger than data-eng=Analytics:write.
    assert roles == {"Analytics": "owner", "Operations": "admin"}
    refreshed = sso_api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # A user of single sign-on has no password that signs in.
    for password in ("", "!single-sign-on", "correct horse battery"):
        login = sso_api.post(
            "/api/auth/login", data={"username": "ada@example.com", "password": password}
        )
        assert login.status_code in (401, 422)

    # The next sign-in finds the same user and the same roles.
    again = signed_in(sso_api, single_sign_on_as(sso_api, provider, "ada"), "ada@example.com")
    assert again.get("/api/auth/me").json()["id"] == me["id"]
    assert {w["name"]: w["role"] for w in again.get("/api/workspaces").json()} == roles
    with sso_context.sessions() as session:
        assert session.scalars(select(User).where(User.email == "ada@example.com")).all()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.sign_in").order_by(AuditEvent.id)
        ).all()
    assert [event.detail["method"] for event in events] == ["oidc", "oidc"]
    assert events[0].detail["roles"] == {"Analytics": "owner", "Operations": "admin"}
    assert events[1].detail["roles"] == {}


def test_a_user_whose_groups_map_to_nothing_signs_in_but_sees_no_workspace(
    sso_api: TestClient, provider: RunningProvider
) -> None:
    bob = signed_in(sso_api, single_sign_on_as(sso_api, provider, "bob"), "bob@example.com")

    assert bob.get("/api/auth/me").json()["email"] == "bob@example.com"
    assert bob.get("/api/workspaces").json() == []


def test_a_state_that_is_not_this_browsers_is_refused(
    sso_api: TestClient, sso_context: ServerContext, provider: RunningProvider
) -> None:
    callback = urlsplit(come_back_from_provider(sso_api, provider, "ada"))
    query = dict(parse_qsl(callback.query))
    forged = {**query, "state": "another-state"}

    wrong_state = sso_api.get(f"{callback.path}?{urlencode(forged)}", follow_redirects=False)
    assert refused_with(wrong_state.headers["location"]) == "sign_in_expired"
    # The right state from a browser without the sign-in cookie (another one) is refused too.
    with TestClient(create_app(sso_context)) as elsewhere:
        stolen = elsewhere.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert refused_with(stolen.headers["location"]) == "sign_in_expired"
    with sso_context.sessions() as session:
        assert session.scalar(select(User).where(User.email == "ada@example.com")) is None
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")
        ).all()
    assert {event.detail["reason"] for event in failed} == {"sign_in_expired"}
    explained = sso_api.get("/api/auth/providers").json()["sign_in_errors"]
    assert "try again" in explained["sign_in_expired"]


def test_a_disabled_user_is_refused_at_the_callback_and_their_tokens_stop(
    sso_api: TestClient, sso_context: ServerContext, provider: RunningProvider
) -> None:
    admin = sign_up(sso_api, "root@example.org")
    make_platform_admin(sso_context, admin)
    landing = single_sign_on_as(sso_api, provider, "carol")
    carol = signed_in(sso_api, landing, "carol@example.com")
    carol_id = carol.get("/api/auth/me").json()["id"]

    assert (
        carol.patch(
            f"/api/admin/users/{admin.get('/api/auth/me').json()['id']}", json={"disabled": True}
        ).status_code
        == 403
    )
    disabled = admin.patch(f"/api/admin/users/{carol_id}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True

    assert carol.get("/api/auth/me").status_code == 401
    refresh = gui_tokens(landing)["refresh_token"]
    refused = sso_api.post("/api/auth/refresh", json={"refresh_token": refresh})
    assert refused.status_code == 403
    assert "this account is disabled" in refused.json()["error"]["message"]
    assert refused_with(single_sign_on_as(sso_api, provider, "carol")) == "account_disabled"
    with sso_context.sessions() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "user.disable" in actions

    assert admin.patch(f"/api/admin/users/{carol_id}", json={"disabled": False}).status_code == 200
    assert gui_tokens(single_sign_on_as(sso_api, provider, "carol"))


def test_logging_out_ends_flowuis_session(sso_api: TestClient, provider: RunningProvider) -> None:
    landing = single_sign_on_as(sso_api, provider, "dan")
    dan = signed_in(sso_api, landing, "dan@example.com")

    assert dan.post("/api/auth/logout").status_code == 204

    assert dan.get("/api/auth/me").status_code == 401
    refresh = gui_tokens(landing)["refresh_token"]
    assert sso_api.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401


def test_with_passwords_off_only_the_provider_signs_in(
    tmp_path: Path, provider: RunningProvider
) -> None:
    context = _context(tmp_path / "fs", None, provider, password_login=False)
    try:
        with TestClient(create_app(context)) as api:
            methods = api.get("/api/auth/providers").json()
            assert methods["password"] is False and methods["registration"] is False
            assert methods["single_sign_on"] == {
                "name": "Acme ID",
                "start_url": "/api/auth/oidc/start",
            }
            login = api.post("/api/auth/login", data={"username": "a@b.org", "password": "x" * 9})
            register = api.post(
                "/api/auth/register", json={"email": "a@b.org", "password": "x" * 9}
            )
            for answer in (login, register):
                assert answer.status_code == 403
                assert "sign in with Acme ID" in answer.json()["error"]["message"]
            assert gui_tokens(single_sign_on_as(api, provider, "bob"))
    finally:
        context.close()


def test_the_sign_in_methods_of_a_platform_without_single_sign_on(api: TestClient) -> None:
    methods = api.get("/api/auth/providers").json()
    assert (methods["password"], methods["single_sign_on"]) == (True, None)
    start = api.get("/api/auth/oidc/start", follow_redirects=False)
    assert refused_with(start.headers["location"]) == "not_configured"


def test_a_disabled_password_user_is_refused_and_their_access_token_stops(
    api: TestClient, server_context: ServerContext
) -> None:
    admin = sign_up(api, "root@example.org")
    make_platform_admin(server_context, admin)
    eve = sign_up(api, "eve@example.org")
    token = eve.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 1}).json()["token"]
    eve_id = eve.get("/api/auth/me").json()["id"]

    assert admin.patch(f"/api/admin/users/{eve_id}", json={"disabled": True}).status_code == 200
    listed = {u["email"]: u["disabled"] for u in admin.get("/api/admin/users").json()}
    assert listed == {"root@example.org": False, "eve@example.org": True}

    login = api.post("/api/auth/login", data={"username": eve.email, "password": eve.password})
    assert login.status_code == 403
    assert "this account is disabled" in login.json()["error"]["message"]
    assert eve.get("/api/auth/me").status_code == 401
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    own = admin.get("/api/auth/me").json()["id"]
    assert admin.patch(f"/api/admin/users/{own}", json={"disabled": True}).status_code == 409


# --- the ID token's checks, with tokens signed here and keys served here ----------------------


class _Issuer:
    """A provider's discovery document and keys, served on 127.0.0.1; tokens signed here."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        keys = {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}
        documents: dict[str, Any] = {"/jwks": keys}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(documents))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        documents["/.well-known/openid-configuration"] = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/auth",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _handler(documents: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def token(self, key: Any = None, **changes: Any) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": self.url,
            "aud": "flowui",
            "sub": "42",
            "iat": now,
            "exp": now + timedelta(minutes=5),
            "nonce": "the-nonce",
            "email": "ada@example.com",
        } | changes
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "k1"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[_Issuer]:
    served = _Issuer()
    yield served
    served.close()


@pytest.fixture
def checker(issuer: _Issuer) -> Iterator[OidcProvider]:
    provider = OidcProvider(issuer=issuer.url, client_id="flowui", client_secret="s")
    yield provider
    provider.close()


def refusal(provider: OidcProvider, token: str, nonce: str = "the-nonce") -> str:
    with pytest.raises(SignInError) as refused:
        provider.validate_id_token(token, nonce)
    assert refused.value.code == "invalid_token"
    return refused.value.reason


def test_an_id_token_signed_by_the_provider_for_this_sign_in_is_accepted(
    issuer: _Issuer, checker: OidcProvider
) -> None:
    assert checker.validate_id_token(issuer.token(), "the-nonce")["email"] == "ada@example.com"


def test_a_forged_id_token_is_refused(issuer: _Issuer, checker: OidcProvider) -> None:
    another_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "signature" in refusal(checker, issuer.token(key=another_key))
    unsigned = jwt.encode({"iss": issuer.url, "aud": "flowui"}, "", algorithm="none")
    assert "invalid" in refusal(checker, unsigned)


def test_an_expired_id_token_is_refused(issuer: _Issuer, checker: OidcProvider) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert "expired" in refusal(checker, issuer.token(iat=long_ago, exp=long_ago))


def test_an_id_token_for_another_audience_or_of_another_issuer_is_refused(
    issuer: _Issuer, checker: OidcProvider
) -> None:
    assert "audience" in refusal(checker, issuer.token(aud="another-client"))
    assert "issuer" in refusal(checker, issuer.token(iss="https://evil.example.com"))
    assert "azp" in refusal(checker, issuer.token(aud=["flowui", "another-client"]))


def test_an_id_token_of_another_sign_in_is_refused(issuer: _Issuer, checker: OidcProvider) -> None:
    assert "nonce" in refusal(checker, issuer.token(), nonce="this-sign-ins-nonce")
    assert "nonce" in refusal(checker, issuer.token(nonce=None))


# --- the role map -----------------------------------------------------------------------------


def test_the_role_map_decides_membership_of_the_workspaces_it_names(
    server_context: ServerContext,
) -> None:
    provider = OidcProvider("https://id.example.com", "flowui", "s", role_map=ROLE_MAP)
    claims = {"sub": "1", "email": "Ada@Example.com", "groups": ["data-eng"]}
    try:
        with server_context.sessions() as session:
            other = Workspace(name="Elsewhere")
            session.add(other)
            session.flush()
            first = sign_in_user(session, provider, claims)
            session.add(Membership(workspace_id=other.id, user_id=first.user.id, role=Role.READ))
            assert first.created and first.user.email == "ada@example.com"
            assert first.roles == {"Analytics": "write"}

            promoted = sign_in_user(session, provider, claims | {"groups": ["platform"]})
            assert promoted.roles == {"Analytics": "owner", "Operations": "admin"}
            left = sign_in_user(session, provider, claims | {"groups": "marketing"})
            assert left.roles == {"Analytics": None, "Operations": None}
            names = session.scalars(
                select(Workspace.name).join(Membership).where(Membership.user_id == first.user.id)
            ).all()
            assert names == ["Elsewhere"]  # a workspace the map does not name stays
            with pytest.raises(SignInError) as unverified:
                sign_in_user(session, provider, claims | {"email_verified": False})
            assert unverified.value.code == "no_email"
    finally:
        provider.close()


def test_a_nested_groups_claim_is_read() -> None:
    provider = OidcProvider("https://id.example.com", "c", "s", groups_claim="realm_access.roles")
    try:
        assert provider.groups({"realm_access": {"roles": ["a", "b", 3]}}) == ["a", "b"]
        assert provider.groups({"groups": ["a"]}) == []
    finally:
        provider.close()


# --- settings ---------------------------------------------------------------------------------


def test_single_sign_on_settings_are_checked_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad_map:
        load_settings(tmp_path, environ={"FLOWUI_OIDC_ROLE_MAP": "data-eng=Analytics"})
    assert str(bad_map.value).startswith("environment FLOWUI_OIDC_ROLE_MAP: 'data-eng=Analytics'")
    (tmp_path / "config.ini").write_text("[security]\nFLOWUI_OIDC_CLIENT_SECRET = x\n")
    with pytest.raises(ConfigError, match=r"is a secret and is not read from config\.ini"):
        load_settings(tmp_path, environ={})
    (tmp_path / "config.ini").unlink()

    no_secret = load_settings(
        tmp_path,
        environ={"FLOWUI_OIDC_ISSUER": "https://id.example.com/", "FLOWUI_OIDC_CLIENT_ID": "c"},
    )
    with pytest.raises(ConfigError, match="also needs FLOWUI_OIDC_CLIENT_SECRET"):
        single_sign_on(no_secret)

    settings = load_settings(
        tmp_path,
        environ={
            "FLOWUI_OIDC_ISSUER": "https://id.example.com/",
            "FLOWUI_OIDC_CLIENT_ID": "c",
            "FLOWUI_OIDC_CLIENT_SECRET": "s",
            "FLOWUI_OIDC_ROLE_MAP": "data-eng=Analytics:write, platform=Analytics:Owner",
        },
    )
    provider = single_sign_on(settings)
    assert provider is not None
    try:
        assert provider.issuer == "https://id.example.com"
        assert provider.role_map == (
            RoleGrant("data-eng", "Analytics", Role.WRITE),
            RoleGrant("platform", "Analytics", Role.OWNER),
        )
        assert settings.display_value("FLOWUI_OIDC_CLIENT_SECRET") == "****"
    finally:
        provider.close()
