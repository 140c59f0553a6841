"""Who is calling: sessions (a sign-in, whose tokens stop when it ends), personal access tokens
(acting as their user at most, narrowed to workspaces and to reading), and the limits on failed
sign-ins per account and per address."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from flowui.server.errors import ApiError, ErrorDetail
from flowui.server.models import AccessToken, SignInFailure, User, UserSession, utc_now
from flowui.server.security import (
    ACCESS_TOKEN_PREFIX,
    REFRESH_TOKEN_LIFETIME,
    ServerKeys,
    token_digest,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A token's last use is written at most this often: a busy script costs no write per call.
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class AccessPolicy:
    """The platform's limits on sign-ins, tokens and the audit trail (FLOWUI_SIGN_IN_*,
    FLOWUI_ACCESS_TOKEN_MAX_DAYS, FLOWUI_AUDIT_RETENTION_DAYS)."""

    account_failures: int = 5
    address_failures: int = 20
    window: timedelta = timedelta(minutes=15)
    token_max_days: int = 365
    audit_retention_days: int = 365


@dataclass(frozen=True)
class Caller:
    """The user of a request and how they came: a session, or a personal access token."""

    user: User
    session: UserSession | None = None
    token: AccessToken | None = None

    def may_see(self, workspace_id: int) -> bool:
        """Whether a token narrowed to workspaces (if any) reaches this one."""
        scope = self.token.workspace_ids if self.token is not None else None
        return scope is None or workspace_id in scope


def client_address(request: Request) -> str:
    return (request.client.host if request.client else "")[:64]


def client_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


# --- sessions ---------------------------------------------------------------------------------


def start_session(session: Session, user: User, request: Request) -> UserSession:
    now = utc_now()
    started = UserSession(
        public_id=secrets.token_hex(16),
        user_id=user.id,
        address=client_address(request),
        user_agent=client_agent(request),
        created_at=now,
        last_seen_at=now,
        expires_at=now + REFRESH_TOKEN_LIFETIME,
    )
    session.add(started)
    session.flush()
    return started


def active_session(session: Session, public_id: str, user_id: int) -> UserSession | None:
    found = session.scalar(
        select(UserSession).where(
            UserSession.public_id == public_id,
            UserSession.user_id == user_id,
            UserSession.ended_at.is_(None),
        )
    )
    return found if found is not None and found.expires_at > utc_now() else None


def end_sessions(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """End the user's active sessions (but `keep`); how many ended."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return int(session.execute(query.values(ended_at=utc_now())).rowcount)  # type: ignore[attr-defined]


# --- who is calling ---------------------------------------------------------------------------


def authenticate(
    session: Session, sessions: sessionmaker[Session], keys: ServerKeys, bearer: str
) -> Caller | None:
    """The caller that `bearer` (a session's access token or a personal access token) stands
    for, or None when it stands for nobody now (invalid, expired, ended, revoked, or its user
    disabled)."""
    if bearer.startswith(ACCESS_TOKEN_PREFIX):
        return _token_caller(session, sessions, bearer)
    identity = keys.read_token(bearer, "access")
    if identity is None:
        return None
    user = session.get(User, identity.user_id)
    if user is None or user.disabled or identity.generation != user.token_generation:
        return None
    signed_in = active_session(session, identity.session, user.id)
    return None if signed_in is None else Caller(user, session=signed_in)


def _token_caller(session: Session, sessions: sessionmaker[Session], bearer: str) -> Caller | None:
    token = session.scalar(select(AccessToken).where(AccessToken.digest == token_digest(bearer)))
    now = utc_now()
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= now
        or token.user.disabled
    ):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_PRECISION:
        # Its own transaction: a read-only request commits nothing of its own.
        with sessions() as writer:
            writer.execute(
                update(AccessToken).where(AccessToken.id == token.id).values(last_used_at=now)
            )
            writer.commit()
    return Caller(token.user, token=token)


# --- failed sign-ins --------------------------------------------------------------------------


def refuse_if_locked(session: Session, policy: AccessPolicy, email: str, address: str) -> None:
    """429, saying how long to wait, when the account or the address failed too often within
    the window."""
    since = utc_now() - policy.window
    for column, value, limit, whose in (
        (SignInFailure.email, email, policy.account_failures, "this account"),
        (SignInFailure.address, address, policy.address_failures, "your address"),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(SignInFailure.at)).where(
                column == value, SignInFailure.at > since
            )
        ).one()
        if count >= limit:
            wait = max(1, math.ceil((oldest + policy.window - utc_now()).total_seconds()))
            minutes = math.ceil(wait / 60)
            raise ApiError(
                429,
                f"too many failed sign-ins for {whose}: try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}",
                headers={"Retry-After": str(wait)},
            )


def record_failure(session: Session, policy: AccessPolicy, email: str, address: str) -> None:
    now = utc_now()
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - policy.window))
    session.add(SignInFailure(email=email, address=address, at=now))


def clear_failures(session: Session, email: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.email == email))


def token_expiry(policy: AccessPolicy, days: int, where: str) -> datetime:
    """When a token given `days` of life expires; 422 at `where` beyond the platform's most."""
    if days > policy.token_max_days:
        message = (
            f"a token may live at most {policy.token_max_days} days on this platform "
            "(FLOWUI_ACCESS_TOKEN_MAX_DAYS)"
        )
        raise ApiError(422, message, details=[ErrorDetail(where=where, message=message)])
    return utc_now() + timedelta(days=days)
