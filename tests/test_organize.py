"""`flowui operators organize`: deterministic compiled metadata and dependency groups."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flowui.operators.organize import holds_original_flowui_files, organize_repository
from tests.support.operator_repositories import (
    make_original_layout_repository,
    make_repository,
    metadata,
    write_operator,
)

SECRETS_MODEL = """
class SecretsModel(BaseModel):
    API_TOKEN: str
    OTHER_TOKEN: str = ""
"""


def _flowui_files(repo: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((repo / ".flowui").iterdir())}


def _grouped_repository(path: Path) -> Path:
    repo = make_repository(path, ())
    (repo / "config.toml").write_text(
        '[repository]\nREPOSITORY_NAME = "Demo_Ops"\nVERSION = "1.2.0"\n\n'
        '[registry]\nREGISTRY_NAME = "ghcr.io/acme"\n'
    )
    (repo / "dependencies" / "requirements_ml.txt").write_text("scikit-learn\n")
    (repo / "dependencies" / "requirements_data.txt").write_text("pandas\n")
    (repo / "dependencies" / "Dockerfile_gpu").write_text("FROM scratch\n")
    dependencies = {
        "TrainOperator": {"requirements_file": "requirements_ml.txt"},
        "PredictOperator": {"requirements_file": "requirements_ml.txt"},
        "CleanOperator": {"requirements_file": "requirements_data.txt"},
        "CudaOperator": {"dockerfile": "Dockerfile_gpu"},
        "ImageOperator": {"docker_image": "ghcr.io/acme/tool:2.0"},
        "EchoOperator": {},
    }
    for name, dependency in dependencies.items():
        write_operator(repo, name, meta=metadata(name, dependency=dependency))
    from tests.support.operator_repositories import MODEL

    write_operator(
        repo,
        "TrainOperator",
        model=MODEL + SECRETS_MODEL,
        meta=metadata("TrainOperator", dependency=dependencies["TrainOperator"], version="2.0.0"),
    )
    return repo


def test_operators_with_the_same_dependency_share_a_group_and_its_image(tmp_path: Path) -> None:
    repo = _grouped_repository(tmp_path / "repo")

    result = organize_repository(repo)

    assert result.report.ok, result.report.problems
    written = json.loads((repo / ".flowui" / "dependencies_map.json").read_text())
    assert written == {
        "group0": {
            "dependency": {"docker_image": None, "dockerfile": None, "requirements_file": None},
            "operators": ["EchoOperator"],
            "secrets": [],
            "source_image": "ghcr.io/acme/demo_ops:1.2.0-group0",
        },
        "group1": {
            "dependency": {
                "docker_image": "ghcr.io/acme/tool:2.0",
                "dockerfile": None,
                "requirements_file": None,
            },
            "operators": ["ImageOperator"],
            "secrets": [],
            "source_image": "ghcr.io/acme/tool:2.0",
        },
        "group2": {
            "dependency": {
                "docker_image": None,
                "dockerfile": "Dockerfile_gpu",
                "requirements_file": None,
            },
            "operators": ["CudaOperator"],
            "secrets": [],
            "source_image": "ghcr.io/acme/demo_ops:1.2.0-group2",
        },
        "group3": {
            "dependency": {
                "docker_image": None,
                "dockerfile": None,
                "requirements_file": "requirements_data.txt",
            },
            "operators": ["CleanOperator"],
            "secrets": [],
            "source_image": "ghcr.io/acme/demo_ops:1.2.0-group3",
        },
        "group4": {
            "dependency": {
                "docker_image": None,
                "dockerfile": None,
                "requirements_file": "requirements_ml.txt",
            },
            "operators": ["PredictOperator", "TrainOperator"],
            "secrets": ["API_TOKEN", "OTHER_TOKEN"],
            "source_image": "ghcr.io/acme/demo_ops:1.2.0-group4",
        },
    }


def test_compiled_metadata_carries_schemas_version_style_and_source(tmp_path: Path) -> None:
    repo = _grouped_repository(tmp_path / "repo")

    organize_repository(repo)

    compiled = json.loads((repo / ".flowui" / "compiled_metadata.json").read_text())
    assert sorted(compiled) == [
        "CleanOperator",
        "CudaOperator",
        "EchoOperator",
        "ImageOperator",
        "PredictOperator",
        "TrainOperator",
    ]
    train = compiled["TrainOperator"]
    assert train["version"] == "2.0.0"  # its own
    assert compiled["EchoOperator"]["version"] == "1.2.0"  # the repository's
    assert train["source_path"] == "operators/TrainOperator"
    assert train["source_hash"].startswith("sha256:")
    assert train["input_schema"]["properties"]["times"] == {
        "default": 1,
        "maximum": 10,
        "minimum": 1,
        "title": "Times",
        "type": "integer",
    }
    assert train["input_schema"]["required"] == [] if "required" in train["input_schema"] else True
    assert train["output_schema"]["required"] == ["message"]
    assert sorted(train["secrets_schema"]["properties"]) == ["API_TOKEN", "OTHER_TOKEN"]
    assert compiled["EchoOperator"]["secrets_schema"] is None
    assert train["style"]["node_label"] == "Hello"
    assert train["container_resources"] == {
        "gpu": 0,
        "limits": {"cpu": 1000, "memory": 1024},
        "requests": {"cpu": 100, "memory": 128},
    }


def test_the_same_repository_gives_byte_identical_files_wherever_it_lies(tmp_path: Path) -> None:
    repo = _grouped_repository(tmp_path / "repo")
    organize_repository(repo)
    first = _flowui_files(repo)

    organize_repository(repo)
    copy = shutil.copytree(repo, tmp_path / "elsewhere" / "copy")
    shutil.rmtree(copy / ".flowui")
    organize_repository(copy)

    assert _flowui_files(repo) == first
    assert _flowui_files(copy) == first


def test_the_source_hash_follows_the_operator_files(tmp_path: Path) -> None:
    repo = _grouped_repository(tmp_path / "repo")
    organize_repository(repo)
    before = json.loads((repo / ".flowui" / "compiled_metadata.json").read_text())

    operator_file = repo / "operators" / "CleanOperator" / "operator.py"
    operator_file.write_text(operator_file.read_text() + "\n# changed\n")
    organize_repository(repo)
    after = json.loads((repo / ".flowui" / "compiled_metadata.json").read_text())

    changed = [name for name in before if before[name]["source_hash"] != after[name]["source_hash"]]
    assert changed == ["CleanOperator"]


def test_nothing_is_written_when_the_repository_has_a_problem(tmp_path: Path) -> None:
    repo = _grouped_repository(tmp_path / "repo")
    organize_repository(repo)
    before = _flowui_files(repo)
    (repo / "dependencies" / "requirements_data.txt").unlink()
    write_operator(repo, "NewOperator")

    result = organize_repository(repo)

    assert [str(p) for p in result.report.problems] == [
        "operators/CleanOperator/metadata.json:8: dependency.requirements_file:"
        " dependencies/requirements_data.txt does not exist"
    ]
    assert result.written == ()
    assert _flowui_files(repo) == before


def test_organize_works_without_the_operators_dependencies_installed(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    operator_file = repo / "operators" / "HelloOperator" / "operator.py"
    operator_file.write_text("import torch_that_is_not_here\n" + operator_file.read_text())

    result = organize_repository(repo)

    assert result.report.ok, result.report.problems
    assert result.compiled_metadata is not None
    assert "HelloOperator" in result.compiled_metadata


def test_an_original_flowui_repository_is_organized_over_its_original_files(
    tmp_path: Path,
) -> None:
    repo = make_original_layout_repository(tmp_path / "legacy")
    assert holds_original_flowui_files(repo)

    result = organize_repository(repo)

    assert result.report.ok, result.report.problems
    assert not holds_original_flowui_files(repo)
    groups = json.loads((repo / ".flowui" / "dependencies_map.json").read_text())
    assert {
        name: (group["operators"], group["source_image"]) for name, group in groups.items()
    } == {
        "group0": (
            ["RunDigestOperator", "TextStatsOperator"],
            "acmelabs/legacy_tools:0.3.0-group0",
        ),
        "group1": (["NormalizeValuesOperator"], "acmelabs/legacy_tools:0.3.0-group1"),
    }
    assert groups["group0"]["secrets"] == ["STATS_SALT"]
    compiled = json.loads((repo / ".flowui" / "compiled_metadata.json").read_text())
    digest = compiled["RunDigestOperator"]
    assert digest["version"] == "0.3.0"
    assert digest["input_schema"]["title"] == "RunDigestOperator"  # v1-style `class Config`
    assert digest["style"] == {
        "icon_class_name": "fa-solid fa-file-lines",
        "node_label": "Run digest",
        "node_style": {},
        "node_type": "sink",
    }
    scaling = compiled["NormalizeValuesOperator"]["input_schema"]
    assert scaling["$defs"]["ScalingMethod"]["enum"] == ["minmax", "zscore"]

    first = _flowui_files(repo)
    organize_repository(repo)
    copy = make_original_layout_repository(tmp_path / "elsewhere" / "legacy")
    organize_repository(copy)
    assert _flowui_files(repo) == first
    assert _flowui_files(copy) == first


def test_only_files_that_flowui_did_not_write_count_as_original(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    assert not holds_original_flowui_files(repo)  # no .flowui at all
    organize_repository(repo)
    assert not holds_original_flowui_files(repo)
    (repo / ".flowui" / "compiled_metadata.json").write_text("{not json")
    assert not holds_original_flowui_files(repo)  # broken: reported, never silently replaced
