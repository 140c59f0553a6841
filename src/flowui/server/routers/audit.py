"""The audit trail, for platform administrators: read only (no route changes or removes an
event), newest first, filtered, in pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from flowui.server.deps import MAX_ID, CurrentUser, SessionDep
from flowui.server.errors import ApiError
from flowui.server.services import audit

router = APIRouter(prefix="/api/admin", tags=["audit"])


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(description="The user's e-mail at the time (or the one a sign-in gave).")
    address: str
    user_agent: str
    token_name: str | None = Field(description="The access token used, if one was.")
    action: str = Field(description="What was done, such as `secret.set` or `workflow.deploy`.")
    workspace_id: int | None
    target: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before_id: int | None = Field(
        description="Give it as `before_id` for the next (older) page; null: no more."
    )


@router.get("/audit")
def read_audit_trail(
    user: CurrentUser,
    session: SessionDep,
    action: Annotated[
        str | None, Query(max_length=64, description="An action, or its prefix (`secret`).")
    ] = None,
    actor: Annotated[str | None, Query(max_length=320, description="A user's e-mail.")] = None,
    workspace_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[datetime | None, Query(description="From this time on (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Who changed what, when and from where; platform administrators only."""
    if not user.is_admin:
        raise ApiError(403, "only platform administrators read the audit trail")
    found = audit.events(
        session,
        action=action,
        actor=actor,
        workspace_id=workspace_id,
        since=_utc(since),
        until=_utc(until),
        before_id=before_id,
        limit=limit,
    )
    return AuditPage(
        events=[AuditEventOut.model_validate(event) for event in found],
        next_before_id=found[-1].id if len(found) == limit else None,
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC, as every time of the trail is."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
