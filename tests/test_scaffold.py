"""Scaffolding operators repositories (`flowui operators init`) and operators (`... new`)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from flowui.base_operator import RunContext
from flowui.operators import scaffold
from flowui.operators.loading import import_operator_module
from flowui.operators.metadata import OperatorMetadata, RepositoryConfig
from flowui.operators.scaffold import ScaffoldError, init_repository, new_operator
from flowui.storage import FileSystemRoot

SKELETON = {
    "config.toml",
    "dependencies/requirements_0.txt",
    "operators/HelloOperator/operator.py",
    "operators/HelloOperator/model.py",
    "operators/HelloOperator/metadata.json",
    "tests/test_hello_operator.py",
    "README.md",
    ".gitignore",
    ".github/workflows/flowui.yml",
}


def relative(paths: list[Path], root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in paths}


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its content, to show that nothing changed."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def flowui_command() -> str:
    command = shutil.which("flowui", path=str(Path(sys.executable).parent))
    assert command, "flowui is not installed next to this Python"
    return command


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    directory = tmp_path / "my-operators"
    init_repository(directory)
    return directory


# --- init_repository ---------------------------------------------------------------------------


def test_init_creates_every_file_of_the_skeleton_and_returns_them(tmp_path: Path) -> None:
    directory = tmp_path / "my-operators"

    written = init_repository(directory)

    assert relative(written, directory) == SKELETON
    assert snapshot(directory).keys() == SKELETON  # no staging directory left behind
    assert not (directory / ".flowui").exists()  # organize generates it, not init


def test_init_writes_a_config_that_names_the_repository_after_its_directory(
    repository: Path,
) -> None:
    text = (repository / "config.toml").read_text()
    config = RepositoryConfig.model_validate(tomllib.loads(text))

    assert config.name == "my-operators"
    assert config.version == "0.1.0"
    assert config.registry is None
    assert '# REGISTRY_NAME = "ghcr.io/<owner>"' in text  # shows how to add one
    assert text.count("\n# ") >= 4  # each key is explained


def test_init_takes_a_name_and_a_registry(tmp_path: Path) -> None:
    init_repository(tmp_path / "x", name="shared_ops", registry="ghcr.io/acme")

    config = RepositoryConfig.model_validate(
        tomllib.loads((tmp_path / "x/config.toml").read_text())
    )
    assert config.name == "shared_ops"
    assert config.registry is not None and config.registry.REGISTRY_NAME == "ghcr.io/acme"
    assert config.image_name(0) == "ghcr.io/acme/shared_ops:0.1.0-group0"


def test_init_refuses_a_directory_name_that_cannot_name_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        init_repository(tmp_path / "my ops")

    assert str(error.value) == (
        "repository name 'my ops' may contain only letters, digits, '_', '.' and '-'; "
        "the name defaults to the directory's name, give another one with --name"
    )
    assert not (tmp_path / "my ops").exists()


def test_init_refuses_an_invalid_name_given_explicitly(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=r"^repository name '\.\./up' may contain only"):
        init_repository(tmp_path / "ops", name="../up")
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_invalid_registry(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        init_repository(tmp_path / "ops", registry="GHCR.io/Acme:latest")

    assert str(error.value) == (
        "registry 'GHCR.io/Acme:latest' is not a container registry such as 'ghcr.io/owner' "
        "(lowercase host and path, no image name or tag)"
    )
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_existing_repository_and_leaves_it_untouched(repository: Path) -> None:
    (repository / "operators/HelloOperator/model.py").write_text("# my own work\n")
    before = snapshot(repository)

    with pytest.raises(ScaffoldError) as error:
        init_repository(repository)

    assert str(error.value) == (
        f"{repository / 'config.toml'} already exists: {repository} is already an operators "
        f"repository; add operators to it with `flowui operators new NAME --repo {repository}`"
    )
    assert snapshot(repository) == before
    assert sorted(p.name for p in repository.iterdir()) == sorted(
        [".github", ".gitignore", "README.md", "config.toml", "dependencies", "operators", "tests"]
    )


def test_init_refuses_a_directory_whose_operators_folder_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "ops/operators/Mine").mkdir(parents=True)
    (tmp_path / "ops/operators/Mine/operator.py").write_text("# mine\n")
    before = snapshot(tmp_path)

    with pytest.raises(ScaffoldError) as error:
        init_repository(tmp_path / "ops")

    assert str(error.value) == (
        f"{tmp_path / 'ops/operators'} is not empty; initialise a new repository in another "
        "directory, or move its contents away first"
    )
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "ops").iterdir()) == ["operators"]


def test_init_keeps_the_readme_and_gitignore_of_a_fresh_git_repository(tmp_path: Path) -> None:
    (tmp_path / "ops/operators").mkdir(parents=True)
    (tmp_path / "ops/README.md").write_text("# Ours\n")
    (tmp_path / "ops/.gitignore").write_text("secret.env\n")

    written = init_repository(tmp_path / "ops")

    assert relative(written, tmp_path / "ops") == SKELETON - {"README.md", ".gitignore"}
    assert (tmp_path / "ops/README.md").read_text() == "# Ours\n"
    assert (tmp_path / "ops/.gitignore").read_text() == "secret.env\n"


def test_init_failing_half_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops/LICENSE").write_text("MIT\n")
    real_rename = os.rename
    calls: list[Any] = []

    def rename_failing_on_the_fourth(source: Any, target: Any) -> None:
        calls.append(target)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(scaffold.os, "rename", rename_failing_on_the_fourth)

    with pytest.raises(OSError, match="No space left"):
        init_repository(tmp_path / "ops")

    assert len(calls) == 4
    assert [p.name for p in (tmp_path / "ops").iterdir()] == ["LICENSE"]


def test_init_failing_in_a_new_directory_removes_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_rename(source: Any, target: Any) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(scaffold.os, "rename", failing_rename)

    with pytest.raises(OSError):
        init_repository(tmp_path / "a/b/ops")

    assert list(tmp_path.iterdir()) == []


# --- the GitHub workflow ---------------------------------------------------------------------


@pytest.fixture
def workflow_text(repository: Path) -> str:
    return (repository / ".github/workflows/flowui.yml").read_text()


@pytest.fixture
def workflow(workflow_text: str) -> dict[str, Any]:
    document = yaml.safe_load(workflow_text)
    assert isinstance(document, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps_of(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps = workflow["jobs"][job]["steps"]
    assert all(isinstance(step, dict) for step in steps)
    return list(steps)


def step_named(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(step for step in steps_of(workflow, job) if step.get("name") == name)


def test_workflow_is_yaml_that_runs_on_pushes_tags_and_pull_requests(
    workflow: dict[str, Any], workflow_text: str
) -> None:
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["on"]["push"] is None  # every branch and every tag
    assert set(workflow["jobs"]) == {"check", "images"}
    assert workflow["env"]["FLOWUI_REQUIREMENT"] == f"flowui=={scaffold.__version__}"
    assert workflow["env"]["FLOWUI_VERSION"] == scaffold.__version__
    assert workflow_text.count("${{") == workflow_text.count("}}")
    assert "\t" not in workflow_text


def test_workflow_validates_organizes_tests_and_keeps_flowui_dir_current(
    workflow: dict[str, Any],
) -> None:
    runs = [step.get("run", step.get("uses", "")) for step in steps_of(workflow, "check")]
    expected = [
        "actions/setup-python@v5",
        'python -m pip install "$FLOWUI_REQUIREMENT" pytest',
        "flowui operators validate .",
        "flowui operators organize .",
        "git status --porcelain -- .flowui",
        "python -m pytest tests",
        "git add -- .flowui",
    ]
    positions = [next(i for i, run in enumerate(runs) if step in run) for step in expected]
    assert positions == sorted(positions)
    assert step_named(workflow, "check", "Fail if .flowui/ is out of date")["if"] == (
        "github.event_name == 'pull_request'"
    )
    commit = step_named(workflow, "check", "Commit the regenerated .flowui/")
    assert commit["if"] == "env.PUSH == 'true'" and "git push" in commit["run"]
    # Commits happen on pushes to the default branch only.
    assert workflow["env"]["PUSH"] == (
        "${{ github.event_name == 'push' && github.ref == "
        "format('refs/heads/{0}', github.event.repository.default_branch) }}"
    )


def test_workflow_builds_and_pushes_the_images_on_a_tag_with_flowui_build(
    workflow: dict[str, Any],
) -> None:
    job = workflow["jobs"]["images"]
    assert job["needs"] == "check"
    assert job["if"] == "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')"
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    runs = [step.get("run", step.get("uses", "")) for step in steps_of(workflow, "images")]
    install = next(i for i, run in enumerate(runs) if "pip install" in run)
    check = next(i for i, run in enumerate(runs) if "git status --porcelain -- .flowui" in run)
    build = next(i for i, run in enumerate(runs) if "flowui operators build" in run)
    assert install < check < build
    assert runs[install] == 'python -m pip install "flowui[images]==$FLOWUI_VERSION"'
    assert "flowui operators organize ." in runs[check] and "exit 1" in runs[check]
    assert (
        'flowui operators build . --engine docker --base-image "$FLOWUI_BASE_IMAGE" $push'
        in runs[build]
    )


def test_workflow_gives_registry_credentials_from_secrets_through_the_environment(
    workflow: dict[str, Any],
) -> None:
    step = step_named(workflow, "images", "Build and push the images")
    assert step["env"] == {
        "FLOWUI_REGISTRY_USERNAME": "${{ secrets.REGISTRY_USERNAME || github.actor }}",
        "FLOWUI_REGISTRY_PASSWORD": "${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}",
        "AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}",
        "AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    }
    assert "secrets." not in step["run"]  # never on a command line


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ('[registry]\nREGISTRY_NAME = "ghcr.io/acme"\n', ["--push"]),
        ('[dockerhub]\nREGISTRY_NAME = "docker.io/acme"\n', ["--push"]),
        ("# [registry]\n", []),
    ],
)
def test_workflow_pushes_only_when_config_names_a_registry(
    workflow: dict[str, Any], tmp_path: Path, registry: str, expected: list[str]
) -> None:
    (tmp_path / "config.toml").write_text(f'[repository]\nREPOSITORY_NAME = "x"\n{registry}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A stand-in for flowui that records its arguments.
    recorder = bin_dir / "flowui"
    recorder.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGUMENTS_FILE"\n')
    recorder.chmod(0o755)
    script = step_named(workflow, "images", "Build and push the images")["run"]

    subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "ARGUMENTS_FILE": str(tmp_path / "arguments"),
            "FLOWUI_BASE_IMAGE": "python:3.11-slim",
        },
        check=True,
        capture_output=True,
    )

    arguments = (tmp_path / "arguments").read_text().splitlines()
    assert arguments == [
        "operators",
        "build",
        ".",
        "--engine",
        "docker",
        "--base-image",
        "python:3.11-slim",
        *expected,
    ]


# --- new_operator ------------------------------------------------------------------------------


def test_new_operator_creates_its_three_files_and_its_test(repository: Path) -> None:
    written = new_operator(repository, "CleanRowsOperator")

    assert relative(written, repository) == {
        "operators/CleanRowsOperator/operator.py",
        "operators/CleanRowsOperator/model.py",
        "operators/CleanRowsOperator/metadata.json",
        "tests/test_clean_rows_operator.py",
    }
    assert not [p for p in (repository / "operators").iterdir() if p.name.startswith(".")]


def test_new_operator_creates_the_tests_folder_if_missing(repository: Path) -> None:
    shutil.rmtree(repository / "tests")

    new_operator(repository, "CSVReader")

    assert [p.name for p in (repository / "tests").iterdir()] == ["test_csv_reader.py"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "the operator name is empty; give a CamelCase name such as 'CleanRowsOperator'"),
        (
            "clean rows",
            "operator name 'clean rows' is not a Python identifier (only ASCII letters and "
            "digits, no spaces); try 'CleanRows'",
        ),
        ("1Op", "operator name '1Op' starts with a digit; try 'Op1'"),
        (
            "os",
            "operator name 'os' is not CamelCase (a capital letter first, then letters and "
            "digits, no underscores); try 'OsOperator'",
        ),
        (
            "Clean_Rows",
            "operator name 'Clean_Rows' is not CamelCase (a capital letter first, then letters "
            "and digits, no underscores); try 'CleanRows'",
        ),
        (
            "../Evil",
            "operator name '../Evil' is a path; give just the class name, e.g. 'Evil' "
            "(the operator is created in the repository's operators/ folder)",
        ),
        (
            "sub\\CleanRows",
            "operator name 'sub\\\\CleanRows' is a path; give just the class name, e.g. "
            "'CleanRows' (the operator is created in the repository's operators/ folder)",
        ),
        ("None", "operator name 'None' is a Python keyword; try 'NoneOperator'"),
        (
            "InputModel",
            "operator name 'InputModel' would shadow a name that operator code uses; "
            "try 'InputModelOperator'",
        ),
        (
            "Exception",
            "operator name 'Exception' would shadow a name that operator code uses; "
            "try 'ExceptionOperator'",
        ),
        ("A" * 101, f"operator name {'A' * 20!r}... is longer than 100 characters"),
    ],
)
def test_new_operator_rejects_a_bad_name_and_suggests_a_fix(
    repository: Path, name: str, message: str
) -> None:
    before = snapshot(repository)

    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, name)

    assert str(error.value) == message
    assert snapshot(repository) == before


def test_new_operator_rejects_a_name_already_taken_ignoring_case(repository: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, "HELLOOPERATOR")

    assert str(error.value) == (
        f"operator 'HelloOperator' already exists in {repository / 'operators'} "
        "(names are compared ignoring case); choose another name, e.g. 'HELLOOPERATOR2'"
    )


def test_new_operator_rejects_an_existing_name_and_leaves_it_untouched(repository: Path) -> None:
    before = snapshot(repository)

    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, "HelloOperator")

    assert str(error.value) == (
        f"operator 'HelloOperator' already exists in {repository / 'operators'}; "
        "choose another name, e.g. 'HelloOperator2'"
    )
    assert snapshot(repository) == before


def test_new_operator_does_not_overwrite_an_existing_test_file(repository: Path) -> None:
    (repository / "tests/test_clean_rows.py").write_text("# mine\n")

    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, "CleanRows")

    assert str(error.value) == (
        f"{repository / 'tests/test_clean_rows.py'} already exists; remove it or choose another "
        "operator name"
    )
    assert not (repository / "operators/CleanRows").exists()


def test_new_operator_needs_an_operators_repository(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        new_operator(tmp_path, "CleanRows")

    assert str(error.value) == (
        f"{tmp_path} is not an operators repository (it has no config.toml); "
        f"create one with `flowui operators init {tmp_path}`"
    )
    assert list(tmp_path.iterdir()) == []


def test_new_operator_joins_the_dependency_group_of_a_requirements_file(repository: Path) -> None:
    new_operator(repository, "CleanRows", requirements_file="requirements_0.txt")

    metadata = json.loads((repository / "operators/CleanRows/metadata.json").read_text())
    assert metadata["dependency"] == {"requirements_file": "requirements_0.txt"}


def test_new_operator_without_requirements_file_uses_flowui_runtime_only(repository: Path) -> None:
    new_operator(repository, "CleanRows")

    metadata = json.loads((repository / "operators/CleanRows/metadata.json").read_text())
    assert metadata["dependency"] == {}


def test_new_operator_rejects_a_missing_requirements_file(repository: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, "CleanRows", requirements_file="requirements_ml.txt")

    assert str(error.value) == (
        f"requirements file 'requirements_ml.txt' not found in {repository / 'dependencies'} "
        "(found: requirements_0.txt); create it first or name an existing one"
    )
    assert not (repository / "operators/CleanRows").exists()


def test_new_operator_rejects_a_requirements_file_given_as_a_path(repository: Path) -> None:
    with pytest.raises(ScaffoldError) as error:
        new_operator(repository, "CleanRows", requirements_file="../config.toml")

    assert str(error.value) == (
        f"requirements file '../config.toml' must be a file name in "
        f"{repository / 'dependencies'}, not a path"
    )


def test_new_operator_failing_half_way_leaves_nothing_behind(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(repository)
    real_rename = os.rename

    def rename_failing_on_the_test_file(source: Any, target: Any) -> None:
        if str(target).endswith(".py"):
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(scaffold.os, "rename", rename_failing_on_the_test_file)

    with pytest.raises(OSError):
        new_operator(repository, "CleanRows")

    assert snapshot(repository) == before
    assert sorted(p.name for p in (repository / "operators").iterdir()) == ["HelloOperator"]


# --- what new_operator generates ---------------------------------------------------------------


def load_model_module(model_file: Path) -> Any:
    spec = importlib.util.spec_from_file_location("generated_model", model_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_operator_file_compiles_and_defines_the_class(repository: Path) -> None:
    new_operator(repository, "CleanRowsOperator")
    source = (repository / "operators/CleanRowsOperator/operator.py").read_text()

    compile(source, "operator.py", "exec")
    tree = ast.parse(source)

    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert [c.name for c in classes] == ["CleanRowsOperator"]
    assert [ast.unparse(base) for base in classes[0].bases] == ["BaseOperator"]
    function = next(n for n in classes[0].body if isinstance(n, ast.FunctionDef))
    assert function.name == "operator_function"
    assert "from flowui.base_operator import BaseOperator" in source
    assert "from .model import InputModel, OutputModel" in source
    assert "self.logger.info(" in source


def test_generated_model_defines_described_inputs_and_outputs(repository: Path) -> None:
    new_operator(repository, "CleanRowsOperator")
    model_file = repository / "operators/CleanRowsOperator/model.py"
    compile(model_file.read_text(), str(model_file), "exec")

    module = load_model_module(model_file)

    assert issubclass(module.InputModel, BaseModel)
    assert issubclass(module.OutputModel, BaseModel)
    inputs = module.InputModel.model_fields
    assert len(inputs) >= 2
    assert all(field.description for field in inputs.values())
    assert all(not field.is_required() for field in inputs.values())  # all have defaults
    assert {field.annotation for field in inputs.values()} >= {str, int}
    assert all(field.description for field in module.OutputModel.model_fields.values())


def test_generated_metadata_is_valid_and_named_like_the_operator(repository: Path) -> None:
    new_operator(repository, "CleanRowsOperator")

    data = json.loads((repository / "operators/CleanRowsOperator/metadata.json").read_text())
    metadata = OperatorMetadata.model_validate(data)

    assert metadata.name == "CleanRowsOperator"
    assert metadata.style.node_label == "Clean Rows Operator"
    assert metadata.container_resources.requests.cpu == 100
    assert metadata.container_resources.limits.memory == 512
    assert metadata.container_resources.gpu == 0


def test_generated_operator_runs_and_returns_its_output(repository: Path, tmp_path: Path) -> None:
    new_operator(repository, "CleanRowsOperator")
    operator_dir = repository / "operators/CleanRowsOperator"
    operator_class = import_operator_module(operator_dir, "operator").CleanRowsOperator
    inputs = import_operator_module(operator_dir, "model").InputModel
    results = tmp_path / "results"
    results.mkdir()
    operator = operator_class(
        context=RunContext(dag_id="d", run_id="r", task_id="t"),
        results_path=results,
        root=FileSystemRoot(tmp_path),
    )

    output = operator.operator_function(inputs(message="hi", repeat=3, separator="-"))

    assert output.model_dump() == {"text": "hi-hi-hi", "length": 8}
    assert (results / "message.txt").read_text() == "hi-hi-hi\n"
    assert operator.display_result is not None


# --- end to end, through the CLI -------------------------------------------------------------


def test_new_repository_with_a_new_operator_validates(repository: Path) -> None:
    new_operator(repository, "CleanRowsOperator", requirements_file="requirements_0.txt")

    completed = subprocess.run(
        [flowui_command(), "operators", "validate", str(repository), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["ok"] is True
    assert sorted(report["operators"]) == ["CleanRowsOperator", "HelloOperator"]


def test_generated_operator_tests_pass(repository: Path) -> None:
    new_operator(repository, "CleanRowsOperator")

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "4 passed" in completed.stdout
