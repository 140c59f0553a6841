"""Importing an operator's folder as a Python package, so `from .model import ...` works."""

from __future__ import annotations

import hashlib
import importlib
import sys
import types
from pathlib import Path

MODEL_FILE_NAMES = ("model.py", "models.py")


def model_file_of(operator_dir: Path) -> Path | None:
    """The operator's model file: model.py, or models.py as in the original FlowUI layout."""
    for file_name in MODEL_FILE_NAMES:
        candidate = operator_dir / file_name
        if candidate.is_file():
            return candidate
    return None


def package_name_for(operator_dir: Path) -> str:
    # Unique per folder, so two repositories' operators of the same name never collide.
    digest = hashlib.sha1(str(operator_dir.resolve()).encode()).hexdigest()[:12]
    return f"flowui_operator_{operator_dir.name}_{digest}"


def import_operator_module(operator_dir: Path, module: str) -> types.ModuleType:
    """Import `module` (e.g. "model" or "operator") of the operator folder as a package member."""
    package_name = package_name_for(operator_dir)
    if package_name not in sys.modules:
        package = types.ModuleType(package_name)
        package.__path__ = [str(operator_dir.resolve())]
        package.__package__ = package_name
        sys.modules[package_name] = package
    return importlib.import_module(f"{package_name}.{module}")
