"""Dependencies of the routes: the context, a database session, the signed-in user and their
access to a workspace. Non-members of a workspace get 404: to them it does not exist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.context import ServerContext
from flowui.server.errors import ApiError, not_found
from flowui.server.models import Membership, Role, User, Workspace


def get_context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


ContextDep = Annotated[ServerContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/login", auto_error=False)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def get_current_user(
    context: ContextDep, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    if token is None:
        raise unauthorized("sign in first: this needs a bearer token (POST /api/auth/login)")
    identity = context.keys.read_token(token, "access")
    user = session.get(User, identity[0]) if identity else None
    if user is None or identity is None or identity[1] != user.token_generation:
        raise unauthorized("the token is invalid or expired; sign in again")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True)
class WorkspaceAccess:
    """The workspace of the request's path and the signed-in member's role in it."""

    workspace: Workspace
    user: User
    role: Role


# Every id in a path (the database's keys): at most what the databases' INTEGER holds, so that
# a larger one is a 422 saying so, never an overflow in SQLite or PostgreSQL.
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
WorkspaceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The workspace's id.")]


def workspace_access(minimum: Role) -> Callable[..., WorkspaceAccess]:
    def dependency(
        user: CurrentUser, session: SessionDep, workspace_id: WorkspaceId
    ) -> WorkspaceAccess:
        membership = session.scalar(
            select(Membership).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user.id
            )
        )
        if membership is None:
            raise not_found(f"workspace {workspace_id}")
        role = Role(membership.role)
        if not role.at_least(minimum):
            raise ApiError(
                403,
                f"this needs the role {minimum.value} or higher in the workspace; yours is "
                f"{role.value}",
            )
        return WorkspaceAccess(membership.workspace, user, role)

    return dependency


ReadAccess = Annotated[WorkspaceAccess, Depends(workspace_access(Role.READ))]
WriteAccess = Annotated[WorkspaceAccess, Depends(workspace_access(Role.WRITE))]
AdminAccess = Annotated[WorkspaceAccess, Depends(workspace_access(Role.ADMIN))]
OwnerAccess = Annotated[WorkspaceAccess, Depends(workspace_access(Role.OWNER))]
