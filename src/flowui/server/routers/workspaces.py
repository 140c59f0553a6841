"""Workspaces and their members: create, list, rename, set the default runtime, delete; invite,
accept, change roles; the limits platform administrators set.

Only an owner makes or unmakes owners, and a workspace always keeps at least one owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowui.server.deps import (
    AdminAccess,
    CallerDep,
    ContextDep,
    CurrentUser,
    Id,
    OwnerAccess,
    ReadAccess,
    SessionDep,
    WorkspaceAccess,
    WorkspaceId,
)
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import Invitation, Membership, Role, User, Workspace
from flowui.server.services import audit
from flowui.server.services.trees import remove_workspace_tree
from flowui.workflows.limits import WorkspaceLimits
from flowui.workflows.spec import RUNTIMES, Runtime

router = APIRouter(prefix="/api", tags=["workspaces"])

WorkspaceName = Field(min_length=1, max_length=200)


class WorkspaceCreate(BaseModel):
    name: str = WorkspaceName


class WorkspaceUpdate(BaseModel):
    """The fields to change; those left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_runtime: Runtime | None = Field(
        default=None,
        description="Where its tasks that name no runtime run; null: the platform's default.",
    )


class WorkspaceOut(BaseModel):
    id: int
    name: str
    role: Role = Field(description="Your role in it.")
    default_runtime: Runtime | None = Field(
        description="The workspace's own default runtime; null: it takes the platform's."
    )
    effective_default_runtime: Runtime = Field(
        description="Where its tasks that name no runtime run: the workspace's default runtime, "
        "else the platform's."
    )
    platform_default_runtime: Runtime = Field(
        description="The platform's default runtime (FLOWUI_DEFAULT_RUNTIME)."
    )
    created_at: datetime


class LimitsOut(BaseModel):
    task_cpus: int = Field(description="Most CPUs (cores) a task may ask for.")
    task_memory_mb: int = Field(description="Most memory (MiB) a task may ask for.")
    task_gpus: int = Field(description="Most GPUs a task may ask for.")
    active_runs: int = Field(description="Runs queued or running at once, of all its workflows.")
    runtimes: list[Runtime] = Field(description="The runtimes its tasks may run in.")


class LimitsUpdate(BaseModel):
    """A workspace's own limits; a null one takes the platform's (FLOWUI_TASK_MAX_*,
    FLOWUI_WORKSPACE_*)."""

    task_cpus: int | None = Field(default=None, ge=1, le=100_000)
    task_memory_mb: int | None = Field(default=None, ge=1, le=1 << 30)
    task_gpus: int | None = Field(default=None, ge=0, le=10_000)
    active_runs: int | None = Field(default=None, ge=1, le=100_000)
    runtimes: list[Runtime] | None = Field(default=None, max_length=len(RUNTIMES))


class WorkspaceLimitsOut(BaseModel):
    effective: LimitsOut = Field(description="What applies: its own, else the platform's.")
    own: LimitsUpdate = Field(description="Its own limits; null: the platform's.")
    platform: LimitsOut = Field(description="The platform's limits of workspaces.")


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: Role


class InvitationCreate(BaseModel):
    email: EmailStr
    role: Role = Role.READ


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    workspace_name: str
    email: str
    role: Role
    created_at: datetime


class RoleChange(BaseModel):
    role: Role


def _workspace_out(workspace: Workspace, role: Role, platform_default: Runtime) -> WorkspaceOut:
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        role=role,
        default_runtime=workspace.own_default_runtime,
        effective_default_runtime=workspace.effective_default_runtime(platform_default),
        platform_default_runtime=platform_default,
        created_at=workspace.created_at,
    )


def _limits_out(limits: WorkspaceLimits) -> LimitsOut:
    return LimitsOut(
        task_cpus=limits.task_cpus,
        task_memory_mb=limits.task_memory_mb,
        task_gpus=limits.task_gpus,
        active_runs=limits.active_runs,
        runtimes=[cast(Runtime, runtime) for runtime in limits.runtimes],
    )


def _workspace_limits_out(workspace: Workspace, platform: WorkspaceLimits) -> WorkspaceLimitsOut:
    return WorkspaceLimitsOut(
        effective=_limits_out(workspace.limits(platform)),
        own=LimitsUpdate(
            task_cpus=workspace.max_task_cpus,
            task_memory_mb=workspace.max_task_memory_mb,
            task_gpus=workspace.max_task_gpus,
            active_runs=workspace.max_active_runs,
            # Set only through the API's Runtime-typed field, so always runtimes.
            runtimes=cast("list[Runtime] | None", workspace.allowed_runtimes),
        ),
        platform=_limits_out(platform),
    )


def _invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        workspace_id=invitation.workspace_id,
        workspace_name=invitation.workspace.name,
        email=invitation.email,
        role=invitation.role,
        created_at=invitation.created_at,
    )


def create_workspace(session: Session, name: str, owner: User) -> Workspace:
    workspace = Workspace(name=name)
    workspace.memberships.append(Membership(user_id=owner.id, role=Role.OWNER))
    session.add(workspace)
    session.flush()
    return workspace


@router.post("/workspaces", status_code=status.HTTP_201_CREATED)
def create(
    body: WorkspaceCreate,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> WorkspaceOut:
    """A new workspace; you are its owner."""
    workspace = create_workspace(session, body.name, user)
    audit.record(
        session, request, "workspace.create", workspace_id=workspace.id, target=workspace.name
    )
    session.commit()
    return _workspace_out(workspace, Role.OWNER, context.default_runtime)


@router.get("/workspaces")
def list_workspaces(
    caller: CallerDep, session: SessionDep, context: ContextDep
) -> list[WorkspaceOut]:
    """The workspaces you are a member of (those of them a narrowed token reaches)."""
    rows = session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == caller.user.id)
        .order_by(Workspace.id)
    )
    return [
        _workspace_out(workspace, Role(role), context.default_runtime)
        for workspace, role in rows
        if caller.may_see(workspace.id)
    ]


@router.get("/workspaces/{workspace_id}")
def read(access: ReadAccess, context: ContextDep) -> WorkspaceOut:
    return _workspace_out(access.workspace, access.role, context.default_runtime)


@router.patch("/workspaces/{workspace_id}")
def update(
    body: WorkspaceUpdate,
    access: AdminAccess,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> WorkspaceOut:
    """Rename the workspace, or set its default runtime (null: the platform's); admins only.

    A new default applies to workflows deployed from then on.
    """
    if "name" in body.model_fields_set:
        if body.name is None:
            message = "a workspace needs a name"
            detail = ErrorDetail(where="/body/name", message=message)
            raise ApiError(422, message, details=[detail])
        access.workspace.name = body.name
    if "default_runtime" in body.model_fields_set:
        access.workspace.default_runtime = body.default_runtime
    audit.record(
        session,
        request,
        "workspace.update",
        workspace_id=access.workspace.id,
        target=access.workspace.name,
        detail=body.model_dump(mode="json", include=body.model_fields_set),
    )
    session.commit()
    return _workspace_out(access.workspace, access.role, context.default_runtime)


@router.get("/workspaces/{workspace_id}/limits")
def read_limits(access: ReadAccess, context: ContextDep) -> WorkspaceLimitsOut:
    """What the workspace's workflows may ask for: its own limits, else the platform's."""
    return _workspace_limits_out(access.workspace, context.default_limits)


@router.put("/workspaces/{workspace_id}/limits")
def set_limits(
    workspace_id: WorkspaceId,
    body: LimitsUpdate,
    caller: CallerDep,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> WorkspaceLimitsOut:
    """Set the workspace's own limits (platform administrators only, member or not); a null
    limit takes the platform's. Deploys from then on are checked against them."""
    user = caller.user
    workspace = session.get(Workspace, workspace_id)
    member = workspace is not None and any(m.user_id == user.id for m in workspace.memberships)
    if workspace is None or not caller.may_see(workspace_id) or not (user.is_admin or member):
        raise not_found(f"workspace {workspace_id}")  # as for every non-member
    if not user.is_admin:
        raise ApiError(403, "only platform administrators set the limits of workspaces")
    workspace.max_task_cpus = body.task_cpus
    workspace.max_task_memory_mb = body.task_memory_mb
    workspace.max_task_gpus = body.task_gpus
    workspace.max_active_runs = body.active_runs
    workspace.allowed_runtimes = (
        None if body.runtimes is None else list(dict.fromkeys(body.runtimes))
    )
    audit.record(
        session,
        request,
        "workspace.limits",
        workspace_id=workspace.id,
        target=workspace.name,
        detail=body.model_dump(mode="json"),
    )
    session.commit()
    return _workspace_limits_out(workspace, context.default_limits)


@router.delete("/workspaces/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(access: OwnerAccess, request: Request, session: SessionDep, context: ContextDep) -> None:
    """Delete the workspace and everything in it (owners only): its records, then its runs and
    datasets on the file system (its bucket, if any, is `flowui aws apply`'s to remove)."""
    workspace_id = access.workspace.id
    audit.record(
        session,
        request,
        "workspace.delete",
        workspace_id=workspace_id,
        target=access.workspace.name,
    )
    session.delete(access.workspace)
    session.commit()
    remove_workspace_tree(context.root, workspace_id)


@router.get("/workspaces/{workspace_id}/members")
def list_members(access: ReadAccess, session: SessionDep) -> list[MemberOut]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == access.workspace.id)
        .order_by(User.email)
    )
    return [
        MemberOut(user_id=u.id, email=u.email, display_name=u.display_name, role=Role(m.role))
        for m, u in rows
    ]


def _check_can_grant(access: WorkspaceAccess, role: Role) -> None:
    if role is Role.OWNER and access.role is not Role.OWNER:
        raise ApiError(403, "only an owner can make someone an owner")


@router.post("/workspaces/{workspace_id}/invitations", status_code=status.HTTP_201_CREATED)
def invite(
    body: InvitationCreate, access: AdminAccess, request: Request, session: SessionDep
) -> InvitationOut:
    """Invite an e-mail address with a role; the person accepts it once signed in."""
    _check_can_grant(access, body.role)
    email = body.email.strip().lower()
    already = session.scalar(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == access.workspace.id, func.lower(User.email) == email)
    )
    if already is not None:
        raise ApiError(409, f"{email} is already a member of this workspace")
    invitation = Invitation(
        workspace_id=access.workspace.id, email=email, role=body.role, invited_by_id=access.user.id
    )
    session.add(invitation)
    audit.record(
        session,
        request,
        "member.invite",
        workspace_id=access.workspace.id,
        target=email,
        detail={"role": body.role.value},
    )
    try:
        session.commit()
    except IntegrityError:
        raise ApiError(409, f"{email} is already invited to this workspace") from None
    return _invitation_out(invitation)


@router.get("/workspaces/{workspace_id}/invitations")
def list_invitations(access: AdminAccess, session: SessionDep) -> list[InvitationOut]:
    invitations = session.scalars(
        select(Invitation).where(Invitation.workspace_id == access.workspace.id)
    )
    return [_invitation_out(invitation) for invitation in invitations]


@router.get("/invitations")
def my_invitations(user: CurrentUser, session: SessionDep) -> list[InvitationOut]:
    """Invitations waiting for your e-mail address."""
    invitations = session.scalars(select(Invitation).where(Invitation.email == user.email))
    return [_invitation_out(invitation) for invitation in invitations]


@router.post("/invitations/{invitation_id}/accept")
def accept(
    invitation_id: Id,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> WorkspaceOut:
    """Join the workspace of an invitation made to your e-mail address."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.email != user.email:
        raise not_found(f"invitation {invitation_id}")
    session.add(
        Membership(workspace_id=invitation.workspace_id, user_id=user.id, role=invitation.role)
    )
    session.delete(invitation)
    audit.record(
        session,
        request,
        "member.join",
        workspace_id=invitation.workspace_id,
        target=user.email,
        detail={"role": Role(invitation.role).value},
    )
    session.commit()
    return _workspace_out(invitation.workspace, Role(invitation.role), context.default_runtime)


def _membership(session: Session, workspace_id: int, user_id: int) -> Membership:
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise not_found(f"member {user_id}")
    return membership


def _check_keeps_an_owner(session: Session, membership: Membership) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.workspace_id == membership.workspace_id, Membership.role == Role.OWNER)
    )
    if membership.role == Role.OWNER and owners == 1:
        raise ApiError(409, "a workspace needs an owner: make another member owner first")


@router.patch("/workspaces/{workspace_id}/members/{user_id}")
def change_role(
    user_id: Id, body: RoleChange, access: AdminAccess, request: Request, session: SessionDep
) -> MemberOut:
    membership = _membership(session, access.workspace.id, user_id)
    if Role(membership.role) is Role.OWNER or body.role is Role.OWNER:
        _check_can_grant(access, Role.OWNER)
    if body.role is not Role.OWNER:
        _check_keeps_an_owner(session, membership)
    old_role = Role(membership.role)
    membership.role = body.role
    member = membership.user
    audit.record(
        session,
        request,
        "member.role",
        workspace_id=access.workspace.id,
        target=member.email,
        detail={"old": old_role.value, "new": body.role.value},
    )
    session.commit()
    return MemberOut(
        user_id=member.id, email=member.email, display_name=member.display_name, role=body.role
    )


@router.delete(
    "/workspaces/{workspace_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT
)
def remove_member(user_id: Id, access: ReadAccess, request: Request, session: SessionDep) -> None:
    """Remove a member (admins and owners), or leave the workspace yourself (anyone)."""
    membership = _membership(session, access.workspace.id, user_id)
    if user_id != access.user.id:
        if not access.role.at_least(Role.ADMIN):
            raise ApiError(403, "only an admin or owner can remove other members")
        if Role(membership.role) is Role.OWNER:
            _check_can_grant(access, Role.OWNER)
    _check_keeps_an_owner(session, membership)
    audit.record(
        session,
        request,
        "member.remove",
        workspace_id=access.workspace.id,
        target=membership.user.email,
        detail={"role": Role(membership.role).value, "left": user_id == access.user.id},
    )
    session.delete(membership)
    session.commit()
