"""Scaffolding operators repositories (`flowui operators init`) and operators (`... new`)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
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


def yaml_key_paths(text: str) -> set[tuple[str, ...]]:
    """The nested mapping keys of a block-style YAML document (a tiny structural parse).

    Checks on the way that indentation is made of spaces in steps of two; block scalars
    (`key: |`) are skipped, and a list item `- key:` counts as two more spaces of indentation.
    """
    paths: set[tuple[str, ...]] = set()
    stack: list[tuple[int, str]] = []
    block_scalar_of: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_scalar_of is not None:
            if not stripped or indent > block_scalar_of:
                continue
            block_scalar_of = None
        if not stripped or stripped.startswith("#"):
            continue
        assert not line[:indent].count("\t") and not stripped.startswith("\t"), number
        assert indent % 2 == 0, f"line {number}: odd indentation"
        item = stripped.startswith("- ")
        if item:
            indent, stripped = indent + 2, stripped[2:]
        key = re.match(r"([A-Za-z_][\w.-]*):(?:\s|$)", stripped)
        if key is None:
            continue
        popped: list[int] = []
        while stack and stack[-1][0] >= indent:
            popped.append(stack.pop()[0])
        nested = stack[-1][0] + (4 if item else 2) if stack else 0
        # A key is nested one level deeper than its parent, or a sibling of the one it ends.
        assert indent == nested or popped[-1:] == [indent], f"line {number}: bad indentation"
        stack.append((indent, key.group(1)))
        paths.add(tuple(name for _, name in stack))
        if re.search(r":\s*[|>][-+]?\s*(#.*)?$", stripped):
            block_scalar_of = indent
    return paths


def block_scalar(text: str, key_line: str) -> str:
    """The dedented content of the block scalar that follows the line ending in `key_line`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(key_line)) + 1
    key_indent = len(lines[start - 1]) - len(lines[start - 1].lstrip())
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and len(line) - len(line.lstrip()) <= key_indent:
            break
        block.append(line)
    indent = min(len(line) - len(line.lstrip()) for line in block if line.strip())
    return "\n".join(line[indent:] for line in block) + "\n"


@pytest.fixture
def workflow(repository: Path) -> str:
    return (repository / ".github/workflows/flowui.yml").read_text()


def test_workflow_is_well_formed_yaml_with_the_expected_structure(workflow: str) -> None:
    paths = yaml_key_paths(workflow)

    for path in [
        ("name",),
        ("on", "push"),
        ("on", "pull_request"),
        ("env", "FLOWUI_REQUIREMENT"),
        ("jobs", "check", "permissions", "contents"),
        ("jobs", "check", "outputs", "groups"),
        ("jobs", "check", "steps", "run"),
        ("jobs", "images", "needs"),
        ("jobs", "images", "permissions", "packages"),
        ("jobs", "images", "strategy", "matrix", "group"),
        ("jobs", "images", "steps", "with", "password"),
    ]:
        assert path in paths, path
    assert workflow.count("${{") == workflow.count("}}")


def test_workflow_validates_organizes_tests_and_keeps_flowui_dir_current(workflow: str) -> None:
    steps = [
        "actions/setup-python@v5",
        'python -m pip install "$FLOWUI_REQUIREMENT" pytest',
        "flowui operators validate .",
        "flowui operators organize .",
        "if: github.event_name == 'pull_request'",
        "git status --porcelain -- .flowui",
        "python -m pytest tests",
        "git add -- .flowui",
        "git push",
    ]
    positions = [workflow.index(step) for step in steps]
    assert positions == sorted(positions)
    assert f'FLOWUI_REQUIREMENT: "flowui=={scaffold.__version__}"' in workflow
    # Commits and pushes happen on pushes to the default branch only.
    assert (
        "github.event_name == 'push' && github.ref == "
        "format('refs/heads/{0}', github.event.repository.default_branch)" in workflow
    )
    assert len(re.findall(r"if: env.PUSH == 'true'$", workflow, re.MULTILINE)) == 1  # commit


def test_workflow_pushes_images_only_from_the_default_branch(workflow: str) -> None:
    images_job = workflow[workflow.index("\n  images:") :]
    assert 'docker build --file "$DOCKERFILE" --tag "$IMAGE" .' in images_job
    assert "if: env.PUSH == 'true' && startsWith(matrix.group.image, 'ghcr.io/')" in images_job
    assert "password: ${{ secrets.GITHUB_TOKEN }}" in images_job
    assert "if: env.PUSH == 'true' && !startsWith(matrix.group.image, 'localhost/')" in images_job
    assert images_job.index("docker build") < images_job.index('docker push "$IMAGE"')


def test_workflow_builds_every_group_but_those_with_a_ready_made_image(
    workflow: str, tmp_path: Path
) -> None:
    (tmp_path / ".flowui").mkdir()
    none = {"requirements_file": None, "dockerfile": None, "docker_image": None}
    groups = {
        "group0": {"dependency": none, "source_image": "localhost/ops:1-group0"},
        "group1": {
            "dependency": {**none, "requirements_file": "requirements_0.txt"},
            "source_image": "ghcr.io/acme/ops:1-group1",
        },
        "group2": {
            "dependency": {**none, "dockerfile": "Dockerfile_gpu"},
            "source_image": "ghcr.io/acme/ops:1-group2",
        },
        "group3": {
            "dependency": {**none, "docker_image": "python:3.12"},
            "source_image": "python:3.12",
        },
    }
    (tmp_path / ".flowui/dependencies_map.json").write_text(json.dumps(groups))
    output = tmp_path / "github_output"
    script = _step_script(workflow, "id: groups")

    subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
        check=True,
        capture_output=True,
    )

    name, _, value = output.read_text().strip().partition("=")
    assert name == "groups"
    assert json.loads(value) == [
        {
            "image": "ghcr.io/acme/ops:1-group1",
            "dockerfile": "",
            "requirements_file": "requirements_0.txt",
        },
        {
            "image": "ghcr.io/acme/ops:1-group2",
            "dockerfile": "Dockerfile_gpu",
            "requirements_file": "",
        },
    ]


def _step_script(workflow: str, step_marker: str) -> str:
    """The `run:` block of the step whose lines include `step_marker`."""
    start = workflow.index(step_marker)
    return block_scalar(workflow[start:], "run: |")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash, as GitHub's runners have")
@pytest.mark.parametrize(
    ("dockerfile", "requirements", "expected"),
    [("Dockerfile_gpu", "", "dependencies/Dockerfile_gpu"), ("", "requirements_0.txt", None)],
)
def test_workflow_chooses_the_dockerfile_of_a_group(
    workflow: str, tmp_path: Path, dockerfile: str, requirements: str, expected: str | None
) -> None:
    script = _step_script(workflow, "name: Choose the Dockerfile")
    github_env = tmp_path / "github_env"

    subprocess.run(
        ["bash", "-e", "-c", script],
        env={
            **os.environ,
            "GROUP_DOCKERFILE": dockerfile,
            "GROUP_REQUIREMENTS": requirements,
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_ENV": str(github_env),
            "PYTHON_VERSION": "3.11",
            "FLOWUI_REQUIREMENT": "flowui==1.2.3",
        },
        check=True,
    )

    chosen = github_env.read_text().strip().removeprefix("DOCKERFILE=")
    if expected is not None:
        assert chosen == expected
    else:
        assert chosen == str(tmp_path / "Dockerfile")
        assert Path(chosen).read_text().splitlines() == [
            "FROM python:3.11-slim",
            'RUN python -m pip install --no-cache-dir "flowui==1.2.3"',
            "COPY dependencies/requirements_0.txt /tmp/requirements.txt",
            "RUN python -m pip install --no-cache-dir -r /tmp/requirements.txt "
            "&& rm /tmp/requirements.txt",
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
