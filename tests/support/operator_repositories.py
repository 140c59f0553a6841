"""Builds small operators repositories on disk for tests: a valid one, then each test breaks it;
and git repositories of them, with commits and tags."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
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


# An operator that logs its secret (masked in the log) and fails when asked to: for the
# container runtimes' journeys. UNSET_SECRET is optional and never set.
ECHO_SECRET_MODEL = """\
from pydantic import BaseModel


class InputModel(BaseModel):
    fail: bool = False


class OutputModel(BaseModel):
    said: str


class SecretsModel(BaseModel):
    ECHO_SECRET: str
    UNSET_SECRET: str | None = None
"""
ECHO_SECRET_OPERATOR = """\
import os

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class EchoSecretOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        self.logger.info("the secret is %s", self.secrets.ECHO_SECRET)
        self.logger.info("running as uid %d gid %d", os.getuid(), os.getgid())
        if input_model.fail:
            raise RuntimeError("failing on purpose")
        return OutputModel(said="the secret was given")
"""


def make_echo_repository(path: Path) -> Path:
    """The repository `echo` 0.1.0 holding EchoSecretOperator, at `path`."""
    (path / "dependencies").mkdir(parents=True)
    (path / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "echo"\nVERSION = "0.1.0"\n')
    model, operator = ECHO_SECRET_MODEL, ECHO_SECRET_OPERATOR
    write_operator(path, "EchoSecretOperator", model=model, operator=operator)
    return path


def operator(name: str, repository: str = "flowui_examples") -> dict[str, str]:
    """A workflow task's operator reference: `name` 0.1.0 of `repository`."""
    return {"repository": repository, "name": name, "version": "0.1.0"}


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


@dataclass(frozen=True)
class GitHistory:
    """A git repository and the commit each of its refs (tags, branches) points at."""

    path: Path
    commits: dict[str, str]


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


# --- a repository of the original FlowUI layout ---------------------------------------------
# Written for these tests in the shapes that the original layout used: a [dockerhub] section,
# models.py with pydantic v1-style code, metadata.json without dependency or node_type, and the
# .flowui/ files that the original's organize committed (another format than FlowUI's own).

ORIGINAL_CONFIG = """\
[repository]
REPOSITORY_NAME = "legacy_tools"
VERSION = "0.3.0"

[dockerhub]
REGISTRY_NAME = "acmelabs"
"""

ORIGINAL_OPERATORS: dict[str, dict[str, Any]] = {
    "TextStatsOperator": {
        "models.py": '''\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    """
    Count the words of a text
    """

    text: str = Field(
        default='to be or not to be',
        description='The text to measure'
    )
    ignore_case: bool = Field(
        default=True,
        description='Compare words regardless of case'
    )

    class Config:
        title = 'TextStatsOperator'


class OutputModel(BaseModel):
    """
    Count the words of a text
    """
    message: str = Field(
        default="",
        description="Output message to log"
    )
    words: int = Field(description="How many words")
    distinct_words: int = Field(description="How many different words")
    longest_word: str = Field(
        default=None,
        description="The longest word"
    )


class SecretsModel(BaseModel):
    """
    Text stats secrets
    """

    STATS_SALT: str = Field(
        description="Mixed into the fingerprint of the text"
    )
''',
        "operator.py": """\
from flowui.base_operator import BaseOperator
from .models import InputModel, OutputModel
import hashlib


class TextStatsOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        arguments = input_model.dict()
        self.logger.info(f"Measuring a text of {len(arguments['text'])} characters")
        text = arguments['text'].lower() if arguments['ignore_case'] else arguments['text']
        words = text.split()
        salted = (self.secrets.STATS_SALT + text).encode()
        self.logger.info("fingerprint %s", hashlib.sha256(salted).hexdigest()[:12])
        return OutputModel(
            message="Text measured",
            words=len(words),
            distinct_words=len(set(words)),
            longest_word=max(words, key=len)
        )
""",
        "metadata.json": {
            "name": "TextStatsOperator",
            "description": "Counts the words of a text",
            "tags": ["Text"],
            "style": {
                "node_label": "Text statistics",
                "node_type": "source",
                "node_style": {"backgroundColor": "#d9ead3"},
                "icon_class_name": "fas fa-font",
            },
        },
    },
    "NormalizeValuesOperator": {
        "models.py": '''\
from pydantic import BaseModel, Field
from enum import Enum


class ScalingMethod(str, Enum):
    minmax = "minmax"
    zscore = "zscore"


class InputModel(BaseModel):
    """
    Rescale a list of numbers
    """

    values: list = Field(
        description="The numbers to rescale",
    )
    method: ScalingMethod = Field(
        default='minmax',
        description='How to rescale them'
    )

class OutputModel(BaseModel):
    """
    Rescale a list of numbers
    """

    values: list = Field(
        description="The rescaled numbers",
    )
    file_path: str = Field(
        description='CSV file of the rescaled numbers'
    )
''',
        "operator.py": """\
from flowui.base_operator import BaseOperator
from .models import InputModel, OutputModel
from pathlib import Path
import numpy as np


class NormalizeValuesOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        data = np.asarray(input_model.values, dtype=float)
        if input_model.method == "zscore":
            scaled = (data - data.mean()) / (data.std() or 1.0)
        else:
            scaled = (data - data.min()) / ((data.max() - data.min()) or 1.0)
        file_path = str(Path(self.results_path) / "scaled.csv")
        np.savetxt(file_path, scaled, delimiter=",")
        return OutputModel(
            values=[round(float(value), 6) for value in scaled],
            file_path=file_path
        )
""",
        "metadata.json": {
            "name": "NormalizeValuesOperator",
            "description": "Rescales numbers",
            "dependency": {"requirements_file": "requirements_0.txt"},
            "tags": ["Numbers"],
            "style": {
                "node_label": "Normalize values",
                "node_style": {"backgroundColor": "#cfe2f3"},
            },
        },
    },
    "RunDigestOperator": {
        "models.py": '''\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    """
    List what the tasks of this run left behind
    """

    title: str = Field(
        default='Run digest',
        description='Heading of the digest'
    )

    class Config:
        title = 'RunDigestOperator'


class OutputModel(BaseModel):
    """
    List what the tasks of this run left behind
    """
    message: str = Field(
        default="Digest written",
        description="Output message to log"
    )
    tasks: list = Field(
        description="Each task of the run with its result files"
    )
''',
        "operator.py": """\
from flowui.base_operator import BaseOperator
from .models import InputModel, OutputModel
import os


class RunDigestOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        lines = ["# " + input_model.title]
        tasks = []
        for task in sorted(os.listdir(self.run_path)):
            results = os.path.join(self.run_path, task, "results")
            files = sorted(os.listdir(results)) if os.path.isdir(results) else []
            tasks.append({"task": task, "files": files})
            lines.append("- {}: {}".format(task, ", ".join(files) or "nothing"))
        with open(os.path.join(self.results_path, "digest.md"), "w") as f:
            f.write("\\n".join(lines))
        return OutputModel(tasks=tasks)
""",
        "metadata.json": {
            "name": "RunDigestOperator",
            "description": "Lists the results of a run",
            "tags": ["Report"],
            "style": {
                "node_label": "Run digest",
                "node_type": "sink",
                "icon_class_name": "fa-solid fa-file-lines",
            },
        },
    },
}


def _original_compiled_entry(name: str) -> dict[str, Any]:
    """An entry of compiled_metadata.json as the original's organize wrote it."""
    meta = ORIGINAL_OPERATORS[name]["metadata.json"]
    dependency = {"docker_image": None, "dockerfile": None, "requirements_file": None}
    dependency.update(meta.get("dependency", {}))
    return {
        "name": name,
        "dependency": dependency,
        "tags": meta["tags"],
        "style": {**meta["style"], "useIcon": True, "iconStyle": {"cursor": "pointer"}},
        "description": meta["description"],
        # pydantic v1 schemas: `definitions`, enums behind allOf.
        "input_schema": {
            "title": "InputModel",
            "type": "object",
            "properties": {"method": {"allOf": [{"$ref": "#/definitions/ScalingMethod"}]}},
            "definitions": {
                "ScalingMethod": {
                    "title": "ScalingMethod",
                    "description": "An enumeration.",
                    "enum": ["minmax", "zscore"],
                    "type": "string",
                }
            },
        },
        "output_schema": {"title": "OutputModel", "type": "object", "properties": {}},
        "secrets_schema": None,
    }


def make_original_layout_repository(path: Path) -> Path:
    """A repository of the original FlowUI layout, with its original `.flowui/` files."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(ORIGINAL_CONFIG)
    (path / "dependencies").mkdir(exist_ok=True)
    (path / "dependencies" / "requirements_0.txt").write_text("numpy\n")
    for name, files in ORIGINAL_OPERATORS.items():
        folder = path / "operators" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "models.py").write_text(files["models.py"])
        (folder / "operator.py").write_text(files["operator.py"])
        (folder / "metadata.json").write_text(json.dumps(files["metadata.json"], indent=4))
    null_dependency = {"docker_image": None, "dockerfile": None, "requirements_file": None}
    groups = {
        "legacy_tools_image_0": {
            "dependency": null_dependency,
            "operators": ["TextStatsOperator", "RunDigestOperator"],
            "secrets": ["STATS_SALT"],
            "source_image": "acmelabs/legacy_tools_image_0:0.3.0",
        },
        "legacy_tools_image_1": {
            "dependency": {**null_dependency, "requirements_file": "requirements_0.txt"},
            "operators": ["NormalizeValuesOperator"],
            "secrets": [],
            "source_image": "acmelabs/legacy_tools_image_1:0.3.0",
        },
    }
    flowui = path / ".flowui"
    flowui.mkdir(exist_ok=True)
    compiled = {name: _original_compiled_entry(name) for name in ORIGINAL_OPERATORS}
    (flowui / "compiled_metadata.json").write_text(json.dumps(compiled, indent=4))
    (flowui / "dependencies_map.json").write_text(json.dumps(groups, indent=4))
    return path
