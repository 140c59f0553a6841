"""Validating an operators repository: every problem in one pass, each with file and line.

operator.py is only read (parsed), never run; model files are imported in child processes
(`inspection`), so validating works without the operators' own dependencies installed.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS, ModelJob, inspect_model_files
from flowui.operators.loading import MODEL_FILE_NAMES
from flowui.operators.metadata import OperatorMetadata, RepositoryConfig
from flowui.sandbox import RemoteInspection, Sandbox

CONFIG_FILE = "config.toml"
OPERATORS_DIR = "operators"
DEPENDENCIES_DIR = "dependencies"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a repository; `file` is relative to the repository."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class OperatorSource:
    """One operator folder and what validation learned about it."""

    name: str
    directory: Path
    metadata: OperatorMetadata | None = None
    model_file: Path | None = None
    schemas: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)


@dataclass
class ValidationReport:
    repository: Path
    config: RepositoryConfig | None
    operators: list[OperatorSource]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_repository(
    repository: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_inspecting: Callable[[int], None] | None = None,
    on_inspected: Callable[[str], None] | None = None,
    sandbox: Sandbox | RemoteInspection | None = None,
) -> ValidationReport:
    """Check an operators repository against Contract 1 and return every problem found.

    `on_inspecting(count)` is called before model files are imported, `on_inspected(name)` after
    each one, so a caller can show progress. Model files are imported in `sandbox` if given.
    """
    repository = repository.resolve()
    problems: list[Problem] = []
    if not repository.is_dir():
        problems.append(Problem(str(repository), None, "not a directory"))
        return ValidationReport(repository, None, [], problems)

    config = _load_config(repository, problems)
    operators = _discover_operators(repository, problems)
    for operator in operators:
        _check_operator_folder(repository, operator, problems)
    _check_duplicate_names(operators, problems)

    jobs = [ModelJob(op.name, op.directory, op.model_file) for op in operators if op.model_file]
    if on_inspecting:
        on_inspecting(len(jobs))
    results = inspect_model_files(jobs, timeout=timeout, on_done=on_inspected, sandbox=sandbox)
    for operator in operators:
        result = results.get(operator.name)
        if result is None:
            continue
        operator.schemas = result["schemas"]
        operator.secret_names = result["secret_names"]
        for found in result["problems"]:
            problems.append(
                Problem(_relative(repository, found["file"]), found["line"], found["message"])
            )

    return ValidationReport(repository, config, operators, sorted(set(problems)))


def _relative(repository: Path, file: str | Path) -> str:
    path = Path(file)
    try:
        return path.resolve().relative_to(repository).as_posix()
    except ValueError:
        return str(path)


# --- config.toml ---------------------------------------------------------------------------


def _load_config(repository: Path, problems: list[Problem]) -> RepositoryConfig | None:
    path = repository / CONFIG_FILE
    if not path.is_file():
        problems.append(
            Problem(
                CONFIG_FILE,
                None,
                "missing: this is not an operators repository"
                " (create one with `flowui operators init`)",
            )
        )
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        problems.append(
            Problem(CONFIG_FILE, int(line.group(1)) if line else None, f"invalid TOML: {error}")
        )
        return None
    try:
        return RepositoryConfig.model_validate(data)
    except ValidationError as error:
        problems.extend(
            _validation_problems(CONFIG_FILE, text, error, RepositoryConfig, _toml_key_pattern)
        )
        return None


# --- operator folders ----------------------------------------------------------------------


def _discover_operators(repository: Path, problems: list[Problem]) -> list[OperatorSource]:
    root = repository / OPERATORS_DIR
    if not root.is_dir():
        problems.append(
            Problem(OPERATORS_DIR, None, "missing: operators live in operators/<Name>/")
        )
        return []
    folders = sorted(
        path for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))
    )
    if not folders:
        problems.append(
            Problem(OPERATORS_DIR, None, "no operators (add one with `flowui operators new NAME`)")
        )
    return [OperatorSource(folder.name, folder) for folder in folders]


def _check_operator_folder(
    repository: Path, operator: OperatorSource, problems: list[Problem]
) -> None:
    folder = f"{OPERATORS_DIR}/{operator.name}"
    if not (operator.name.isidentifier() and operator.name.isascii()):
        problems.append(
            Problem(folder, None, f"folder name {operator.name!r} is not a Python class name")
        )
        return

    model_files = [
        operator.directory / n for n in MODEL_FILE_NAMES if (operator.directory / n).is_file()
    ]
    model_names: dict[str, set[str]] = {}
    if not model_files:
        problems.append(
            Problem(f"{folder}/model.py", None, "missing (or models.py): it must define InputModel")
        )
    elif len(model_files) > 1:
        problems.append(Problem(folder, None, "both model.py and models.py exist: keep one"))
    else:
        model_file = model_files[0]
        names = _top_level_names(model_file, f"{folder}/{model_file.name}", problems)
        if names is not None:
            model_names[model_file.stem] = names
            operator.model_file = model_file
            if "InputModel" not in names and "*" not in names:
                problems.append(
                    Problem(f"{folder}/{model_file.name}", None, "no InputModel defined")
                )
                operator.model_file = None  # nothing to inspect

    operator_file = operator.directory / "operator.py"
    if not operator_file.is_file():
        problems.append(
            Problem(f"{folder}/operator.py", None, "missing: it must define the operator class")
        )
    else:
        _check_operator_file(
            operator, operator_file, f"{folder}/operator.py", model_names, problems
        )

    operator.metadata = _load_metadata(repository, operator, f"{folder}/metadata.json", problems)


def _parse(path: Path, shown: str, problems: list[Problem]) -> ast.Module | None:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as error:
        problems.append(Problem(shown, error.lineno, f"syntax error: {error.msg}"))
    except ValueError as error:  # e.g. null bytes
        problems.append(Problem(shown, None, f"cannot be parsed: {error}"))
    return None


def _top_level_names(path: Path, shown: str, problems: list[Problem]) -> set[str] | None:
    tree = _parse(path, shown, problems)
    if tree is None:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _check_operator_file(
    operator: OperatorSource,
    path: Path,
    shown: str,
    model_names: dict[str, set[str]],
    problems: list[Problem],
) -> None:
    tree = _parse(path, shown, problems)
    if tree is None:
        return
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    named = next((c for c in classes if c.name == operator.name), None)
    if named is None:
        candidates = [c for c in classes if _is_operator_class(c)]
        if candidates:
            for candidate in candidates:
                problems.append(
                    Problem(
                        shown,
                        candidate.lineno,
                        f"class {candidate.name} must be named like its folder: {operator.name}",
                    )
                )
        else:
            problems.append(Problem(shown, None, f"no class {operator.name}(BaseOperator) defined"))
    else:
        if not any(_base_name(base) == "BaseOperator" for base in named.bases):
            problems.append(
                Problem(
                    shown,
                    named.lineno,
                    f"class {named.name} must inherit flowui.base_operator.BaseOperator",
                )
            )
        if not _defines_operator_function(named):
            problems.append(
                Problem(shown, named.lineno, f"class {named.name} has no operator_function method")
            )
    _check_relative_imports(operator, tree, shown, model_names, problems)


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return None


def _defines_operator_function(node: ast.ClassDef) -> bool:
    return any(
        isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        and item.name == "operator_function"
        for item in node.body
    )


def _is_operator_class(node: ast.ClassDef) -> bool:
    return _defines_operator_function(node) or any(
        _base_name(base) == "BaseOperator" for base in node.bases
    )


def _check_relative_imports(
    operator: OperatorSource,
    tree: ast.Module,
    shown: str,
    model_names: dict[str, set[str]],
    problems: list[Problem],
) -> None:
    """`from .model import X` must name a file of the folder that defines X."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module):
            continue
        module = node.module.split(".")[0]
        target = operator.directory / f"{module}.py"
        if not target.is_file() and not (operator.directory / module).is_dir():
            existing = ", ".join(f".{stem}" for stem in model_names) or "none"
            problems.append(
                Problem(
                    shown,
                    node.lineno,
                    f"imports .{module}, but {operator.name}/{module}.py does not exist"
                    f" (model modules here: {existing})",
                )
            )
        elif module in model_names and "*" not in model_names[module]:
            for alias in node.names:
                if alias.name != "*" and alias.name not in model_names[module]:
                    problems.append(
                        Problem(
                            shown,
                            node.lineno,
                            f"imports {alias.name} from .{module}, which does not define it",
                        )
                    )


# --- metadata.json -------------------------------------------------------------------------


def _load_metadata(
    repository: Path, operator: OperatorSource, shown: str, problems: list[Problem]
) -> OperatorMetadata | None:
    path = operator.directory / "metadata.json"
    if not path.is_file():
        problems.append(Problem(shown, None, "missing: it describes the operator and its node"))
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problems.append(Problem(shown, error.lineno, f"invalid JSON: {error.msg}"))
        return None
    try:
        metadata = OperatorMetadata.model_validate(data)
    except ValidationError as error:
        problems.extend(
            _validation_problems(shown, text, error, OperatorMetadata, _json_key_pattern)
        )
        return None

    if metadata.name != operator.name:
        line = _locate_key(text, ("name",), _json_key_pattern)
        problems.append(
            Problem(
                shown, line, f"name {metadata.name!r} differs from its folder {operator.name!r}"
            )
        )
    for kind in ("requirements_file", "dockerfile"):
        file_name = getattr(metadata.dependency, kind)
        if file_name and not (repository / DEPENDENCIES_DIR / file_name).is_file():
            line = _locate_key(text, ("dependency", kind), _json_key_pattern)
            problems.append(
                Problem(
                    shown,
                    line,
                    f"dependency.{kind}: {DEPENDENCIES_DIR}/{file_name} does not exist",
                )
            )
    return metadata


def _check_duplicate_names(operators: Iterable[OperatorSource], problems: list[Problem]) -> None:
    # Names become image tags, DAG task names and folders on case-insensitive disks.
    seen: dict[str, str] = {}
    for operator in operators:
        other = seen.setdefault(operator.name.lower(), operator.name)
        if other != operator.name:
            problems.append(
                Problem(
                    f"{OPERATORS_DIR}/{operator.name}",
                    None,
                    f"duplicate operator name: {operator.name} and {other} differ only in case",
                )
            )


# --- locating pydantic errors in the source text -------------------------------------------


def _json_key_pattern(key: str) -> str:
    return rf'"{re.escape(key)}"\s*:'


def _toml_key_pattern(key: str) -> str:
    # [ \t], not \s: a match must not start on an empty line above the key.
    return rf"(^[ \t]*\[[ \t]*{re.escape(key)}[ \t]*\]|^[ \t]*{re.escape(key)}[ \t]*=)"


def _locate_key(
    text: str, loc: Sequence[str | int], key_pattern: Callable[[str], str]
) -> int | None:
    """Best-effort line of the key at `loc` (each key searched after the previous one)."""
    position, line = 0, None
    for key in loc:
        if isinstance(key, int):
            continue
        match = re.compile(key_pattern(key), re.MULTILINE).search(text, position)
        if match is None:
            break
        position = match.end()
        line = text.count("\n", 0, match.start(match.lastindex or 0)) + 1
    return line


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    for key in loc:
        if isinstance(key, int):
            continue
        info = model.model_fields.get(key)
        annotation = info.annotation if info else None
        nested = [
            arg
            for arg in (getattr(annotation, "__args__", None) or (annotation,))
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _validation_problems(
    shown: str,
    text: str,
    error: ValidationError,
    model: type[BaseModel],
    key_pattern: Callable[[str], str],
) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = item["loc"]
        where = ".".join(str(part) for part in loc)
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, loc[:-1]))
            message = f"unknown key {where!r}" + (f" (allowed here: {allowed})" if allowed else "")
        elif item["type"] == "missing":
            message = f"{where}: required key missing"
        else:
            detail = str(item["msg"]).removeprefix("Value error, ")
            message = f"{where}: {detail}" if where else detail
        line = _locate_key(text, loc, key_pattern) or _locate_key(text, loc[:-1], key_pattern)
        problems.append(Problem(shown, line, message))
    return problems
