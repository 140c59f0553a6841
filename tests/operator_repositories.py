"""Builds small operators repositories on disk for tests: a valid one, then each test breaks it;
and git repositories of them, with commits and tags."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

MODEL = """\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    name: str = Field(default="world", description="Who to greet.")
    times: int = Field(default=1, ge=1, le=10)


class OutputModel(BaseModel):
    message: str
"""

OPERATOR = """\
from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class {name}(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        self.logger.info("greeting %s", input_model.name)
        return OutputModel(message=" ".join(["hello " + input_model.name] * input_model.times))
"""


def metadata(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Greets someone.",
        "tags": ["example"],
        "dependency": {},
        "style": {"node_label": "Hello", "node_type": "default", "node_style": {}},
        **extra,
    }


def write_operator(
    repository: Path,
    name: str,
    *,
    model: str = MODEL,
    operator: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    folder = repository / "operators" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(model)
    (folder / "operator.py").write_text(operator or OPERATOR.format(name=name))
    (folder / "metadata.json").write_text(json.dumps(meta or metadata(name), indent=4) + "\n")
    return folder


def make_repository(path: Path, operator_names: tuple[str, ...] = ("HelloOperator",)) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "demo"\nVERSION = "0.1.0"\n')
    (path / "dependencies").mkdir(exist_ok=True)
    for name in operator_names:
        write_operator(path, name)
    return path


# --- git ----------------------------------------------------------------------------------------

GIT_ENVIRONMENT = {
    **os.environ,
    # The developer's own git configuration (signing, hooks, default branch) stays out.
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "FlowUI Tests",
    "GIT_AUTHOR_EMAIL": "tests@flowui.invalid",
    "GIT_COMMITTER_NAME": "FlowUI Tests",
    "GIT_COMMITTER_EMAIL": "tests@flowui.invalid",
}


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *arguments],
        check=True,
        capture_output=True,
        text=True,
        env=GIT_ENVIRONMENT,
    ).stdout.strip()


def commit_all(repository: Path, message: str) -> str:
    git(repository, "add", "--all")
    git(repository, "commit", "--quiet", "--message", message)
    return git(repository, "rev-parse", "HEAD")


def init_repository(path: Path, operator_names: tuple[str, ...] = ("HelloOperator",)) -> Path:
    make_repository(path, operator_names)
    git(path, "init", "--quiet", "--initial-branch=main")
    return path


def set_version(repository: Path, version: str) -> None:
    (repository / "config.toml").write_text(
        f'[repository]\nREPOSITORY_NAME = "demo"\nVERSION = "{version}"\n'
    )


def write_fake_git(directory: Path, script: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fake = directory / "git"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
