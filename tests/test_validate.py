"""`flowui operators validate`: every defect of a repository, in one pass, with file and line."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flowui.operators.loading import package_name_for
from flowui.operators.validate import validate_repository
from tests.support.operator_repositories import (
    MODEL,
    make_original_layout_repository,
    make_repository,
    metadata,
    write_operator,
)

OP = "operators/HelloOperator"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _meta(repo: Path, **changes: object) -> None:
    data = metadata("HelloOperator")
    data.update(changes)
    (repo / OP / "metadata.json").write_text(json.dumps(data, indent=4) + "\n")


# Each case breaks a valid repository in one way and lists exactly what the user is told.
BROKEN_REPOSITORIES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    (
        "missing config.toml",
        lambda repo: (repo / "config.toml").unlink(),
        [
            "config.toml: missing: this is not an operators repository"
            " (create one with `flowui operators init`)"
        ],
    ),
    (
        "config.toml is not TOML",
        lambda repo: (repo / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "demo\n'),
        ["config.toml:2: invalid TOML: Illegal character '\\n' (at line 2, column 24)"],
    ),
    (
        "config.toml without VERSION",
        lambda repo: (repo / "config.toml").write_text('[repository]\nREPOSITORY_NAME = "demo"\n'),
        ["config.toml:1: repository.VERSION: required key missing"],
    ),
    (
        "config.toml with an unknown key",
        lambda repo: _edit(
            repo / "config.toml", 'VERSION = "0.1.0"', 'VERSION = "0.1.0"\nCOLOR = 1'
        ),
        [
            "config.toml:4: unknown key 'repository.COLOR' (allowed here: REPOSITORY_NAME,"
            " VERSION, REPOSITORY_LABEL, DESCRIPTION)"
        ],
    ),
    (
        "repository name with a slash",
        lambda repo: _edit(repo / "config.toml", '"demo"', '"de/mo"'),
        [
            "config.toml:2: repository.REPOSITORY_NAME: repository name 'de/mo' may contain only"
            " letters, digits, '_', '.' and '-'"
        ],
    ),
    (
        "no operators folder",
        lambda repo: shutil.rmtree(repo / "operators"),
        ["operators: missing: operators live in operators/<Name>/"],
    ),
    (
        "empty operators folder",
        lambda repo: shutil.rmtree(repo / OP),
        ["operators: no operators (add one with `flowui operators new NAME`)"],
    ),
    (
        "folder name is not a class name",
        lambda repo: (repo / OP).rename(repo / "operators" / "hello-operator"),
        ["operators/hello-operator: folder name 'hello-operator' is not a Python class name"],
    ),
    (
        "missing operator.py",
        lambda repo: (repo / OP / "operator.py").unlink(),
        [f"{OP}/operator.py: missing: it must define the operator class"],
    ),
    (
        "missing model.py",
        lambda repo: (repo / OP / "model.py").unlink(),
        [
            f"{OP}/model.py: missing (or models.py): it must define InputModel",
            f"{OP}/operator.py:3: imports .model, but HelloOperator/model.py does not exist"
            " (model modules here: none)",
        ],
    ),
    (
        "both model.py and models.py",
        lambda repo: (repo / OP / "models.py").write_text(MODEL),
        [f"{OP}: both model.py and models.py exist: keep one"],
    ),
    (
        "missing metadata.json",
        lambda repo: (repo / OP / "metadata.json").unlink(),
        [f"{OP}/metadata.json: missing: it describes the operator and its node"],
    ),
    (
        "syntax error in operator.py",
        lambda repo: _edit(
            repo / OP / "operator.py", "def operator_function(", "def operator_function(("
        ),
        [f"{OP}/operator.py:7: syntax error: Function parameters cannot be parenthesized"],
    ),
    (
        "syntax error in model.py",
        lambda repo: _edit(repo / OP / "model.py", "    message: str", "    message: str ="),
        [f"{OP}/model.py:10: syntax error: invalid syntax"],
    ),
    (
        "model.py imports a package the platform does not have",
        lambda repo: _edit(
            repo / OP / "model.py", "from pydantic", "import pandas_not_here\nfrom pydantic"
        ),
        [
            f"{OP}/model.py:1: cannot import: ModuleNotFoundError: No module named"
            " 'pandas_not_here' (model files may import only pydantic and the standard library:"
            " the platform imports them without the operator's own dependencies)"
        ],
    ),
    (
        "model.py fails while it is imported",
        lambda repo: _edit(
            repo / OP / "model.py", "class OutputModel", "1 / 0\n\n\nclass OutputModel"
        ),
        [f"{OP}/model.py:9: cannot import: ZeroDivisionError: division by zero"],
    ),
    (
        "no InputModel",
        lambda repo: _edit(repo / OP / "model.py", "class InputModel", "class InputsModel"),
        [
            f"{OP}/model.py: no InputModel defined",
            f"{OP}/operator.py:3: imports InputModel from .model, which does not define it",
        ],
    ),
    (
        "InputModel is not a pydantic model",
        lambda repo: _edit(
            repo / OP / "model.py", "class OutputModel", "InputModel = dict\n\n\nclass OutputModel"
        ),
        [f"{OP}/model.py: InputModel must be a class inheriting pydantic.BaseModel"],
    ),
    (
        "model cannot produce a JSON Schema",
        lambda repo: (
            _edit(
                repo / OP / "model.py",
                "    times: int",
                "    callback: Callable[[int], int] = print\n    times: int",
            )
            or _edit(
                repo / OP / "model.py",
                "from pydantic",
                "from typing import Callable\n\nfrom pydantic",
            )
        ),
        [
            f"{OP}/model.py: InputModel cannot produce a JSON Schema: Cannot generate a"
            " JsonSchema for core_schema.CallableSchema"
        ],
    ),
    (
        "dataset format on a list rather than on its items",
        lambda repo: _edit(
            repo / OP / "model.py",
            "    times: int",
            '    sources: list[str] = Field(default=[], json_schema_extra={"format":'
            ' "flowui-dataset"})\n    times: int',
        ),
        [
            f'{OP}/model.py: InputModel at /properties/sources: format "flowui-dataset" marks'
            " a dataset id and belongs on a str field (for a list of datasets:"
            " list[Annotated[str, Field(json_schema_extra={...})]])"
        ],
    ),
    (
        "class named unlike its folder",
        lambda repo: _edit(repo / OP / "operator.py", "class HelloOperator", "class HiOperator"),
        [f"{OP}/operator.py:6: class HiOperator must be named like its folder: HelloOperator"],
    ),
    (
        "no operator class at all",
        lambda repo: (repo / OP / "operator.py").write_text("VALUE = 1\n"),
        [f"{OP}/operator.py: no class HelloOperator(BaseOperator) defined"],
    ),
    (
        "class does not inherit BaseOperator",
        lambda repo: _edit(repo / OP / "operator.py", "(BaseOperator):", ":"),
        [f"{OP}/operator.py:6: class HelloOperator must inherit flowui.base_operator.BaseOperator"],
    ),
    (
        "class without operator_function",
        lambda repo: _edit(repo / OP / "operator.py", "def operator_function", "def run"),
        [f"{OP}/operator.py:6: class HelloOperator has no operator_function method"],
    ),
    (
        "operator.py imports a model module that does not exist",
        lambda repo: _edit(repo / OP / "operator.py", "from .model import", "from .models import"),
        [
            f"{OP}/operator.py:3: imports .models, but HelloOperator/models.py does not exist"
            " (model modules here: .model)"
        ],
    ),
    (
        "metadata.json is not JSON",
        lambda repo: _edit(repo / OP / "metadata.json", '"tags": [', '"tags": [,'),
        [f"{OP}/metadata.json:4: invalid JSON: Expecting value"],
    ),
    (
        "metadata.json with an unknown key",
        lambda repo: _meta(repo, colour="red"),
        [
            f"{OP}/metadata.json:13: unknown key 'colour' (allowed here: name, description,"
            " version, tags, dependency, style, container_resources, operator_type, useIcon,"
            " iconStyle)"
        ],
    ),
    (
        "metadata.json with a wrong type",
        lambda repo: _meta(repo, tags="example"),
        [f"{OP}/metadata.json:4: tags: Input should be a valid list"],
    ),
    (
        "metadata.json with an unknown node type",
        lambda repo: _meta(repo, style={"node_type": "round"}),
        [f"{OP}/metadata.json:9: style.node_type: Input should be 'default', 'source' or 'sink'"],
    ),
    (
        "metadata.json with limits below requests",
        lambda repo: _meta(
            repo,
            container_resources={
                "requests": {"cpu": 500, "memory": 128},
                "limits": {"cpu": 100, "memory": 128},
            },
        ),
        [f"{OP}/metadata.json:13: container_resources: limits.cpu must be at least requests.cpu"],
    ),
    (
        "metadata.json names another operator",
        lambda repo: _meta(repo, name="OtherOperator"),
        [f"{OP}/metadata.json:2: name 'OtherOperator' differs from its folder 'HelloOperator'"],
    ),
    (
        "requirements file that does not exist",
        lambda repo: _meta(repo, dependency={"requirements_file": "requirements_9.txt"}),
        [
            f"{OP}/metadata.json:8: dependency.requirements_file:"
            " dependencies/requirements_9.txt does not exist"
        ],
    ),
    (
        "Dockerfile that does not exist",
        lambda repo: _meta(repo, dependency={"dockerfile": "Dockerfile_gpu"}),
        [
            f"{OP}/metadata.json:8: dependency.dockerfile:"
            " dependencies/Dockerfile_gpu does not exist"
        ],
    ),
    (
        "dependency file given as a path",
        lambda repo: _meta(repo, dependency={"requirements_file": "../../etc/passwd"}),
        [
            f"{OP}/metadata.json:8: dependency.requirements_file: '../../etc/passwd' must be a"
            " file name inside dependencies/, not a path"
        ],
    ),
    (
        "two dependencies at once",
        lambda repo: _meta(
            repo, dependency={"docker_image": "python:3.12", "dockerfile": "Dockerfile_0"}
        ),
        [
            f"{OP}/metadata.json:7: dependency: give at most one of requirements_file,"
            " dockerfile or docker_image"
        ],
    ),
    (
        "names that differ only in case",
        lambda repo: write_operator(repo, "HELLOOperator"),
        [
            "operators/HelloOperator: duplicate operator name:"
            " HelloOperator and HELLOOperator differ only in case"
        ],
    ),
]


@pytest.mark.parametrize(
    ("defect", "break_repository", "expected"),
    BROKEN_REPOSITORIES,
    ids=[case[0] for case in BROKEN_REPOSITORIES],
)
def test_each_defect_is_reported_with_its_file_line_and_message(
    tmp_path: Path, defect: str, break_repository: Callable[[Path], None], expected: list[str]
) -> None:
    repo = make_repository(tmp_path / "repo")
    break_repository(repo)
    report = validate_repository(repo)
    assert [str(problem) for problem in report.problems] == expected
    assert not report.ok


def test_every_problem_of_every_operator_is_reported_in_one_pass(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo", ("AOperator", "BOperator", "COperator"))
    (repo / "operators/AOperator/metadata.json").unlink()
    _edit(repo / "operators/BOperator/model.py", "class InputModel", "class Input")
    _edit(repo / "operators/COperator/operator.py", "class COperator", "class Other")

    report = validate_repository(repo)

    assert [problem.file for problem in report.problems] == [
        "operators/AOperator/metadata.json",
        "operators/BOperator/model.py",
        "operators/BOperator/operator.py",
        "operators/COperator/operator.py",
    ]


def test_a_model_file_that_hangs_is_timed_out_and_the_others_are_still_checked(
    tmp_path: Path,
) -> None:
    repo = make_repository(tmp_path / "repo", ("AOperator", "SlowOperator", "ZOperator"))
    _edit(
        repo / "operators/SlowOperator/model.py",
        "from pydantic",
        "import time\ntime.sleep(60)\nfrom pydantic",
    )
    _edit(repo / "operators/ZOperator/model.py", "class InputModel", "class Input")

    report = validate_repository(repo, timeout=2)

    assert [str(problem) for problem in report.problems] == [
        "operators/SlowOperator/model.py: importing the model file took longer than 2 s",
        "operators/ZOperator/model.py: no InputModel defined",
        "operators/ZOperator/operator.py:3: imports InputModel from .model,"
        " which does not define it",
    ]
    assert report.operators[0].schemas["input"] is not None  # AOperator was inspected


def test_a_model_file_that_kills_its_interpreter_is_reported_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    repo = make_repository(tmp_path / "repo", ("AOperator", "BOperator", "COperator"))
    _edit(
        repo / "operators/BOperator/model.py",
        "from pydantic",
        "import os\nos._exit(3)\nfrom pydantic",
    )

    report = validate_repository(repo)

    assert [str(problem) for problem in report.problems] == [
        "operators/BOperator/model.py: the model file stopped the Python interpreter"
    ]
    inspected = {op.name: op.schemas.get("input") is not None for op in report.operators}
    assert inspected == {"AOperator": True, "BOperator": False, "COperator": True}


def test_operator_code_never_runs_in_the_validating_process(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    marker = tmp_path / "imported_by_pid"
    # operator.py needs a package the platform lacks: it is read, never imported.
    _edit(repo / OP / "operator.py", "from flowui", "import package_only_in_the_image\nfrom flowui")
    _edit(
        repo / OP / "model.py",
        "from pydantic",
        f"import os\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\nfrom pydantic",
    )

    report = validate_repository(repo)

    assert report.ok, report.problems
    assert int(marker.read_text()) != os.getpid()
    assert package_name_for(repo / OP) not in sys.modules


def test_a_repository_of_the_original_flowui_layout_validates(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    (repo / OP / "model.py").rename(repo / OP / "models.py")
    _edit(repo / OP / "operator.py", "from .model import", "from .models import")
    (repo / "dependencies" / "requirements_0.txt").write_text("requests\n")
    legacy = metadata(
        "HelloOperator",
        dependency={
            "docker_image": None,
            "dockerfile": None,
            "requirements_file": "requirements_0.txt",
        },
        operator_type="default",
        useIcon=True,
        iconStyle={"cursor": "pointer"},
        style={
            "node_label": "Hello",
            "node_style": {"backgroundColor": "#b3cde8"},
            "icon_class_name": "fas fa-database",
        },
    )
    (repo / OP / "metadata.json").write_text(json.dumps(legacy))
    (repo / ".flowui").mkdir()
    (repo / ".flowui" / "compiled_metadata.json").write_text("{}")

    report = validate_repository(repo)

    assert report.ok, report.problems
    assert report.operators[0].metadata is not None
    assert report.operators[0].metadata.dependency.requirements_file == "requirements_0.txt"


def test_an_original_flowui_repository_validates_as_it_is(tmp_path: Path) -> None:
    repo = make_original_layout_repository(tmp_path / "legacy")

    report = validate_repository(repo)

    assert report.ok, report.problems
    assert report.config is not None
    assert report.config.image_name(0) == "acmelabs/legacy_tools:0.3.0-group0"  # [dockerhub]
    assert [op.name for op in report.operators] == [
        "NormalizeValuesOperator",
        "RunDigestOperator",
        "TextStatsOperator",
    ]
    assert report.operators[2].secret_names == ["STATS_SALT"]


def test_registry_and_dockerhub_together_are_an_error_at_the_dockerhub_line(
    tmp_path: Path,
) -> None:
    repo = make_original_layout_repository(tmp_path / "legacy")
    _edit(
        repo / "config.toml",
        "\n[dockerhub]",
        '\n[registry]\nREGISTRY_NAME = "ghcr.io/acme"\n\n[dockerhub]',
    )

    report = validate_repository(repo)

    assert [str(problem) for problem in report.problems] == [
        "config.toml:8: dockerhub: [dockerhub] is the original spelling of [registry] and both"
        " are given: keep [registry] and delete [dockerhub]"
    ]
