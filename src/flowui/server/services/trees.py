"""Each workspace keeps its runs and datasets in its own tree (`FileSystemRoot.workspace`).
Servers before the trees kept them in the root's shared `runs/` and `dataset/`: what is still
there is moved into its workspace's tree when the server opens its database."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowui.server.models import Dataset, Workflow
from flowui.storage import FileSystemRoot


def move_into_workspace_trees(session: Session, root: FileSystemRoot) -> list[Path]:
    """Move each workflow's runs and each dataset from the root's shared folders into its
    workspace's tree; return what was moved (each is one rename, on the same file system).
    Something already in the tree is left alone, and so is the old copy beside it. Only the
    names found in those folders are looked up: once moved, a start costs two listings."""
    runs, datasets = _names_in(root.runs), _names_in(root.datasets)
    moves = []
    if runs:
        moves += [
            (root.dag_runs(dag_id), root.workspace(workspace_id).dag_runs(dag_id))
            for dag_id, workspace_id in session.execute(
                select(Workflow.dag_id, Workflow.workspace_id).where(Workflow.dag_id.in_(runs))
            )
        ]
    if datasets:
        moves += [
            (root.dataset(storage_id), root.workspace(workspace_id).dataset(storage_id))
            for storage_id, workspace_id in session.execute(
                select(Dataset.storage_id, Dataset.workspace_id).where(
                    Dataset.storage_id.in_(datasets)
                )
            )
        ]
    moved = []
    for source, target in moves:
        if source.is_dir() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            moved.append(target)
    return moved


def _names_in(folder: Path) -> list[str]:
    return [entry.name for entry in folder.iterdir() if entry.is_dir()] if folder.is_dir() else []


def remove_workspace_tree(root: FileSystemRoot, workspace_id: int) -> None:
    """Delete a deleted workspace's runs, datasets and models: nothing of it is left for a
    workspace that might be given its id later."""
    shutil.rmtree(root.workspace(workspace_id).path, ignore_errors=True)
