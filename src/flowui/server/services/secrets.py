"""A workspace's secrets: which ones its operators declare, which are set, and their values.

Values are stored encrypted (ServerKeys, Fernet) and decrypted only for a task that starts
(the internal route behind flowui.runtime.secrets.ServerSecrets); nothing here returns a value
to a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.models import Operator, Repository, RepositoryVersion, Secret, utc_now
from flowui.server.security import ServerKeys
from flowui.storage import InvalidIdError, validate_id
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.spec import Workflow
from flowui.workflows.validate import WorkflowError, json_pointer

MAX_SECRET_NAME_LENGTH = 200
MAX_REPOSITORY_NAME_LENGTH = 100
MAX_SECRET_VALUE_BYTES = 64 * 1024
# A SecretsModel field's name, which is also the environment variable the task receives.
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def secret_name_problem(name: str) -> str | None:
    """Why `name` cannot name a secret, or None."""
    if len(name) > MAX_SECRET_NAME_LENGTH:
        return f"a secret name has at most {MAX_SECRET_NAME_LENGTH} characters"
    if not _SECRET_NAME.fullmatch(name):
        return (
            "a secret name is a field name of the operator's SecretsModel: letters, digits and "
            "'_', not starting with a digit"
        )
    return None


def repository_name_problem(name: str) -> str | None:
    """Why `name` cannot be an operators repository's REPOSITORY_NAME, or None."""
    if len(name) > MAX_REPOSITORY_NAME_LENGTH:
        return f"a repository name has at most {MAX_REPOSITORY_NAME_LENGTH} characters"
    try:
        validate_id(name, "a repository name")
    except InvalidIdError as error:
        return str(error)
    return None


def declared_secret_names(entry: dict[str, Any]) -> list[str]:
    """The secrets an operator declares: the fields of its SecretsModel's JSON Schema."""
    schema = entry.get("secrets_schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return sorted(properties) if isinstance(properties, dict) else []


@dataclass
class SecretStatus:
    """A secret of a workspace as people may see it: never its value."""

    repository: str
    name: str
    is_set: bool = False
    updated_at: datetime | None = None
    used_by: list[str] = field(default_factory=list)


def workspace_secrets(session: Session, workspace_id: int) -> list[SecretStatus]:
    """Every secret the workspace's repositories declare (in any imported version), set or not,
    and every set secret that nothing declares any more; sorted by repository and name."""
    statuses: dict[tuple[str, str], SecretStatus] = {}
    declared = session.execute(
        select(Repository.name, Operator.name, Operator.entry)
        .join(RepositoryVersion, RepositoryVersion.repository_id == Repository.id)
        .join(Operator, Operator.repository_version_id == RepositoryVersion.id)
        .where(Repository.workspace_id == workspace_id)
    )
    for repository, operator, entry in declared:
        for name in declared_secret_names(entry):
            status = statuses.setdefault((repository, name), SecretStatus(repository, name))
            if operator not in status.used_by:
                status.used_by.append(operator)
    stored = session.execute(
        select(Secret.repository_name, Secret.name, Secret.updated_at).where(
            Secret.workspace_id == workspace_id
        )
    )
    for repository, name, updated_at in stored:
        status = statuses.setdefault((repository, name), SecretStatus(repository, name))
        status.is_set = True
        status.updated_at = updated_at
    for status in statuses.values():
        status.used_by.sort()
    return [statuses[key] for key in sorted(statuses)]


def secrets_set(session: Session, workspace_id: int, repository: str) -> set[str]:
    """Names of the repository's secrets that have a value in the workspace."""
    return set(
        session.scalars(
            select(Secret.name).where(
                Secret.workspace_id == workspace_id, Secret.repository_name == repository
            )
        )
    )


def unset_secret_problems(
    session: Session, workspace_id: int, workflow: Workflow, catalog: OperatorCatalog
) -> list[WorkflowError]:
    """Every task whose operator needs a secret the workspace has not set, at its task's
    pointer: deployed, it could only fail when it starts."""
    problems: list[WorkflowError] = []
    have: dict[str, set[str]] = {}
    for index, task in enumerate(workflow.tasks):
        reference = task.operator
        operator = catalog.find(reference.repository, reference.name, reference.version)
        if operator is None or not operator.required_secrets:
            continue
        if operator.repository not in have:
            have[operator.repository] = secrets_set(session, workspace_id, operator.repository)
        missing = [
            name for name in operator.required_secrets if name not in have[operator.repository]
        ]
        if missing:
            problems.append(
                WorkflowError(
                    json_pointer("tasks", index, "operator"),
                    f"task {task.id} ({reference.name} {reference.version}) needs the "
                    f"{'secret' if len(missing) == 1 else 'secrets'} {', '.join(missing)} of "
                    f"repository {operator.repository}, not set in this workspace: set "
                    f"{'it' if len(missing) == 1 else 'them'} in the workspace's secrets",
                )
            )
    return problems


def find_secret(session: Session, workspace_id: int, repository: str, name: str) -> Secret | None:
    return session.scalar(
        select(Secret).where(
            Secret.workspace_id == workspace_id,
            Secret.repository_name == repository,
            Secret.name == name,
        )
    )


def store_secret(
    session: Session,
    keys: ServerKeys,
    *,
    workspace_id: int,
    repository: str,
    name: str,
    value: str,
    user_id: int,
) -> Secret:
    """Encrypt `value` and set it as the secret (a new one, or replacing the old value)."""
    secret = find_secret(session, workspace_id, repository, name)
    if secret is None:
        secret = Secret(workspace_id=workspace_id, repository_name=repository, name=name)
        session.add(secret)
    secret.ciphertext = keys.encrypt(value)
    secret.updated_by_id = user_id
    secret.updated_at = utc_now()
    return secret


def secret_values(
    session: Session,
    keys: ServerKeys,
    workspace_id: int,
    repository: str,
    names: Iterable[str],
) -> dict[str, str]:
    """The decrypted values of those of `names` that are set; for a task about to start only."""
    rows = session.execute(
        select(Secret.name, Secret.ciphertext).where(
            Secret.workspace_id == workspace_id,
            Secret.repository_name == repository,
            Secret.name.in_(list(names)),
        )
    )
    return {name: keys.decrypt(ciphertext) for name, ciphertext in rows}
