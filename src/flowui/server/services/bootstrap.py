"""What a new platform needs before its first user arrives: the first administrator and a
default workspace for them."""

from __future__ import annotations

from sqlalchemy import select

from flowui.server.context import ServerContext
from flowui.server.models import Membership, User, Workspace
from flowui.server.routers.auth import create_user, find_user_by_email
from flowui.server.routers.workspaces import create_workspace

DEFAULT_WORKSPACE = "Default workspace"


def ensure_first_admin(context: ServerContext, email: str, password: str) -> tuple[User, bool]:
    """The administrator with `email`, created with `password` if there is none yet, and a
    workspace they own; returns (user, created now). An existing account keeps its password."""
    with context.sessions() as session:
        user = find_user_by_email(session, email)
        created = user is None
        if user is None:
            user = create_user(session, email, password, "Administrator", is_admin=True)
        owns_one = session.scalar(select(Membership.id).where(Membership.user_id == user.id))
        if owns_one is None:
            create_workspace(session, DEFAULT_WORKSPACE, user)
        session.commit()
        return user, created


def default_workspace(context: ServerContext, user: User) -> Workspace:
    """The first workspace `user` belongs to."""
    with context.sessions() as session:
        workspace = session.scalars(
            select(Workspace)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user.id)
            .order_by(Workspace.id)
        ).first()
        assert workspace is not None, "ensure_first_admin gives every admin a workspace"
        return workspace
