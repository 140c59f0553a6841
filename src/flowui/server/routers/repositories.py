"""Operators repositories of a workspace: import one from git at a ref, list them, upgrade one to
another ref (a new version; workflows keep the version they use), remove one nothing uses.

Importing runs git and inspects model files on the server (in a sandbox): it needs the role the
platform asks for (FLOWUI_REPOSITORY_IMPORTERS: workspace admins, owners, or platform
administrators only), a source the platform allows (FLOWUI_REPOSITORY_SOURCES), and for a path
on the server (a directory or a file:// URL) a platform administrator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flowui.server.context import ServerContext
from flowui.server.deps import AdminAccess, ContextDep, Id, ReadAccess, SessionDep, WorkspaceAccess
from flowui.server.errors import ApiError, error_responses, not_found
from flowui.server.models import Operator, Repository, RepositoryVersion, Role
from flowui.server.routers.operators import OperatorSummary, operator_summary
from flowui.server.services import audit
from flowui.server.services.repositories import (
    check_source_allowed,
    checked_source,
    find_operators,
    import_new_repository,
    import_repository_version,
    is_server_path,
    remove_repository,
)

router = APIRouter(
    prefix="/api/workspaces/{workspace_id}/repositories",
    tags=["repositories"],
    responses=error_responses(503),  # no sandbox for the model files here
)

_TOKEN = Field(
    default=None,
    description="A GitHub token for a private https repository: used for this import only, "
    "never stored nor answered back.",
)


class RepositoryImport(BaseModel):
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="https://, ssh:// or git@host:path URL, GitHub's owner/repository, or (for "
        "platform administrators) an absolute path or file:// URL on the server.",
    )
    ref: str | None = Field(
        default=None, description="Branch, tag or commit; the default branch when empty."
    )
    token: SecretStr | None = _TOKEN


class RepositoryUpgrade(BaseModel):
    ref: str | None = Field(
        default=None,
        description="Branch, tag or commit to import from the repository's source; the default "
        "branch when empty (leave it empty for a copied directory: it is copied again).",
    )
    token: SecretStr | None = _TOKEN


class RepositoryVersionOut(BaseModel):
    version: str = Field(description="VERSION of its config.toml.")
    ref: str | None = Field(description="The ref it was imported from; none for a directory.")
    commit: str | None
    imported_at: datetime
    operator_count: int


class RepositoryOut(BaseModel):
    id: int
    name: str = Field(description="REPOSITORY_NAME of its config.toml.")
    source: str
    current_version: str = Field(description="The version new workflow tasks get.")
    versions: list[RepositoryVersionOut] = Field(
        description="Every imported version, oldest first."
    )
    operator_count: int = Field(description="Operators of the current version.")
    created_at: datetime
    updated_at: datetime


class RepositoryDetail(RepositoryOut):
    operators: list[OperatorSummary] = Field(description="Operators of the current version.")


def _repositories_out(session: Session, repositories: Sequence[Repository]) -> list[RepositoryOut]:
    # Columns only: the versions' compiled metadata stays in the database.
    rows = session.execute(
        select(
            RepositoryVersion.repository_id,
            RepositoryVersion.version,
            RepositoryVersion.ref,
            RepositoryVersion.commit,
            RepositoryVersion.imported_at,
            func.count(Operator.id),
        )
        .outerjoin(Operator, Operator.repository_version_id == RepositoryVersion.id)
        .where(RepositoryVersion.repository_id.in_([each.id for each in repositories]))
        .group_by(RepositoryVersion.id)
        .order_by(RepositoryVersion.id)
    )
    versions: dict[int, list[RepositoryVersionOut]] = {}
    for repository_id, version, ref, commit, imported_at, count in rows:
        versions.setdefault(repository_id, []).append(
            RepositoryVersionOut(
                version=version,
                ref=ref,
                commit=commit,
                imported_at=imported_at,
                operator_count=count,
            )
        )
    return [
        RepositoryOut(
            id=repository.id,
            name=repository.name,
            source=repository.source,
            current_version=repository.current_version,
            versions=versions.get(repository.id, []),
            operator_count=sum(
                each.operator_count
                for each in versions.get(repository.id, [])
                if each.version == repository.current_version
            ),
            created_at=repository.created_at,
            updated_at=repository.updated_at,
        )
        for repository in repositories
    ]


def _repository_detail(session: Session, repository: Repository) -> RepositoryDetail:
    [summary] = _repositories_out(session, [repository])
    operators = find_operators(session, repository.workspace_id, repository=repository.name)
    return RepositoryDetail(
        **summary.model_dump(), operators=[operator_summary(*row) for row in operators]
    )


def _workspace_repository(session: Session, workspace_id: int, repository_id: int) -> Repository:
    repository = session.get(Repository, repository_id)
    if repository is None or repository.workspace_id != workspace_id:
        raise not_found(f"repository {repository_id}")
    return repository


def _check_may_import(access: WorkspaceAccess, context: ServerContext, text: str) -> None:
    """403 unless the caller may import, and from `text` if it is a path on the server (checked
    before the source is parsed: parsing a path tells whether it exists)."""
    importers = context.repository_importers
    if not access.user.is_admin and (
        importers == "platform-admins"
        or (importers == "workspace-owners" and access.role is not Role.OWNER)
    ):
        who = "platform administrators" if importers == "platform-admins" else "workspace owners"
        raise ApiError(
            403,
            f"on this platform only {who} import operators repositories "
            f"(FLOWUI_REPOSITORY_IMPORTERS={importers})",
        )
    if is_server_path(text) and not access.user.is_admin:
        raise ApiError(
            403,
            f"{text.strip()} is a path on the server: only platform administrators may import "
            "from the server's own directories or file:// URLs; give an https:// or ssh:// URL",
        )


def _token(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _record_import(session: Session, request: Request, action: str, repository: Repository) -> None:
    """Record an import or upgrade once the service has committed it: it commits before git
    runs, so the event cannot join the change's transaction; it follows in its own."""
    audit.record(
        session,
        request,
        action,
        workspace_id=repository.workspace_id,
        target=repository.name,
        # The stored source: a token is never part of it (credentials in URLs are refused).
        detail={"source": repository.source, "version": repository.current_version},
    )
    session.commit()


@router.post("", status_code=status.HTTP_201_CREATED)
def import_repository(
    body: RepositoryImport,
    access: AdminAccess,
    request: Request,
    context: ContextDep,
    session: SessionDep,
) -> RepositoryDetail:
    """Fetch an operators repository at a ref, validate it and add it with its operators.

    An invalid repository is answered with one detail per problem and leaves nothing behind.
    A repository of the same name is upgraded instead (POST .../{repository_id}/upgrade)."""
    _check_may_import(access, context, body.source)
    source = checked_source(body.source, body.ref, _token(body.token))
    check_source_allowed(source, context.repository_sources)
    repository = import_new_repository(
        session, context.root, access.workspace.id, source, sandbox=context.sandbox
    )
    _record_import(session, request, "repository.import", repository)
    return _repository_detail(session, repository)


@router.get("")
def list_repositories(access: ReadAccess, session: SessionDep) -> list[RepositoryOut]:
    """The workspace's repositories, by name, with every imported version."""
    repositories = session.scalars(
        select(Repository)
        .where(Repository.workspace_id == access.workspace.id)
        .order_by(Repository.name)
    ).all()
    return _repositories_out(session, repositories)


@router.get("/{repository_id}")
def read_repository(repository_id: Id, access: ReadAccess, session: SessionDep) -> RepositoryDetail:
    """A repository with its versions and the operators of its current version."""
    return _repository_detail(
        session, _workspace_repository(session, access.workspace.id, repository_id)
    )


@router.post("/{repository_id}/upgrade")
def upgrade_repository(
    repository_id: Id,
    body: RepositoryUpgrade,
    access: AdminAccess,
    request: Request,
    context: ContextDep,
    session: SessionDep,
) -> RepositoryDetail:
    """Import another ref of the repository's source as a new version and make it current.

    Its VERSION must be new (409 otherwise); workflows keep the versions they name."""
    repository = _workspace_repository(session, access.workspace.id, repository_id)
    _check_may_import(access, context, repository.source)
    source = checked_source(repository.source, body.ref, _token(body.token), stored=True)
    check_source_allowed(source, context.repository_sources)
    import_repository_version(session, context.root, repository, source, sandbox=context.sandbox)
    _record_import(session, request, "repository.upgrade", repository)
    return _repository_detail(session, repository)


@router.delete("/{repository_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_repository(
    repository_id: Id,
    access: AdminAccess,
    request: Request,
    context: ContextDep,
    session: SessionDep,
) -> None:
    """Remove a repository with every version and checkout; refused (409) while the current or
    deployed version of a workflow uses one of its operators."""
    repository = _workspace_repository(session, access.workspace.id, repository_id)
    # Committed with the removal by the service; dropped with the session if it is refused.
    audit.record(
        session,
        request,
        "repository.delete",
        workspace_id=access.workspace.id,
        target=repository.name,
    )
    remove_repository(session, context.root, repository)
