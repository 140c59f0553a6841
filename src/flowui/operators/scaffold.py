"""Scaffolding: a new operators repository (`flowui operators init`) and new operators in it
(`flowui operators new`), written from the templates in `templates/`.

Every precondition is checked before anything is written, files are built in a staging
directory on the same file system and moved into place, and a failure while moving undoes what
was moved, so a repository is never left half-scaffolded.
"""

from __future__ import annotations

import builtins
import json
import keyword
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowui import __version__
from flowui.operators.metadata import RepositoryConfig
from flowui.operators.validate import CONFIG_FILE, DEPENDENCIES_DIR, OPERATORS_DIR
from flowui.storage import InvalidIdError, validate_id

TESTS_DIR = "tests"
WORKFLOW_FILE = ".github/workflows/flowui.yml"
EXAMPLE_OPERATOR = "HelloOperator"
EXAMPLE_REQUIREMENTS_FILE = "requirements_0.txt"
MAX_OPERATOR_NAME_LENGTH = 100

_CAMEL_CASE = re.compile(r"[A-Z][A-Za-z0-9]*")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PLACEHOLDER = re.compile(r"__FLOWUI_([A-Z]+(?:_[A-Z]+)*)__")
# operator.py imports these, so a class of the same name would shadow them.
_NAMES_USED_BY_OPERATOR_FILES = frozenset(
    {"BaseOperator", "InputModel", "OutputModel", "SecretsModel", "BaseModel", "Field"}
)
_STAGING_PREFIX = ".flowui-scaffold-"


class ScaffoldError(ValueError):
    """A repository or operator that cannot be scaffolded; the message says what and where."""


# --- public API ----------------------------------------------------------------------------


def init_repository(
    directory: Path, *, name: str | None = None, registry: str | None = None
) -> list[Path]:
    """Create a new operators repository skeleton in `directory` (created if missing); return
    the files written.

    Files that already exist outside `operators/` (a README.md or .gitignore of a fresh git
    repository, say) are kept as they are and left out of the returned list.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a directory")
    name = directory.resolve().name if name is None else name
    config_text = _config_toml(name, registry)
    if (directory / CONFIG_FILE).exists():
        raise ScaffoldError(
            f"{directory / CONFIG_FILE} already exists: {directory} is already an operators "
            f"repository; add operators to it with `flowui operators new NAME --repo {directory}`"
        )
    operators_dir = directory / OPERATORS_DIR
    if operators_dir.exists() and (not operators_dir.is_dir() or _entries(operators_dir)):
        raise ScaffoldError(
            f"{operators_dir} is not empty; initialise a new repository in another directory, "
            "or move its contents away first"
        )

    files = {
        CONFIG_FILE: config_text,
        f"{DEPENDENCIES_DIR}/{EXAMPLE_REQUIREMENTS_FILE}": _render("requirements.txt.tmpl"),
        "README.md": _render("README.md.tmpl", REPOSITORY_NAME=name, EXAMPLE_NAME=EXAMPLE_OPERATOR),
        ".gitignore": _render("gitignore.tmpl"),
        WORKFLOW_FILE: _render("flowui.yml.tmpl", VERSION=__version__),
    }
    with _staging_directory(_nearest_existing(directory)) as staging:
        for relative, text in files.items():
            _write(staging / relative, text)
        new_operator(staging, EXAMPLE_OPERATOR, requirements_file=EXAMPLE_REQUIREMENTS_FILE)
        return _move_into_place(staging, directory, keep_existing_files=True)


def new_operator(
    repository: Path, name: str, *, requirements_file: str | None = None
) -> list[Path]:
    """Scaffold operator `name` in an existing repository: operators/<name>/{operator.py,
    model.py, metadata.json} and tests/test_<snake_name>.py; return the files written."""
    repository = Path(repository)
    if not (repository / CONFIG_FILE).is_file():
        raise ScaffoldError(
            f"{repository} is not an operators repository (it has no {CONFIG_FILE}); "
            f"create one with `flowui operators init {repository}`"
        )
    check_operator_name(name)
    _check_name_is_free(repository / OPERATORS_DIR, name)
    snake_name = snake_case(name)
    test_file = f"{TESTS_DIR}/test_{snake_name}.py"
    if (repository / test_file).exists():
        raise ScaffoldError(
            f"{repository / test_file} already exists; remove it or choose another operator name"
        )
    dependency: dict[str, str] = {}
    if requirements_file is not None:
        _check_requirements_file(repository, requirements_file)
        dependency = {"requirements_file": requirements_file}

    folder = f"{OPERATORS_DIR}/{name}"
    files = {
        f"{folder}/operator.py": _render("operator.py.tmpl", NAME=name),
        f"{folder}/model.py": _render("model.py.tmpl", NAME=name),
        f"{folder}/metadata.json": json.dumps(_metadata(name, dependency), indent=2) + "\n",
        test_file: _render("test_operator.py.tmpl", NAME=name, SNAKE_NAME=snake_name),
    }
    with _staging_directory(repository) as staging:
        for relative, text in files.items():
            _write(staging / relative, text)
        return _move_into_place(staging, repository, keep_existing_files=False)


def check_operator_name(name: str) -> None:
    """Raise ScaffoldError, with a suggested fix, unless `name` can name an operator."""
    if not name:
        raise ScaffoldError(
            "the operator name is empty; give a CamelCase name such as 'CleanRowsOperator'"
        )
    suggestion = suggest_operator_name(name)
    if "/" in name or "\\" in name:
        raise ScaffoldError(
            f"operator name {name!r} is a path; give just the class name, e.g. {suggestion!r} "
            "(the operator is created in the repository's operators/ folder)"
        )
    if not (name.isidentifier() and name.isascii()):
        problem = (
            "starts with a digit"
            if name[0].isdigit()
            else "is not a Python identifier (only ASCII letters and digits, no spaces)"
        )
        raise ScaffoldError(f"operator name {name!r} {problem}; try {suggestion!r}")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"operator name {name!r} is a Python keyword; try {suggestion!r}")
    if not _CAMEL_CASE.fullmatch(name):
        raise ScaffoldError(
            f"operator name {name!r} is not CamelCase (a capital letter first, then letters "
            f"and digits, no underscores); try {suggestion!r}"
        )
    if name in _NAMES_USED_BY_OPERATOR_FILES or hasattr(builtins, name):
        raise ScaffoldError(
            f"operator name {name!r} would shadow a name that operator code uses; "
            f"try {suggestion!r}"
        )
    if len(name) > MAX_OPERATOR_NAME_LENGTH:
        raise ScaffoldError(
            f"operator name {name[:20]!r}... is longer than {MAX_OPERATOR_NAME_LENGTH} characters"
        )


def suggest_operator_name(name: str) -> str:
    """A valid CamelCase operator name close to `name` ('clean rows' -> 'CleanRows')."""
    last_part = re.split(r"[/\\]", name.rstrip("/\\"))[-1]
    words = re.findall(r"[A-Za-z0-9]+", last_part.encode("ascii", "ignore").decode())
    camel = "".join(word[0].upper() + word[1:] for word in words)
    rest = camel.lstrip("0123456789")
    camel = rest + camel[: len(camel) - len(rest)]  # a class name cannot start with a digit
    if not camel:
        return "MyOperator"
    taken = (
        keyword.iskeyword(camel)
        or camel in _NAMES_USED_BY_OPERATOR_FILES
        or hasattr(builtins, camel)
    )
    return f"{camel}Operator" if taken or len(camel) <= 2 else camel


def snake_case(name: str) -> str:
    """'CleanRowsOperator' -> 'clean_rows_operator', 'CSVReader' -> 'csv_reader'."""
    return _WORD_BOUNDARY.sub("_", name).lower()


# --- checks ----------------------------------------------------------------------------------


def _config_toml(name: str, registry: str | None) -> str:
    try:
        validate_id(name, "repository name")
    except InvalidIdError as error:
        raise ScaffoldError(
            f"{error}; the name defaults to the directory's name, give another one with --name"
        ) from None
    config: dict[str, Any] = {"repository": {"REPOSITORY_NAME": name, "VERSION": "0.1.0"}}
    if registry is not None:
        config["registry"] = {"REGISTRY_NAME": registry}
    try:
        RepositoryConfig.model_validate(config)
    except ValidationError as error:
        first = error.errors()[0]
        if first["loc"][0] == "registry":
            raise ScaffoldError(
                f"registry {registry!r} is not a container registry such as 'ghcr.io/owner' "
                "(lowercase host and path, no image name or tag)"
            ) from None
        raise ScaffoldError(f"repository name {name!r}: {first['msg']}") from None
    registry_section = (
        _render("registry_section.toml.tmpl", REGISTRY_NAME=registry)
        if registry is not None
        else _render("no_registry_section.toml.tmpl")
    )
    # Both values are validated above, so they cannot break out of their TOML strings.
    return _render(
        "config.toml.tmpl", REPOSITORY_NAME=name, REGISTRY_SECTION=registry_section.rstrip("\n")
    )


def _check_name_is_free(operators_dir: Path, name: str) -> None:
    existing = {path.name.lower(): path.name for path in _entries(operators_dir)}
    if name.lower() not in existing:
        return
    taken = existing[name.lower()]
    free = next(f"{name}{n}" for n in range(2, 10_000) if f"{name}{n}".lower() not in existing)
    same_but_case = "" if taken == name else " (names are compared ignoring case)"
    raise ScaffoldError(
        f"operator {taken!r} already exists in {operators_dir}{same_but_case}; "
        f"choose another name, e.g. {free!r}"
    )


def _check_requirements_file(repository: Path, requirements_file: str) -> None:
    dependencies_dir = repository / DEPENDENCIES_DIR
    if Path(requirements_file).name != requirements_file or requirements_file.startswith("."):
        raise ScaffoldError(
            f"requirements file {requirements_file!r} must be a file name in "
            f"{dependencies_dir}, not a path"
        )
    if not (dependencies_dir / requirements_file).is_file():
        available = sorted(p.name for p in dependencies_dir.glob("requirements_*.txt"))
        found = f" (found: {', '.join(available)})" if available else ""
        raise ScaffoldError(
            f"requirements file {requirements_file!r} not found in {dependencies_dir}{found}; "
            "create it first or name an existing one"
        )


# --- content ---------------------------------------------------------------------------------


def _render(template: str, **values: str) -> str:
    """A template of `templates/` with each `__FLOWUI_KEY__` replaced by `values["KEY"]`."""
    text = resources.files("flowui.operators").joinpath("templates", template).read_text("utf-8")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def _metadata(name: str, dependency: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Repeats a message. Describe here what the operator does: "
        "the GUI shows it as the node's help.",
        "tags": ["example"],
        "dependency": dependency,
        "style": {
            "node_label": _WORD_BOUNDARY.sub(" ", name),
            "node_type": "default",
            "node_style": {"backgroundColor": "#e3f2fd", "color": "#0d47a1"},
            "icon_class_name": "fa-solid fa-gear",
        },
        # cpu in millicores, memory in MiB.
        "container_resources": {
            "requests": {"cpu": 100, "memory": 128},
            "limits": {"cpu": 500, "memory": 512},
            "gpu": 0,
        },
    }


# --- writing ---------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@contextmanager
def _staging_directory(parent: Path) -> Iterator[Path]:
    # Inside `parent` so that moving out of it is a rename on one file system; hidden, so
    # operator discovery ignores it while it exists.
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, target: Path, *, keep_existing_files: bool) -> list[Path]:
    """Move the staged tree into `target`; on any failure, undo every move and re-raise."""
    placed: list[Path] = []  # what did not exist before, parents before children
    try:
        for ancestor in reversed((target, *target.parents)):
            if not ancestor.exists():
                ancestor.mkdir()
                placed.append(ancestor)
        written: list[Path] = []
        # The staging directory itself stays behind: it is private (mode 0700) and temporary.
        for child in sorted(staging.iterdir()):
            written += _merge(child, target / child.name, placed, keep_existing_files)
    except BaseException:
        for path in reversed(placed):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    return sorted(written)


def _merge(source: Path, target: Path, placed: list[Path], keep_existing: bool) -> list[Path]:
    if not target.exists() and not target.is_symlink():
        os.rename(source, target)  # a whole new directory appears at once
        placed.append(target)
        return [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
    if source.is_dir() and target.is_dir() and not target.is_symlink():
        written: list[Path] = []
        for child in sorted(source.iterdir()):
            written += _merge(child, target / child.name, placed, keep_existing)
        return written
    if keep_existing and source.is_file():
        return []
    raise ScaffoldError(f"{target} already exists; move it away or choose another name")


def _nearest_existing(directory: Path) -> Path:
    return next(path for path in (directory, *directory.parents) if path.is_dir())


def _entries(directory: Path) -> list[Path]:
    # Hidden and private entries (staging directories, __pycache__) are not operators.
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if not p.name.startswith((".", "_"))]
