"""Secrets of a workspace, per operators repository: which are declared and set; set; unset.

No route for people ever answers a value. The one internal route gives values to the platform's
own processes (Airflow's workers, for a task that starts), authenticated by the internal token.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy.exc import IntegrityError

from flowui.server.deps import AdminAccess, ContextDep, ReadAccess, SessionDep
from flowui.server.errors import ApiError, ErrorDetail, not_found
from flowui.server.models import Workspace
from flowui.server.security import SecretDecryptionError
from flowui.server.services import audit
from flowui.server.services.secrets import (
    MAX_SECRET_VALUE_BYTES,
    find_secret,
    repository_name_problem,
    secret_name_problem,
    secret_values,
    store_secret,
    workspace_secrets,
)
from flowui.workflows.validate import json_pointer

router = APIRouter(prefix="/api", tags=["secrets"])

INTERNAL_SECRETS_PATH = "/internal/secrets"  # flowui.runtime.secrets.ServerSecrets calls it


class SecretOut(BaseModel):
    repository: str = Field(description="REPOSITORY_NAME of the operators repository.")
    name: str = Field(description="The SecretsModel field (and the task's environment variable).")
    is_set: bool
    updated_at: datetime | None = Field(description="When the value was last set.")
    used_by: list[str] = Field(
        description="Operators of the repository that declare it; empty when none does any more."
    )


class SecretValueIn(BaseModel):
    value: SecretStr = Field(
        min_length=1, description="The value; stored encrypted and never answered back."
    )

    @field_validator("value")
    @classmethod
    def _at_most_64_kib(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode("utf-8")) > MAX_SECRET_VALUE_BYTES:
            raise ValueError(f"a secret value has at most {MAX_SECRET_VALUE_BYTES} bytes (UTF-8)")
        return value


class SecretSetOut(BaseModel):
    repository: str
    name: str
    is_set: bool = True
    updated_at: datetime


class InternalSecretsIn(BaseModel):
    workspace_id: int
    repository: str = Field(max_length=100)
    names: list[str] = Field(max_length=1000)


class InternalSecretsOut(BaseModel):
    values: dict[str, str]


def _check_secret_path(repository: str, name: str) -> None:
    details = [
        ErrorDetail(where=json_pointer("path", field), message=problem)
        for field, problem in (
            ("repository", repository_name_problem(repository)),
            ("name", secret_name_problem(name)),
        )
        if problem is not None
    ]
    if details:
        raise ApiError(422, "the secret's repository or name is invalid", details=details)


@router.get("/workspaces/{workspace_id}/secrets")
def list_secrets(access: ReadAccess, session: SessionDep) -> list[SecretOut]:
    """Every secret the workspace's operators declare, whether it is set and who uses it; and
    set secrets that no operator declares any more. Never a value."""
    return [
        SecretOut(
            repository=secret.repository,
            name=secret.name,
            is_set=secret.is_set,
            updated_at=secret.updated_at,
            used_by=secret.used_by,
        )
        for secret in workspace_secrets(session, access.workspace.id)
    ]


@router.put("/workspaces/{workspace_id}/secrets/{repository}/{name}")
def set_secret(
    repository: str,
    name: str,
    body: SecretValueIn,
    access: AdminAccess,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> SecretSetOut:
    """Set a secret's value (encrypted at rest). The answer says it is set, never the value."""
    _check_secret_path(repository, name)
    secret = store_secret(
        session,
        context.keys,
        workspace_id=access.workspace.id,
        repository=repository,
        name=name,
        value=body.value.get_secret_value(),
        user_id=access.user.id,
    )
    # The name only: the value is in no record but the encrypted secret.
    audit.record(
        session,
        request,
        "secret.set",
        workspace_id=access.workspace.id,
        target=f"{repository}/{name}",
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(
            409, f"secret {repository}/{name} was set by someone else at the same time; try again"
        ) from None
    return SecretSetOut(repository=repository, name=name, updated_at=secret.updated_at)


@router.delete(
    "/workspaces/{workspace_id}/secrets/{repository}/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_secret(
    repository: str, name: str, access: AdminAccess, request: Request, session: SessionDep
) -> None:
    """Unset a secret: its value is deleted."""
    _check_secret_path(repository, name)
    secret = find_secret(session, access.workspace.id, repository, name)
    if secret is None:
        raise not_found(f"secret {repository}/{name}")
    session.delete(secret)
    audit.record(
        session,
        request,
        "secret.delete",
        workspace_id=access.workspace.id,
        target=f"{repository}/{name}",
    )
    session.commit()


def _check_internal_token(
    context: ContextDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    # A dependency, so that it answers before the body is looked at.
    if context.internal_token is None:
        raise ApiError(404, "Not Found")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), context.internal_token.encode()
    ):
        raise ApiError(
            401,
            "this route needs the platform's internal token",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.post(
    INTERNAL_SECRETS_PATH,
    include_in_schema=False,
    dependencies=[Depends(_check_internal_token)],
)
def internal_secret_values(
    body: InternalSecretsIn, context: ContextDep, session: SessionDep
) -> InternalSecretsOut:
    """The values of a repository's secrets for a task that starts; names not set are absent.

    For the platform's processes only (bearer internal token); absent when the server has none.
    """
    details = [
        ErrorDetail(where=json_pointer("body", "names", index), message=problem)
        for index, name in enumerate(body.names)
        if (problem := secret_name_problem(name)) is not None
    ]
    if (problem := repository_name_problem(body.repository)) is not None:
        details.insert(0, ErrorDetail(where="/body/repository", message=problem))
    if details:
        raise ApiError(422, "the request names an invalid repository or secret", details=details)
    if session.get(Workspace, body.workspace_id) is None:
        raise not_found(f"workspace {body.workspace_id}")
    try:
        values = secret_values(
            session, context.keys, body.workspace_id, body.repository, body.names
        )
    except SecretDecryptionError as error:
        raise ApiError(500, str(error), code="secret_key_mismatch") from None
    return InternalSecretsOut(values=values)
