"""The operators a workflow can use: read from the `.flowui/` files of organized checkouts.

Only JSON and TOML are read here, never operator code (docs/architecture.md, rule 2).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowui.operators.metadata import RepositoryConfig
from flowui.operators.organize import COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE, FLOWUI_DIR
from flowui.storage import FileSystemRoot

CONFIG_FILE = "config.toml"


class CatalogError(ValueError):
    """An operators checkout whose files cannot be read as a catalog."""


@dataclass(frozen=True)
class CatalogOperator:
    """One operator version as compiled by `flowui operators organize`."""

    repository: str
    repository_path: Path
    name: str
    version: str
    metadata: dict[str, Any]
    group: str
    group_entry: dict[str, Any]

    @property
    def input_schema(self) -> dict[str, Any]:
        schema = self.metadata.get("input_schema")
        return schema if isinstance(schema, dict) else {}

    @property
    def output_schema(self) -> dict[str, Any] | None:
        schema = self.metadata.get("output_schema")
        return schema if isinstance(schema, dict) else None

    @property
    def secret_names(self) -> list[str]:
        """The secrets the operator declares: its SecretsModel's fields."""
        schema = self.metadata.get("secrets_schema") or {}
        return sorted(schema.get("properties") or {})

    @property
    def required_secrets(self) -> list[str]:
        """The declared secrets without a default: a task cannot run without them."""
        schema = self.metadata.get("secrets_schema") or {}
        return sorted(schema.get("required") or [])


class OperatorCatalog:
    """Operators by (repository, name, version); the first one given wins on a duplicate."""

    def __init__(self, operators: Iterable[CatalogOperator]) -> None:
        self._operators: dict[tuple[str, str, str], CatalogOperator] = {}
        for operator in operators:
            self._operators.setdefault(
                (operator.repository, operator.name, operator.version), operator
            )

    def __iter__(self) -> Iterator[CatalogOperator]:
        return iter(self._operators.values())

    def __len__(self) -> int:
        return len(self._operators)

    def find(self, repository: str, name: str, version: str) -> CatalogOperator | None:
        return self._operators.get((repository, name, version))

    def versions(self, repository: str, name: str) -> list[str]:
        found = {key[2] for key in self._operators if key[:2] == (repository, name)}
        return sorted(found, key=_natural_key)

    def names(self, repository: str) -> list[str]:
        return sorted({key[1] for key in self._operators if key[0] == repository})

    def repositories(self) -> list[str]:
        return sorted({key[0] for key in self._operators})


def _natural_key(version: str) -> list[tuple[int, int, str]]:
    # 0.10.0 sorts after 0.9.0.
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", version)
        if part
    ]


# --- reading one organized checkout --------------------------------------------------------


class _CompiledOperator(BaseModel):
    """The fields of a compiled_metadata.json entry that validation relies on."""

    model_config = ConfigDict(extra="allow")

    version: str = Field(min_length=1)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


class _DependencyGroup(BaseModel):
    model_config = ConfigDict(extra="allow")

    operators: list[str]


def _organize_hint(repository_path: Path) -> str:
    return f"run `flowui operators organize {repository_path}` to generate it"


def _read_json(path: Path, repository_path: Path) -> Any:
    if not path.is_file():
        raise CatalogError(f"{path}: missing: {_organize_hint(repository_path)}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CatalogError(
            f"{path}: invalid JSON ({error}): {_organize_hint(repository_path)} again"
        ) from error


def _invalid(path: Path, key: str, error: ValidationError, repository_path: Path) -> CatalogError:
    first = error.errors()[0]
    where = ".".join(str(part) for part in (key, *first["loc"]))
    return CatalogError(f"{path}: {where}: {first['msg']}: {_organize_hint(repository_path)} again")


def _read_config(repository_path: Path) -> RepositoryConfig:
    path = repository_path / CONFIG_FILE
    if not path.is_file():
        raise CatalogError(f"{path}: missing: {repository_path} is not an operators repository")
    try:
        return RepositoryConfig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: invalid TOML: {error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogError(
            f"{path}: {where}: {first['msg']} (check it with `flowui operators validate`)"
        ) from error


def load_repository_catalog(repository_path: Path) -> list[CatalogOperator]:
    """The operators of one organized checkout, sorted by name; CatalogError if unreadable."""
    repository_path = Path(repository_path)
    config = _read_config(repository_path)
    compiled_path = repository_path / FLOWUI_DIR / COMPILED_METADATA_FILE
    groups_path = repository_path / FLOWUI_DIR / DEPENDENCIES_MAP_FILE
    compiled = _read_json(compiled_path, repository_path)
    groups = _read_json(groups_path, repository_path)
    entries: dict[str, _CompiledOperator] = {}
    for name, entry in _expect_object(compiled, compiled_path, repository_path).items():
        try:
            entries[name] = _CompiledOperator.model_validate(entry)
        except ValidationError as error:
            raise _invalid(compiled_path, name, error, repository_path) from error
    group_of: dict[str, str] = {}
    for key, entry in _expect_object(groups, groups_path, repository_path).items():
        try:
            members = _DependencyGroup.model_validate(entry).operators
        except ValidationError as error:
            raise _invalid(groups_path, key, error, repository_path) from error
        group_of.update(dict.fromkeys(members, key))

    operators = []
    for name in sorted(entries):
        group = group_of.get(name)
        if group is None:
            raise CatalogError(
                f"{groups_path}: operator {name} of {COMPILED_METADATA_FILE} is in no dependency"
                f" group: {_organize_hint(repository_path)} again"
            )
        operators.append(
            CatalogOperator(
                repository=config.name,
                repository_path=repository_path,
                name=name,
                version=entries[name].version,
                metadata=compiled[name],
                group=group,
                group_entry=groups[group],
            )
        )
    return operators


def _expect_object(data: Any, path: Path, repository_path: Path) -> dict[str, Any]:
    if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
        raise CatalogError(
            f"{path}: expected an object of objects: {_organize_hint(repository_path)} again"
        )
    return data


def catalog_from_root(root: FileSystemRoot) -> OperatorCatalog:
    """Every organized checkout under the root's operators_repositories folder.

    Checkouts without a `.flowui` folder are not organized yet and are left out; a checkout
    whose `.flowui` files are broken raises CatalogError rather than silently losing operators.
    """
    base = root.operators_repositories
    if not base.is_dir():
        return OperatorCatalog([])
    operators: list[CatalogOperator] = []
    for checkout in sorted(base.iterdir()):
        if checkout.is_dir() and (checkout / FLOWUI_DIR).is_dir():
            operators.extend(load_repository_catalog(checkout))
    return OperatorCatalog(operators)
