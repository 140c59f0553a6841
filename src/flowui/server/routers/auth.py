"""Accounts and sign-in: register, log in (OAuth2 password flow), refresh, me, change password."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flowui.server.deps import ContextDep, CurrentUser, SessionDep, unauthorized
from flowui.server.errors import ApiError
from flowui.server.models import User
from flowui.server.security import ServerKeys, hash_password, verify_password

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


def issue_tokens(keys: ServerKeys, user: User) -> Tokens:
    access, lifetime = keys.issue_token(user.id, user.token_generation, "access")
    refresh, _ = keys.issue_token(user.id, user.token_generation, "refresh")
    return Tokens(access_token=access, refresh_token=refresh, expires_in=lifetime)


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(body: RegisterRequest, context: ContextDep, session: SessionDep) -> UserOut:
    """Create an account (if this platform allows sign-up)."""
    if not context.allow_registration:
        raise ApiError(
            403,
            "sign-up is switched off on this platform (FLOWUI_ALLOW_REGISTRATION); ask an "
            "administrator for an invitation",
        )
    user = create_user(session, body.email, body.password, body.display_name)
    session.commit()
    return UserOut.model_validate(user)


@router.post("/login")
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], context: ContextDep, session: SessionDep
) -> Tokens:
    """Sign in with e-mail (as `username`) and password; returns bearer tokens."""
    user = find_user_by_email(session, form.username)
    if user is None or not verify_password(user.password_hash, form.password):
        raise unauthorized("wrong e-mail or password")
    return issue_tokens(context.keys, user)


@router.post("/refresh")
def refresh(body: RefreshRequest, context: ContextDep, session: SessionDep) -> Tokens:
    """New tokens for a valid refresh token (one issued before a password change is not)."""
    identity = context.keys.read_token(body.refresh_token, "refresh")
    user = session.get(User, identity[0]) if identity else None
    if user is None or identity is None or identity[1] != user.token_generation:
        raise unauthorized("the refresh token is invalid or expired; sign in again")
    return issue_tokens(context.keys, user)


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> None:
    """Change your password; every token issued before stops working."""
    if not verify_password(user.password_hash, body.current_password):
        raise ApiError(403, "the current password is wrong")
    user.password_hash = hash_password(body.new_password)
    user.token_generation += 1
    session.commit()
