"""Accounts and sign-in: register, log in (OAuth2 password flow, failures limited per account
and per address), refresh, sign out, me, change password; your sessions and personal access
tokens. Each change is in the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flowui.server.context import ServerContext
from flowui.server.deps import (
    MAX_ID,
    CallerDep,
    ContextDep,
    CurrentUser,
    Id,
    SessionDep,
    SignedInUser,
    unauthorized,
)
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import AccessToken, Membership, User, UserSession, utc_now
from flowui.server.security import ServerKeys, hash_password, new_access_token, verify_password
from flowui.server.services import audit
from flowui.server.services.access import (
    active_session,
    clear_failures,
    client_address,
    end_sessions,
    record_failure,
    refuse_if_locked,
    start_session,
    token_expiry,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])

Password = Annotated[str, Field(min_length=8, max_length=200)]


class RegisterRequest(BaseModel):
    email: EmailStr
    password: Password
    display_name: str = Field(default="", max_length=200)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    is_admin: bool
    created_at: datetime


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=4096)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=200)
    new_password: Password


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    session: Session, email: str, password: str, display_name: str = "", *, is_admin: bool = False
) -> User:
    """A new user (e-mail kept lower-case); 409 if the e-mail is taken."""
    email = email.strip().lower()
    if find_user_by_email(session, email) is not None:
        raise ApiError(409, f"a user with the e-mail {email} already exists")
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    return user


def refuse_passwords_if_off(context: ServerContext) -> None:
    """403 when this platform signs people in through its single sign-on provider only."""
    if not context.password_login:
        provider = context.oidc.name if context.oidc is not None else "the sign-in provider"
        raise ApiError(
            403,
            f"passwords are switched off on this platform (FLOWUI_PASSWORD_LOGIN): sign in "
            f"with {provider} (GET /api/auth/oidc/start)",
        )


def account_disabled() -> ApiError:
    return ApiError(403, "this account is disabled; ask a platform administrator")


def issue_tokens(keys: ServerKeys, user: User, signed_in: UserSession) -> Tokens:
    generation, session_id = user.token_generation, signed_in.public_id
    access, lifetime = keys.issue_token(user.id, generation, "access", session_id)
    refresh, _ = keys.issue_token(user.id, generation, "refresh", session_id)
    return Tokens(access_token=access, refresh_token=refresh, expires_in=lifetime)


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(
    body: RegisterRequest, request: Request, context: ContextDep, session: SessionDep
) -> UserOut:
    """Create an account (if this platform allows sign-up, with passwords)."""
    refuse_passwords_if_off(context)
    if not context.allow_registration:
        raise ApiError(
            403,
            "sign-up is switched off on this platform (FLOWUI_ALLOW_REGISTRATION); ask an "
            "administrator for an invitation",
        )
    user = create_user(session, body.email, body.password, body.display_name)
    audit.record(session, request, "auth.register", user=user, target=user.email)
    session.commit()
    return UserOut.model_validate(user)


@router.post("/login", responses={429: {"description": "Too many failed sign-ins."}})
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    context: ContextDep,
    session: SessionDep,
) -> Tokens:
    """Sign in with e-mail (as `username`) and password; returns bearer tokens of a new
    session. Too many failures for the account or from the address: 429, saying how long to
    wait (Retry-After)."""
    refuse_passwords_if_off(context)
    email, address = form.username.strip().lower()[:320], client_address(request)
    refuse_if_locked(session, context.access, email, address)
    user = find_user_by_email(session, email)
    if user is None or not verify_password(user.password_hash, form.password):
        record_failure(session, context.access, email, address)
        audit.record(session, request, "auth.sign_in_failed", detail={"email": email})
        session.commit()
        raise unauthorized("wrong e-mail or password")
    clear_failures(session, email)
    if user.disabled:
        # Told only with the right password: a guess learns nothing about the account.
        audit.record(
            session, request, "auth.sign_in_failed", detail={"email": email, "reason": "disabled"}
        )
        session.commit()
        raise account_disabled()
    signed_in = start_session(session, user, request)
    audit.record(
        session,
        request,
        "auth.sign_in",
        user=user,
        target=user.email,
        detail={"method": "password"},
    )
    session.commit()
    return issue_tokens(context.keys, user, signed_in)


@router.post("/refresh")
def refresh(body: RefreshRequest, context: ContextDep, session: SessionDep) -> Tokens:
    """New tokens of the same session for a valid refresh token (not of an ended session)."""
    identity = context.keys.read_token(body.refresh_token, "refresh")
    user = session.get(User, identity.user_id) if identity else None
    signed_in = (
        active_session(session, identity.session, user.id)
        if user is not None
        and identity is not None
        and identity.generation == user.token_generation
        else None
    )
    if user is None or signed_in is None:
        raise unauthorized("the refresh token is invalid, expired or signed out; sign in again")
    if user.disabled:
        raise account_disabled()
    signed_in.last_seen_at = utc_now()
    session.commit()
    return issue_tokens(context.keys, user, signed_in)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(caller: CallerDep, request: Request, session: SessionDep) -> None:
    """End this session: its tokens stop working at once."""
    if caller.session is None:
        raise ApiError(403, "an access token has no session to end: revoke the token instead")
    caller.session.ended_at = utc_now()
    audit.record(session, request, "auth.sign_out", target=caller.user.email)
    session.commit()


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChange,
    user: SignedInUser,
    caller: CallerDep,
    request: Request,
    session: SessionDep,
) -> None:
    """Change your password; your other sessions end (this one goes on)."""
    if not verify_password(user.password_hash, body.current_password):
        raise ApiError(403, "the current password is wrong")
    user.password_hash = hash_password(body.new_password)
    ended = end_sessions(session, user.id, keep=caller.session.id if caller.session else None)
    audit.record(
        session, request, "auth.password_change", target=user.email, detail={"ended": ended}
    )
    session.commit()


# --- sessions ---------------------------------------------------------------------------------


class SessionOut(BaseModel):
    id: int
    address: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = Field(description="Whether it is the session of this request.")


@router.get("/sessions")
def list_sessions(user: SignedInUser, caller: CallerDep, session: SessionDep) -> list[SessionOut]:
    """Your sessions that have not ended, newest first."""
    rows = session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.ended_at.is_(None),
            UserSession.expires_at > utc_now(),
        )
        .order_by(UserSession.id.desc())
    )
    current = caller.session.id if caller.session else None
    return [
        SessionOut(
            id=row.id,
            address=row.address,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            current=row.id == current,
        )
        for row in rows
    ]


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def end_session(session_id: Id, user: SignedInUser, request: Request, session: SessionDep) -> None:
    """End one of your sessions (this one too, if it is): its tokens stop working at once."""
    found = session.get(UserSession, session_id)
    if found is None or found.user_id != user.id or found.ended_at is not None:
        raise not_found(f"session {session_id}")
    found.ended_at = utc_now()
    audit.record(session, request, "auth.session_end", target=f"session {session_id}")
    session.commit()


# --- personal access tokens -------------------------------------------------------------------


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(ge=1, le=3650, description="Days until it stops working.")
    workspace_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None,
        max_length=100,
        description="The workspaces it may reach (of yours); null: every workspace of yours.",
    )
    read_only: bool = Field(default=False, description="Whether it may only read.")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    shown_prefix: str = Field(description="How the token begins, to tell tokens apart.")
    workspace_ids: list[int] | None
    read_only: bool
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once, kept only as a digest.")


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate,
    user: SignedInUser,
    request: Request,
    context: ContextDep,
    session: SessionDep,
) -> TokenCreated:
    """A new personal access token, acting as you at most (narrowed to `workspace_ids` and to
    reading if asked). The answer shows it once."""
    expires_at = token_expiry(context.access, body.expires_in_days, "/body/expires_in_days")
    if body.workspace_ids is not None:
        yours = set(
            session.scalars(select(Membership.workspace_id).where(Membership.user_id == user.id))
        )
        for index, workspace_id in enumerate(body.workspace_ids):
            if workspace_id not in yours:
                message = f"workspace {workspace_id} not found"
                where = f"/body/workspace_ids/{index}"
                raise ApiError(422, message, details=[ErrorDetail(where=where, message=message)])
    token, digest, shown = new_access_token()
    created = AccessToken(
        user_id=user.id,
        name=body.name,
        digest=digest,
        shown_prefix=shown,
        workspace_ids=None if body.workspace_ids is None else sorted(set(body.workspace_ids)),
        read_only=body.read_only,
        expires_at=expires_at,
    )
    session.add(created)
    session.flush()
    audit.record(
        session,
        request,
        "token.create",
        target=body.name,
        detail={"workspace_ids": created.workspace_ids, "read_only": body.read_only},
    )
    session.commit()
    return TokenCreated(**TokenOut.model_validate(created).model_dump(), token=token)


@router.get("/tokens")
def list_tokens(user: SignedInUser, session: SessionDep) -> list[TokenOut]:
    """Your tokens that are not revoked, with their last use (to the minute)."""
    rows = session.scalars(
        select(AccessToken)
        .where(AccessToken.user_id == user.id, AccessToken.revoked_at.is_(None))
        .order_by(AccessToken.id)
    )
    return [TokenOut.model_validate(row) for row in rows]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: Id, user: SignedInUser, request: Request, session: SessionDep) -> None:
    """Revoke one of your tokens: it stops working at once."""
    found = session.get(AccessToken, token_id)
    if found is None or found.user_id != user.id or found.revoked_at is not None:
        raise not_found(f"token {token_id}")
    found.revoked_at = utc_now()
    audit.record(session, request, "token.revoke", target=found.name)
    session.commit()
