"""Operators repositories of a workspace beyond HTTP: importing a source as a new repository or as
a new version of one (the checkout and its rows together, or neither), the workflows that use a
repository, and removing a repository with its checkouts."""

from __future__ import annotations

import fnmatch
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.exc import StaleDataError

from flowui.sandbox import SandboxPolicy, SandboxUnavailable
from flowui.server.errors import ApiError, ErrorDetail
from flowui.server.models import (
    Operator,
    Repository,
    RepositoryVersion,
    Workflow,
    WorkflowVersion,
)
from flowui.server.repository_import import (
    DEFAULT_GIT_TIMEOUT_SECONDS,
    ImportedRepository,
    ProblemEntry,
    RepositoryImportError,
    RepositorySource,
    import_repository,
    parse_source,
)
from flowui.storage import FileSystemRoot
from flowui.workflows.validate import json_pointer

SOURCES_SETTING = "FLOWUI_REPOSITORY_SOURCES"


def is_server_path(text: str) -> bool:
    """Whether a source names a path on the server (a directory or a file:// URL): reading the
    server's own files is for platform administrators only."""
    return text.strip().lower().startswith(("/", "file:"))


def checked_source(
    text: str, ref: str | None, token: str | None, *, stored: bool = False
) -> RepositorySource:
    """parse_source with a 422 that points at the field at fault (source, ref or token).

    `stored` says the source is a repository's own (an upgrade): one that cannot be read any
    more is a conflict with what was imported, not a bad request."""
    try:
        parse_source(text)
    except ValueError as error:
        if stored:
            raise ApiError(
                409, f"the repository's source {text} cannot be imported from any more: {error}"
            ) from None
        raise _bad_field("source", str(error)) from None
    try:
        parse_source(text, ref)
    except ValueError as error:
        raise _bad_field("ref", str(error)) from None
    try:
        return parse_source(text, ref, token)
    except ValueError as error:
        raise _bad_field("token", str(error)) from None


def source_allowed(source: RepositorySource, patterns: Sequence[str]) -> bool:
    """Whether the platform lets repositories come from `source`: no patterns, or one that
    matches its URL (`*` matches anything, `.git` at the end counts as absent). A URL whose path
    climbs with `.` or `..` matches none: a server would read it as another path."""
    if not patterns:
        return True
    url = source.url
    path = url if source.is_directory else urlsplit(url).path
    if any(part in (".", "..") for part in path.split("/")):
        return False
    forms = {url, url.removesuffix(".git"), url.rstrip("/")}
    return any(fnmatch.fnmatchcase(form, pattern) for form in forms for pattern in patterns)


def check_source_allowed(source: RepositorySource, patterns: Sequence[str]) -> None:
    """403 naming the setting when `source` is outside the platform's allowed sources."""
    if not source_allowed(source, patterns):
        raise ApiError(
            403,
            f"{source.url} is not among the sources this platform imports operators repositories "
            f"from ({SOURCES_SETTING}: {', '.join(patterns)}); ask a platform administrator",
        )


def _bad_field(field: str, reason: str) -> ApiError:
    return ApiError(
        422,
        f"cannot import from this {field}: {reason}",
        details=[ErrorDetail(where=json_pointer("body", field), message=reason)],
    )


def find_repository(session: Session, workspace_id: int, name: str) -> Repository | None:
    return session.scalar(
        select(Repository).where(Repository.workspace_id == workspace_id, Repository.name == name)
    )


def import_new_repository(
    session: Session,
    root: FileSystemRoot,
    workspace_id: int,
    source: RepositorySource,
    *,
    sandbox: SandboxPolicy,
    timeout: float = DEFAULT_GIT_TIMEOUT_SECONDS,
) -> Repository:
    """Fetch `source` into a new checkout and record it as a new repository of the workspace.

    422 for a source that cannot be fetched or an invalid repository; 409 when the workspace
    has a repository of that name already (that is an upgrade)."""
    imported = _fetched(session, root, workspace_id, source, sandbox, timeout, where="/body/source")
    with _checkout_removed_on_failure(imported):
        existing = find_repository(session, workspace_id, imported.name)
        if existing is not None:
            raise _already_imported(workspace_id, existing)
        repository = Repository(
            workspace_id=workspace_id,
            name=imported.name,
            source=imported.source,
            current_version=imported.version,
        )
        repository.versions.append(_version_row(workspace_id, imported))
        session.add(repository)
        _commit(session, f"repository {imported.name!r} was imported meanwhile: reload and retry")
    return repository


def import_repository_version(
    session: Session,
    root: FileSystemRoot,
    repository: Repository,
    source: RepositorySource,
    *,
    sandbox: SandboxPolicy,
    timeout: float = DEFAULT_GIT_TIMEOUT_SECONDS,
) -> RepositoryVersion:
    """Fetch `source` (the repository's own, at another ref) as a new version and make it the
    current one; versions in use by workflows stay as they are.

    409 when that VERSION is imported already."""
    # The ref is all an upgrade chooses: a fetch that fails is about it.
    imported = _fetched(
        session, root, repository.workspace_id, source, sandbox, timeout, where="/body/ref"
    )
    with _checkout_removed_on_failure(imported):
        if imported.name != repository.name:
            message = (
                f"at {source.describe(imported.ref)} the repository is named {imported.name!r},"
                f" not {repository.name!r}: import it as a repository of its own"
            )
            raise ApiError(422, message, details=[ErrorDetail(where="/body/ref", message=message)])
        same = session.scalar(
            select(RepositoryVersion).where(
                RepositoryVersion.repository_id == repository.id,
                RepositoryVersion.version == imported.version,
            )
        )
        if same is not None:
            origin = f"ref {same.ref!r}" if same.ref else "a copied directory"
            raise ApiError(
                409,
                f"version {imported.version} of {repository.name} is imported already (from "
                f"{origin}): a new version needs a new VERSION in its config.toml",
            )
        version = _version_row(repository.workspace_id, imported)
        repository.versions.append(version)
        repository.current_version = imported.version
        _commit(
            session,
            f"version {imported.version} of {repository.name} was imported meanwhile, or the "
            "repository was removed: reload and retry",
        )
    return version


def _fetched(
    session: Session,
    root: FileSystemRoot,
    workspace_id: int,
    source: RepositorySource,
    sandbox: SandboxPolicy,
    timeout: float,
    *,
    where: str,
) -> ImportedRepository:
    # Ends the session's read transaction: no connection or database lock is held while git runs.
    session.commit()
    checkout_id = f"r{workspace_id}_{secrets.token_hex(6)}"
    try:
        return import_repository(source, root, checkout_id, sandbox=sandbox, timeout=timeout)
    except RepositoryImportError as error:
        raise _import_failed(error, where) from None
    except SandboxUnavailable as error:
        raise ApiError(503, f"cannot import {source.describe()}: {error}") from None


def _import_failed(error: RepositoryImportError, where: str) -> ApiError:
    """422: one detail per problem of an invalid repository, else one at `where`."""
    if not error.problems:
        return ApiError(
            422, error.message, details=[ErrorDetail(where=where, message=error.message)]
        )
    count = len(error.problems)
    headline = error.message.splitlines()[0].rstrip(":")
    return ApiError(
        422,
        f"{headline} ({count} problem{'s' if count != 1 else ''})",
        details=[_problem_detail(problem) for problem in error.problems],
    )


def _problem_detail(problem: ProblemEntry) -> ErrorDetail:
    operator = problem["operator"]
    where = json_pointer("operators", operator) if operator else problem["file"]
    line = f":{problem['line']}" if problem["line"] is not None else ""
    return ErrorDetail(where=where, message=f"{problem['file']}{line}: {problem['message']}")


@contextmanager
def _checkout_removed_on_failure(imported: ImportedRepository) -> Iterator[None]:
    try:
        yield
    except BaseException:
        shutil.rmtree(imported.path, ignore_errors=True)
        raise


def _commit(session: Session, conflict: str) -> None:
    try:
        session.commit()
    except (IntegrityError, StaleDataError):
        session.rollback()
        raise ApiError(409, conflict) from None


def _already_imported(workspace_id: int, repository: Repository) -> ApiError:
    upgrade = f"/api/workspaces/{workspace_id}/repositories/{repository.id}/upgrade"
    return ApiError(
        409,
        f"repository {repository.name!r} is imported in this workspace already (repository "
        f"{repository.id}, version {repository.current_version}): import a new version of it "
        f"with POST {upgrade}",
    )


def _version_row(workspace_id: int, imported: ImportedRepository) -> RepositoryVersion:
    return RepositoryVersion(
        checkout_id=imported.checkout_id,
        version=imported.version,
        ref=imported.ref,
        commit=imported.commit,
        compiled_metadata=imported.operators,
        dependencies_map=imported.dependencies_map,
        operators=[
            Operator(
                workspace_id=workspace_id,
                name=name,
                description=entry.get("description", ""),
                tags=list(entry.get("tags", [])),
                entry=entry,
            )
            for name, entry in imported.operators.items()
        ],
    )


def workflows_using(session: Session, repository: Repository) -> list[Workflow]:
    """Workflows of the repository's workspace whose current or deployed version has a task
    running one of its operators."""
    rows = session.execute(
        select(Workflow, WorkflowVersion.document)
        .join(WorkflowVersion, WorkflowVersion.workflow_id == Workflow.id)
        .where(
            Workflow.workspace_id == repository.workspace_id,
            (WorkflowVersion.number == Workflow.current_version)
            | (WorkflowVersion.number == Workflow.deployed_version),
        )
        .order_by(Workflow.name)
    )
    using: list[Workflow] = []
    for workflow, document in rows:
        if workflow not in using and repository.name in _repositories_of(document):
            using.append(workflow)
    return using


def _repositories_of(document: Any) -> set[str]:
    # Stored documents were validated when saved, but read them as the plain JSON they are.
    tasks = document.get("tasks") if isinstance(document, dict) else None
    names = set()
    for task in tasks if isinstance(tasks, list) else []:
        operator = task.get("operator") if isinstance(task, dict) else None
        if isinstance(operator, dict) and isinstance(operator.get("repository"), str):
            names.add(operator["repository"])
    return names


def remove_repository(session: Session, root: FileSystemRoot, repository: Repository) -> None:
    """Delete the repository's rows, then every checkout of it (409 while workflows use it)."""
    using = workflows_using(session, repository)
    if using:
        names = ", ".join(repr(workflow.name) for workflow in using)
        raise ApiError(
            409,
            f"repository {repository.name!r} is used by the workflows {names}: remove its "
            "operators from their current and deployed versions first",
            details=[
                ErrorDetail(
                    where=json_pointer("workflows", workflow.id),
                    message=f"workflow {workflow.name!r} uses operators of {repository.name}",
                )
                for workflow in using
            ],
        )
    checkouts = [root.operators_repository(version.checkout_id) for version in repository.versions]
    session.delete(repository)
    session.commit()
    for checkout in checkouts:
        # The rows are gone: a directory left behind is only unused space.
        shutil.rmtree(checkout, ignore_errors=True)


# --- operators ------------------------------------------------------------------------------

OperatorRow = tuple[Operator, RepositoryVersion, Repository]


def find_operators(
    session: Session,
    workspace_id: int,
    *,
    text: str | None = None,
    tag: str | None = None,
    repository: str | None = None,
    all_versions: bool = False,
) -> list[OperatorRow]:
    """Operators of the workspace, of each repository's current version unless `all_versions`;
    `text` is looked for in names and descriptions, `tag` matched whole (both ignore case)."""
    query = (
        select(Operator, RepositoryVersion, Repository)
        .join(RepositoryVersion, RepositoryVersion.id == Operator.repository_version_id)
        .join(Repository, Repository.id == RepositoryVersion.repository_id)
        .where(Repository.workspace_id == workspace_id)
        .order_by(Repository.name, Operator.name, RepositoryVersion.imported_at)
        # The version's whole compiled metadata is not needed here: loaded once per row, it
        # made listing a repository of 1,000 operators take half a minute.
        .options(
            defer(RepositoryVersion.compiled_metadata), defer(RepositoryVersion.dependencies_map)
        )
    )
    if not all_versions:
        query = query.where(RepositoryVersion.version == Repository.current_version)
    if repository:
        query = query.where(Repository.name == repository)
    if text:
        needle = text.lower()
        query = query.where(
            func.lower(Operator.name).contains(needle, autoescape=True)
            | func.lower(Operator.description).contains(needle, autoescape=True)
        )
    rows = [(operator, version, owner) for operator, version, owner in session.execute(query)]
    if tag:
        # Tags are a JSON list: matched here, alike on every database.
        wanted = tag.lower()
        rows = [row for row in rows if wanted in (str(each).lower() for each in row[0].tags)]
    return rows


def find_operator(session: Session, workspace_id: int, operator_id: int) -> OperatorRow | None:
    row = session.execute(
        select(Operator, RepositoryVersion, Repository)
        .join(RepositoryVersion, RepositoryVersion.id == Operator.repository_version_id)
        .join(Repository, Repository.id == RepositoryVersion.repository_id)
        .where(Operator.id == operator_id, Repository.workspace_id == workspace_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def dependency_group(
    version: RepositoryVersion, operator: str
) -> tuple[str, dict[str, Any]] | None:
    """The name and entry of the dependency group (dependencies_map.json) of `operator`."""
    for name, group in version.dependencies_map.items():
        if isinstance(group, dict) and operator in group.get("operators", []):
            return name, group
    return None
