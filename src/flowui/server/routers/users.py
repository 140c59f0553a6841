"""The platform's users, for platform administrators: list them, disable or enable one (a
disabled user signs in no more, by password or single sign-on, and their sessions and access
tokens stop at once)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from flowui.server.deps import CurrentUser, Id, SessionDep
from flowui.server.errors import ApiError, not_found
from flowui.server.models import User
from flowui.server.services import audit

router = APIRouter(prefix="/api/admin/users", tags=["users"])


class PlatformUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    is_admin: bool
    disabled: bool
    created_at: datetime


class PlatformUserChange(BaseModel):
    disabled: bool = Field(description="Whether the user is disabled.")


def _require_platform_admin(user: User) -> None:
    if not user.is_admin:
        raise ApiError(403, "only platform administrators manage the platform's users")


@router.get("")
def list_users(user: CurrentUser, session: SessionDep) -> list[PlatformUserOut]:
    """Every user of the platform; platform administrators only."""
    _require_platform_admin(user)
    return [
        PlatformUserOut.model_validate(row)
        for row in session.scalars(select(User).order_by(User.id))
    ]


@router.patch("/{user_id}")
def change_user(
    user_id: Id, body: PlatformUserChange, user: CurrentUser, request: Request, session: SessionDep
) -> PlatformUserOut:
    """Disable a user (no more sign-ins; their sessions and tokens stop at once) or enable them
    again; platform administrators only, never themselves."""
    _require_platform_admin(user)
    found = session.get(User, user_id)
    if found is None:
        raise not_found(f"user {user_id}")
    if found.id == user.id and body.disabled:
        raise ApiError(409, "you cannot disable your own account")
    if found.disabled != body.disabled:
        found.disabled = body.disabled
        action = "user.disable" if body.disabled else "user.enable"
        audit.record(session, request, action, target=found.email)
        session.commit()
    return PlatformUserOut.model_validate(found)
