"""The operators a workspace can use: every imported version of its repositories."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.models import Repository, RepositoryVersion
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import OperatorCatalog, load_repository_catalog


def workspace_catalog(session: Session, root: FileSystemRoot, workspace_id: int) -> OperatorCatalog:
    """Read from the checkouts' `.flowui` files (JSON only: no operator code is imported)."""
    checkouts = session.scalars(
        select(RepositoryVersion.checkout_id)
        .join(Repository, Repository.id == RepositoryVersion.repository_id)
        .where(Repository.workspace_id == workspace_id)
        .order_by(RepositoryVersion.id)
    )
    operators = []
    for checkout_id in checkouts:
        operators.extend(load_repository_catalog(root.operators_repository(checkout_id)))
    return OperatorCatalog(operators)
