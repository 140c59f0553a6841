"""Installing an operators repository into the file-system root, where every runtime sees it.

The checkout lands in `operators_repositories/{REPOSITORY_NAME}` whole or not at all: it is
copied and organized beside the target, then swapped in with renames.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from flowui.operators.organize import organize_repository
from flowui.operators.validate import ValidationReport
from flowui.storage import FileSystemRoot

_NOT_COPIED = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".venv", ".pytest_cache")


class InstallError(ValueError):
    """The repository is not valid; `report` has every problem."""

    def __init__(self, source: Path, report: ValidationReport) -> None:
        self.report = report
        problems = "\n".join(str(problem) for problem in report.problems)
        super().__init__(f"{source} is not a valid operators repository:\n{problems}")


def install_repository(
    source: Path,
    root: FileSystemRoot,
    *,
    on_inspected: Callable[[str], None] | None = None,
) -> Path:
    """Copy `source` into the root, organize the copy, and return where it is installed."""
    root.operators_repositories.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=root.operators_repositories))
    try:
        copy = Path(shutil.copytree(source, staging / "repository", ignore=_NOT_COPIED))
        result = organize_repository(copy, on_inspected=on_inspected)
        if not result.report.ok or result.report.config is None:
            raise InstallError(source, result.report)
        target = root.operators_repository(result.report.config.name)
        if target.exists():
            target.rename(staging / "previous")
        copy.rename(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
