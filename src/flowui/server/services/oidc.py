"""Single sign-on through an OpenID Connect provider: discovery, the authorization code flow with
PKCE (S256), `state` bound to the browser by a signed cookie and `nonce` in the ID token, the ID
token's signature and claims, and the user it signs in (created on first sign-in, workspace roles
from the groups claim by the role map; docs/server.md#single-sign-on)."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.models import Membership, Role, User, Workspace

log = logging.getLogger(__name__)

# How long a browser may take between leaving for the provider and coming back.
SIGN_IN_LIFETIME = timedelta(minutes=10)
# Clocks of FlowUI and the provider may differ by this much.
CLOCK_LEEWAY = timedelta(seconds=60)
# The audience of FlowUI's own sign-in cookie: no other token of the server key is taken for it.
_ATTEMPT_AUDIENCE = "flowui-oidc-sign-in"
# ID tokens are signed with the provider's private key, never with a shared secret or "none".
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# A user created by single sign-on has no password: no hash ever verifies against this.
NO_PASSWORD = "!single-sign-on"

# What the sign-in page says for each `/sign-in?error=<code>` (GET /api/auth/providers).
SIGN_IN_ERRORS: dict[str, str] = {
    "sign_in_expired": "The sign-in took too long or was started in another browser; try again.",
    "provider_refused": "The sign-in provider did not sign you in.",
    "provider_unreachable": "The sign-in provider cannot be reached; try again later.",
    "invalid_token": "The sign-in provider's answer could not be verified; try again.",
    "no_email": "The sign-in provider gave no verified e-mail address for your account.",
    "account_disabled": "This account is disabled; ask a platform administrator.",
    "not_configured": "Single sign-on is not set up on this platform.",
}


class SignInError(Exception):
    """A refused single sign-on: `code` (a key of SIGN_IN_ERRORS) is shown, `reason` logged."""

    def __init__(self, code: str, reason: str) -> None:
        assert code in SIGN_IN_ERRORS, code
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


@dataclass(frozen=True)
class RoleGrant:
    """One entry of the role map: members of `group` get `role` in the workspace `workspace`."""

    group: str
    workspace: str
    role: Role


@dataclass(frozen=True)
class ProviderMetadata:
    """What FlowUI uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    signing_algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class SignInAttempt:
    """What the browser carries to the provider and back, in FlowUI's signed cookie."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass
class OidcProvider:
    """The platform's provider (FLOWUI_OIDC_*). Its discovery document and keys are fetched on
    first use and kept; the keys again when a token names one not seen yet (rotation)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    name: str = "single sign-on"
    scopes: tuple[str, ...] = ("openid", "email", "profile", "groups")
    groups_claim: str = "groups"
    role_map: tuple[RoleGrant, ...] = ()
    # FLOWUI_PUBLIC_URL: where the browser comes back; None: the address of the request.
    public_url: str | None = None
    timeout: float = 10.0

    _http: httpx.Client = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _metadata: ProviderMetadata | None = field(init=False, repr=False, default=None)
    _keys: jwt.PyJWKSet | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        if "openid" not in self.scopes:
            self.scopes = ("openid", *self.scopes)
        self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    # --- what the provider publishes -----------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The discovery document (its issuer must be the one configured)."""
        with self._lock:
            if self._metadata is None:
                self._metadata = self._discover()
            return self._metadata

    def _discover(self) -> ProviderMetadata:
        url = f"{self.issuer}/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        if document.get("issuer", "").rstrip("/") != self.issuer:
            raise SignInError(
                "provider_unreachable",
                f"the discovery document at {url} names the issuer {document.get('issuer')!r}, "
                f"not {self.issuer!r} (FLOWUI_OIDC_ISSUER)",
            )
        try:
            algorithms = [
                a for a in document.get("id_token_signing_alg_values_supported", []) if a
            ] or ["RS256"]
            return ProviderMetadata(
                issuer=document["issuer"],
                authorization_endpoint=document["authorization_endpoint"],
                token_endpoint=document["token_endpoint"],
                jwks_uri=document["jwks_uri"],
                userinfo_endpoint=document.get("userinfo_endpoint"),
                end_session_endpoint=document.get("end_session_endpoint"),
                signing_algorithms=tuple(a for a in algorithms if a in _ASYMMETRIC),
                token_auth_methods=tuple(
                    document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
                ),
            )
        except (KeyError, TypeError) as error:
            raise SignInError(
                "provider_unreachable", f"the discovery document at {url} lacks {error}"
            ) from None

    def signing_key(self, token: str) -> jwt.PyJWK:
        """The provider's public key that signed `token` (by its `kid`)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise SignInError("invalid_token", f"the ID token is not a JWT: {error}") from None
        for refresh in (False, True):
            keys = self._signing_keys(refresh)
            candidates = [key for key in keys.keys if kid is None or key.key_id == kid]
            if candidates and (kid is not None or len(candidates) == 1):
                return candidates[0]
        raise SignInError("invalid_token", f"the provider publishes no key {kid!r}")

    def _signing_keys(self, refresh: bool) -> jwt.PyJWKSet:
        with self._lock:
            if self._keys is None or refresh:
                document = self._get_json(self._metadata_unlocked().jwks_uri, "keys")
                try:
                    self._keys = jwt.PyJWKSet.from_dict(document)
                except jwt.PyJWTError as error:
                    raise SignInError(
                        "provider_unreachable", f"the provider's keys are unusable: {error}"
                    ) from None
            return self._keys

    def _metadata_unlocked(self) -> ProviderMetadata:
        if self._metadata is None:
            self._metadata = self._discover()
        return self._metadata

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            answer = self._http.get(url, headers={"Accept": "application/json"})
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignInError(
                "provider_unreachable", f"the provider's {what} at {url}: {error}"
            ) from None
        if not isinstance(document, dict):
            raise SignInError("provider_unreachable", f"the provider's {what} is not an object")
        return document

    # --- the authorization code flow -------------------------------------------------------------

    def authorization_url(self, attempt: SignInAttempt) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": attempt.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": code_challenge(attempt.code_verifier),
            "code_challenge_method": "S256",
        }
        endpoint = self.metadata().authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def exchange_code(self, code: str, attempt: SignInAttempt) -> dict[str, Any]:
        """The token endpoint's answer for `code` (with the PKCE verifier)."""
        metadata = self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": attempt.redirect_uri,
            "code_verifier": attempt.code_verifier,
        }
        basic = "client_secret_basic" in metadata.token_auth_methods
        if not basic:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        try:
            if basic:
                # RFC 6749 2.3.1: the id and secret are form-encoded before HTTP Basic.
                secret = (quote_plus(self.client_id), quote_plus(self.client_secret))
                answer = self._http.post(metadata.token_endpoint, data=form, auth=secret)
            else:
                answer = self._http.post(metadata.token_endpoint, data=form)
        except httpx.HTTPError as error:
            raise SignInError("provider_unreachable", f"the token endpoint: {error}") from None
        try:
            tokens = answer.json()
        except ValueError:
            tokens = None
        if answer.status_code != 200 or not isinstance(tokens, dict):
            said = tokens if isinstance(tokens, dict) else {}
            raise SignInError(
                "provider_refused",
                f"the token endpoint answered {answer.status_code} "
                f"{said.get('error', '')}: {said.get('error_description', '')}",
            )
        if not isinstance(tokens.get("id_token"), str):
            raise SignInError("invalid_token", "the token endpoint gave no ID token")
        return tokens

    def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of an ID token signed by the provider, issued by it for this client, not
        expired, and carrying the sign-in's nonce; SignInError saying which check failed."""
        algorithms = list(self.metadata().signing_algorithms)
        if not algorithms:
            raise SignInError("invalid_token", "the provider signs ID tokens with no public key")
        key = self.signing_key(id_token)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=algorithms,
                audience=self.client_id,
                issuer=self.metadata().issuer,
                leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignInError("invalid_token", "the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise SignInError("invalid_token", "the ID token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise SignInError("invalid_token", "the ID token is of another issuer") from None
        except jwt.InvalidSignatureError:
            raise SignInError(
                "invalid_token", "the ID token's signature is not the provider's"
            ) from None
        except jwt.PyJWTError as error:
            raise SignInError("invalid_token", f"the ID token is invalid: {error}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInError("invalid_token", "the ID token was issued to another party (azp)")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
            claims["nonce"], nonce
        ):
            raise SignInError("invalid_token", "the ID token's nonce is not this sign-in's")
        return claims

    def user_claims(self, id_claims: dict[str, Any], access_token: str | None) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint (many providers put e-mail
        and groups only there), which must speak of the same subject."""
        endpoint = self.metadata().userinfo_endpoint
        if endpoint is None or not access_token:
            return id_claims
        try:
            answer = self._http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            answer.raise_for_status()
            info = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignInError("provider_unreachable", f"the userinfo endpoint: {error}") from None
        if not isinstance(info, dict) or info.get("sub") != id_claims["sub"]:
            raise SignInError("invalid_token", "the userinfo answer is of another subject")
        return {**info, **id_claims}

    def groups(self, claims: dict[str, Any]) -> list[str]:
        """The user's groups: the groups claim (a dotted path reaches into objects), a list of
        names or one name."""
        value: Any = claims
        for part in self.groups_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the browser's side of the sign-in --------------------------------------------------------


def new_attempt(redirect_uri: str) -> SignInAttempt:
    return SignInAttempt(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        redirect_uri=redirect_uri,
    )


def seal_attempt(signing_key: bytes, attempt: SignInAttempt) -> str:
    """The attempt as the value of FlowUI's sign-in cookie (signed, short-lived)."""
    now = datetime.now(UTC)
    claims = {
        "aud": _ATTEMPT_AUDIENCE,
        "iat": now,
        "exp": now + SIGN_IN_LIFETIME,
        "state": attempt.state,
        "nonce": attempt.nonce,
        "verifier": attempt.code_verifier,
        "redirect_uri": attempt.redirect_uri,
    }
    return jwt.encode(claims, signing_key, algorithm="HS256")


def open_attempt(signing_key: bytes, cookie: str | None, state: str | None) -> SignInAttempt:
    """The attempt of this browser whose `state` came back; SignInError when the cookie is
    missing, forged or expired, or the state is another's."""
    if not cookie:
        raise SignInError("sign_in_expired", "no sign-in cookie came back with the browser")
    try:
        claims = jwt.decode(cookie, signing_key, algorithms=["HS256"], audience=_ATTEMPT_AUDIENCE)
        attempt = SignInAttempt(
            str(claims["state"]),
            str(claims["nonce"]),
            str(claims["verifier"]),
            str(claims["redirect_uri"]),
        )
    except (jwt.PyJWTError, KeyError) as error:
        raise SignInError("sign_in_expired", f"the sign-in cookie is unusable: {error}") from None
    if not state or not secrets.compare_digest(attempt.state, state):
        raise SignInError("sign_in_expired", "the state that came back is not this browser's")
    return attempt


# --- the user it signs in ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignedInUser:
    user: User
    created: bool
    # What the role map changed: {workspace name: new role, or None when removed}.
    roles: dict[str, str | None]
    groups: list[str]


def sign_in_user(session: Session, provider: OidcProvider, claims: dict[str, Any]) -> SignedInUser:
    """The FlowUI user of verified claims: found by e-mail, created on first sign-in (with no
    usable password); refused when disabled. The role map is applied on every sign-in."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        raise SignInError(
            "no_email", f"subject {claims.get('sub')!r}: no verified e-mail address in the claims"
        )
    email = email.strip().lower()[:320]
    user = session.scalar(select(User).where(User.email == email))
    created = user is None
    if user is None:
        name = claims.get("name")
        user = User(
            email=email,
            password_hash=NO_PASSWORD,
            display_name=name[:200] if isinstance(name, str) else "",
        )
        session.add(user)
        session.flush()
    elif user.disabled:
        raise SignInError("account_disabled", f"{email} is disabled in FlowUI")
    groups = provider.groups(claims)
    roles = apply_role_map(session, user, groups, provider.role_map)
    return SignedInUser(user, created, roles, groups)


def apply_role_map(
    session: Session, user: User, groups: list[str], role_map: tuple[RoleGrant, ...]
) -> dict[str, str | None]:
    """Make `user`'s memberships of the workspaces the map names follow their groups (the
    strongest role of their groups; none: no membership). A named workspace that does not
    exist is created when someone is given a role in it. Memberships of workspaces the map
    does not name are left as they are. Returns what changed."""
    wanted: dict[str, Role] = {}
    for grant in role_map:
        if grant.group in groups and (
            grant.workspace not in wanted or grant.role.at_least(wanted[grant.workspace])
        ):
            wanted[grant.workspace] = grant.role
    changes: dict[str, str | None] = {}
    for name in dict.fromkeys(grant.workspace for grant in role_map):
        # Names are not unique: the map means the oldest workspace of the name.
        workspace = session.scalar(
            select(Workspace).where(Workspace.name == name).order_by(Workspace.id).limit(1)
        )
        role = wanted.get(name)
        if workspace is None:
            if role is None:
                continue
            workspace = Workspace(name=name)
            session.add(workspace)
            session.flush()
            log.info("single sign-on created the workspace %r of the role map", name)
        membership = session.scalar(
            select(Membership).where(
                Membership.workspace_id == workspace.id, Membership.user_id == user.id
            )
        )
        if role is None and membership is not None:
            session.delete(membership)
            changes[name] = None
        elif role is not None and membership is None:
            session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role))
            changes[name] = role.value
        elif role is not None and membership is not None and membership.role != role:
            membership.role = role
            changes[name] = role.value
    session.flush()
    return changes
