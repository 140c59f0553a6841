"""What a new platform needs before its first user arrives: the first administrator, a
default workspace for them, and the example operators in it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sqlalchemy import select

import flowui
from flowui.operators.metadata import RepositoryConfig
from flowui.operators.validate import CONFIG_FILE
from flowui.server.context import ServerContext
from flowui.server.models import Membership, User, Workspace
from flowui.server.repository_import import parse_source
from flowui.server.routers.auth import create_user, find_user_by_email
from flowui.server.routers.workspaces import create_workspace
from flowui.server.services.repositories import find_repository, import_new_repository

DEFAULT_WORKSPACE = "Default workspace"
# In a source tree only: an installed wheel has no examples folder.
BUNDLED_EXAMPLES = Path(flowui.__file__).parents[2] / "examples" / "operators_repository"


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


def import_bundled_examples(context: ServerContext, workspace_id: int) -> None:
    """Import the source tree's example operators repository into the workspace, unless the
    workspace has a repository of that name already or there is no source tree."""
    if not BUNDLED_EXAMPLES.is_dir():
        return
    text = (BUNDLED_EXAMPLES / CONFIG_FILE).read_text(encoding="utf-8")
    name = RepositoryConfig.model_validate(tomllib.loads(text)).name
    with context.sessions() as session:
        if find_repository(session, workspace_id, name) is None:
            source = parse_source(str(BUNDLED_EXAMPLES))
            import_new_repository(
                session, context.root, workspace_id, source, sandbox=context.sandbox
            )
