"""Dependencies of the routes: the context, a database session, the caller (a signed-in user, or
a personal access token acting as its user) and their access to a workspace. Non-members of a
workspace, and tokens narrowed to others, get 404: to them it does not exist."""

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
from flowui.server.services.access import SAFE_METHODS, Caller, authenticate


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


def get_caller(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> Caller:
    """The request's caller (kept on `request.state.caller` for the audit trail); 401 without
    one, 403 for a change through a read-only token, or outside a narrowed token's workspaces."""
    if token is None:
        raise unauthorized("sign in first: this needs a bearer token (POST /api/auth/login)")
    caller = authenticate(session, context.sessions, context.keys, token)
    if caller is None:
        raise unauthorized("the token is invalid, expired, revoked or signed out; sign in again")
    if caller.token is not None and request.method not in SAFE_METHODS:
        if caller.token.read_only:
            raise ApiError(403, f"the access token {caller.token.name!r} is read-only")
        if caller.token.workspace_ids is not None and "workspace_id" not in request.path_params:
            raise ApiError(
                403,
                f"the access token {caller.token.name!r} is narrowed to workspaces: it changes "
                "nothing outside them",
            )
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_signed_in_user(caller: CallerDep) -> User:
    """The user of a session: tokens and sessions are managed signed in, not with a token."""
    if caller.token is not None:
        raise ApiError(
            403,
            "sign in with your password to manage access tokens, sessions and your password; "
            "an access token cannot",
        )
    return caller.user


SignedInUser = Annotated[User, Depends(get_signed_in_user)]


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
        caller: CallerDep, session: SessionDep, workspace_id: WorkspaceId
    ) -> WorkspaceAccess:
        user = caller.user
        if not caller.may_see(workspace_id):
            raise not_found(f"workspace {workspace_id}")
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
