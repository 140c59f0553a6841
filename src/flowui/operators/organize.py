"""Organizing a repository: writing its `.flowui/` compiled metadata and dependencies map.

Both files are a pure function of the repository's content (sorted keys, no timestamps), so the
same repository always gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS
from flowui.operators.metadata import Dependency, RepositoryConfig
from flowui.operators.validate import OperatorSource, ValidationReport, validate_repository
from flowui.sandbox import RemoteInspection, Sandbox
from flowui.storage import write_json_atomically

FLOWUI_DIR = ".flowui"
COMPILED_METADATA_FILE = "compiled_metadata.json"
DEPENDENCIES_MAP_FILE = "dependencies_map.json"


@dataclass
class OrganizeResult:
    report: ValidationReport
    compiled_metadata: dict[str, Any] | None = None
    dependencies_map: dict[str, Any] | None = None
    written: tuple[Path, ...] = ()


def organize_repository(
    repository: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_inspecting: Callable[[int], None] | None = None,
    on_inspected: Callable[[str], None] | None = None,
    sandbox: Sandbox | RemoteInspection | None = None,
) -> OrganizeResult:
    """Validate, then write both `.flowui` files; nothing is written if any problem is found.
    Model files are imported in `sandbox` if given."""
    report = validate_repository(
        repository,
        timeout=timeout,
        on_inspecting=on_inspecting,
        on_inspected=on_inspected,
        sandbox=sandbox,
    )
    if not report.ok or report.config is None:
        return OrganizeResult(report)
    compiled = compile_metadata(report.repository, report.config, report.operators)
    dependencies = map_dependencies(report.config, report.operators)
    target = report.repository / FLOWUI_DIR
    target.mkdir(exist_ok=True)
    written = (
        write_json_atomically(target / COMPILED_METADATA_FILE, compiled),
        write_json_atomically(target / DEPENDENCIES_MAP_FILE, dependencies),
    )
    return OrganizeResult(report, compiled, dependencies, written)


def holds_original_flowui_files(repository: Path) -> bool:
    """Whether `.flowui/` holds files that the original FlowUI's organize wrote, not FlowUI's.

    Repositories of the original layout commit them: groups named `<repository>_image_<N>`,
    pydantic v1 schemas, no versions. FlowUI reads none of it and organizes such a repository
    again; every entry of its own compiled metadata has a `source_hash`.
    """
    try:
        compiled = json.loads(
            (repository / FLOWUI_DIR / COMPILED_METADATA_FILE).read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return False  # missing or unreadable: not a format, and reported as such elsewhere
    return isinstance(compiled, dict) and all(
        isinstance(entry, dict) and "source_hash" not in entry for entry in compiled.values()
    )


def compile_metadata(
    repository: Path, config: RepositoryConfig, operators: list[OperatorSource]
) -> dict[str, Any]:
    compiled: dict[str, Any] = {}
    for operator in operators:
        assert operator.metadata is not None  # validated
        entry = operator.metadata.model_dump(mode="json", exclude_none=True)
        entry["version"] = operator.metadata.version or config.version
        entry["style"].setdefault("node_label", operator.name)
        # Schemas of the original layout's key names, so its platform code reads them too.
        entry["input_schema"] = operator.schemas.get("input")
        entry["output_schema"] = operator.schemas.get("output")
        entry["secrets_schema"] = operator.schemas.get("secrets")
        entry["source_path"] = operator.directory.relative_to(repository).as_posix()
        entry["source_hash"] = hash_operator_folder(operator.directory)
        compiled[operator.name] = entry
    return compiled


def map_dependencies(config: RepositoryConfig, operators: list[OperatorSource]) -> dict[str, Any]:
    """Group operators by identical dependency; groups are numbered in a stable order."""
    groups: dict[tuple[str, str], list[OperatorSource]] = {}
    for operator in operators:
        assert operator.metadata is not None
        groups.setdefault(operator.metadata.dependency.key(), []).append(operator)
    mapped: dict[str, Any] = {}
    for index, key in enumerate(sorted(groups)):
        members = sorted(groups[key], key=lambda op: op.name)
        dependency = Dependency.model_validate({key[0]: key[1]} if key[0] else {})
        mapped[f"group{index}"] = {
            "dependency": dependency.model_dump(mode="json"),
            "operators": [op.name for op in members],
            "secrets": sorted({name for op in members for name in op.secret_names}),
            "source_image": dependency.docker_image or config.image_name(index),
        }
    return mapped


def hash_operator_folder(directory: Path) -> str:
    """A content hash of the operator's files (names and bytes), stable across machines."""
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()}"
