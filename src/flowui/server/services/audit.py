"""The audit trail: every change recorded with who (the user, the token's name), when, from where
(address, user agent) and what, in the same transaction as the change itself. Events are only
added; housekeeping removes those older than the retention period (`expire_events`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flowui.server.models import AuditEvent, User, utc_now
from flowui.server.services.access import Caller, client_address, client_agent


def record(
    session: Session,
    request: Request,
    action: str,
    *,
    user: User | None = None,
    workspace_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an event of `action` (such as `secret.set`) to the session's transaction: by the
    request's caller (or `user`, for a sign-in), on `target`, with `detail` (never a secret's
    value)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    actor = user or (caller.user if caller else None)
    session.add(
        AuditEvent(
            at=utc_now(),
            user_id=actor.id if actor else None,
            actor=actor.email if actor else str((detail or {}).get("email", "")),
            address=client_address(request),
            user_agent=client_agent(request),
            token_name=caller.token.name if caller and caller.token else None,
            action=action,
            workspace_id=workspace_id,
            target=target[:300],
            detail=detail or {},
        )
    )


def events(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    workspace_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events newest first, filtered; a page ends before `before_id` (the last one seen)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        # `secret` matches every secret.* action.
        query = query.where(
            (AuditEvent.action == action) | AuditEvent.action.startswith(action + ".")
        )
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if workspace_id is not None:
        query = query.where(AuditEvent.workspace_id == workspace_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query))


def expire_events(session: Session, retention_days: int) -> int:
    """Remove events older than the retention period; how many."""
    older = utc_now() - timedelta(days=retention_days)
    return int(session.execute(delete(AuditEvent).where(AuditEvent.at < older)).rowcount)  # type: ignore[attr-defined]
