"""Operators of a workspace's imported repositories: list and search, and each one's metadata,
JSON Schemas and the secrets it declares (whether they are set, never their values)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from flowui.server.deps import Id, ReadAccess, SessionDep
from flowui.server.errors import not_found
from flowui.server.models import Operator, Repository, RepositoryVersion
from flowui.server.services.repositories import dependency_group, find_operator, find_operators
from flowui.server.services.secrets import declared_secret_names, secrets_set

router = APIRouter(prefix="/api/workspaces/{workspace_id}/operators", tags=["operators"])

# What organize derives from the code; the rest of an entry is the operator's metadata.json.
_DERIVED_KEYS = frozenset(
    {"input_schema", "output_schema", "secrets_schema", "source_path", "source_hash"}
)


class OperatorSummary(BaseModel):
    id: int
    repository_id: int
    repository: str = Field(description="REPOSITORY_NAME of its operators repository.")
    repository_version: str = Field(description="VERSION of the repository it was imported with.")
    is_current: bool = Field(description="Whether that is the repository's current version.")
    name: str
    version: str = Field(description="The version a workflow's task names to run it.")
    description: str
    tags: list[str]
    style: dict[str, Any] = Field(description="How the GUI draws its node (metadata.json).")
    has_input_schema: bool
    has_output_schema: bool


class DependencyGroupOut(BaseModel):
    name: str = Field(description="The group's key in dependencies_map.json, e.g. group0.")
    dependency: dict[str, Any]
    image: str | None = Field(description="The image its tasks run in outside the process runtime.")


class SecretStatusOut(BaseModel):
    name: str = Field(description="A field of the operator's SecretsModel.")
    is_set: bool = Field(description="Whether the workspace has a value for it (never shown).")


class OperatorDetail(OperatorSummary):
    metadata: dict[str, Any] = Field(description="Its metadata.json as organized.")
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    secrets_schema: dict[str, Any] | None
    container_resources: dict[str, Any] | None
    dependency_group: DependencyGroupOut | None
    secrets: list[SecretStatusOut]


def _schema(entry: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = entry.get(key)
    return value if isinstance(value, dict) else None


def operator_summary(
    operator: Operator, version: RepositoryVersion, repository: Repository
) -> OperatorSummary:
    entry = operator.entry
    style = entry.get("style")
    return OperatorSummary(
        id=operator.id,
        repository_id=repository.id,
        repository=repository.name,
        repository_version=version.version,
        is_current=version.version == repository.current_version,
        name=operator.name,
        version=str(entry.get("version") or version.version),
        description=operator.description,
        tags=[str(tag) for tag in operator.tags],
        style=style if isinstance(style, dict) else {},
        has_input_schema=_schema(entry, "input_schema") is not None,
        has_output_schema=_schema(entry, "output_schema") is not None,
    )


@router.get("")
def list_operators(
    access: ReadAccess,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the name or description.")
    ] = None,
    tag: Annotated[str | None, Query(max_length=200, description="A tag, whole.")] = None,
    repository: Annotated[
        str | None, Query(max_length=100, description="Only this repository (by name).")
    ] = None,
    all_versions: Annotated[
        bool, Query(description="Every imported version, not only the current ones.")
    ] = False,
) -> list[OperatorSummary]:
    """The workspace's operators, by repository and name; search ignores case."""
    rows = find_operators(
        session,
        access.workspace.id,
        text=q,
        tag=tag,
        repository=repository,
        all_versions=all_versions,
    )
    return [operator_summary(*row) for row in rows]


@router.get("/{operator_id}")
def read_operator(operator_id: Id, access: ReadAccess, session: SessionDep) -> OperatorDetail:
    """An operator's metadata, its input, output and secrets JSON Schemas, container resources,
    dependency group, and which of its secrets have a value in the workspace."""
    row = find_operator(session, access.workspace.id, operator_id)
    if row is None:
        raise not_found(f"operator {operator_id}")
    operator, version, repository = row
    entry = operator.entry
    group = dependency_group(version, operator.name)
    resources = entry.get("container_resources")
    have_values = secrets_set(session, access.workspace.id, repository.name)
    return OperatorDetail(
        **operator_summary(operator, version, repository).model_dump(),
        metadata={key: value for key, value in entry.items() if key not in _DERIVED_KEYS},
        input_schema=_schema(entry, "input_schema"),
        output_schema=_schema(entry, "output_schema"),
        secrets_schema=_schema(entry, "secrets_schema"),
        container_resources=resources if isinstance(resources, dict) else None,
        dependency_group=None
        if group is None
        else DependencyGroupOut(
            name=group[0],
            dependency=group[1].get("dependency") or {},
            image=group[1].get("source_image"),
        ),
        secrets=[
            SecretStatusOut(name=name, is_set=name in have_values)
            for name in declared_secret_names(entry)
        ],
    )
