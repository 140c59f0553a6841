"""The `flowui workflows` commands without a running platform: validate, compile, remove, and
what `run` refuses before it needs Airflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from flowui.cli.main import app
from flowui.cli.workflows import dag_id_for_file
from tests.support.operator_repositories import make_repository

HELLO = {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"}


def hello_workflow(**extra: Any) -> dict[str, Any]:
    return {
        "name": "greetings",
        "parameters": {
            "type": "object",
            "required": ["who"],
            "properties": {
                "who": {"type": "string"},
                "times": {"type": "integer", "minimum": 1, "default": 1},
            },
        },
        "tasks": [
            {
                "id": "greet",
                "operator": HELLO,
                "inputs": {"name": {"param": "who"}, "times": {"param": "times"}},
            }
        ],
        **extra,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    created = CliRunner().invoke(app, ["init", str(tmp_path / "project")], env={})
    assert created.exit_code == 0, created.output
    return tmp_path / "project"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repository(tmp_path / "repo")


def flowui(project: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args], env={"FLOWUI_PROJECT_DIR": str(project)})


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_validate_installs_the_repository_and_says_ok(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    workflow = write(tmp_path / "greetings.json", hello_workflow())

    result = flowui(project, "workflows", "validate", str(workflow), "--repo", str(repo))

    assert result.exit_code == 0, result.output
    assert "ok greetings: 1 task(s)" in result.stdout


def test_validate_lists_every_error_with_its_pointer_and_exits_1(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    document = hello_workflow()
    document["tasks"][0]["inputs"]["times"] = {"value": 99}
    document["tasks"][0]["depends_on"] = ["nowhere"]
    workflow = write(tmp_path / "broken.json", document)

    result = flowui(project, "workflows", "validate", str(workflow), "--repo", str(repo), "--json")

    assert result.exit_code == 1
    errors = json.loads(result.stdout)["errors"]
    assert {error["pointer"] for error in errors} == {
        "/tasks/0/inputs/times/value",
        "/tasks/0/depends_on/0",
    }


def test_a_file_that_is_not_json_is_a_usage_error_with_its_line(
    project: Path, tmp_path: Path
) -> None:
    workflow = tmp_path / "bad.json"
    workflow.write_text('{\n  "name": "x",\n  oops\n}')

    result = flowui(project, "workflows", "validate", str(workflow))

    assert result.exit_code == 2
    assert f"{workflow}:3: invalid JSON" in result.stderr


def test_compile_writes_the_dag_files_and_remove_deletes_them(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    workflow = write(tmp_path / "greetings.json", hello_workflow())

    compiled = flowui(project, "workflows", "compile", str(workflow), "--repo", str(repo), "--json")

    assert compiled.exit_code == 0, compiled.output
    dag_file = Path(json.loads(compiled.stdout)["dag_file"])
    assert dag_file.name == f"{dag_id_for_file(workflow)}.py"
    assert dag_file.is_file() and dag_file.with_suffix(".json").is_file()

    removed = flowui(project, "workflows", "remove", str(workflow))

    assert removed.exit_code == 0, removed.output
    assert not dag_file.exists() and not dag_file.with_suffix(".json").exists()
    again = flowui(project, "workflows", "remove", str(workflow))
    assert again.exit_code == 1
    assert "has no compiled DAG" in again.stderr


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["who"], "--param 'who': expected NAME=VALUE"),
        (["nobody=1"], "the workflow has no parameter 'nobody'"),
        ([], "'who' is a required property"),
        (["who=ada", "times=0"], "--param times: 0 is less than the minimum of 1"),
        (["who=ada", "times=many"], "--param times: 'many' is not of type 'integer'"),
    ],
)
def test_run_rejects_bad_parameters_before_it_deploys_anything(
    project: Path, repo: Path, tmp_path: Path, params: list[str], message: str
) -> None:
    workflow = write(tmp_path / "greetings.json", hello_workflow())
    arguments = [argument for param in params for argument in ("--param", param)]

    result = flowui(project, "workflows", "run", str(workflow), "--repo", str(repo), *arguments)

    assert result.exit_code == 2
    assert message in result.stderr
    dags = project / "fs" / "airflow" / "dags"
    assert not any(dags.iterdir())


def test_run_says_how_to_start_the_platform_when_it_is_not_running(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    workflow = write(tmp_path / "greetings.json", hello_workflow())

    result = flowui(project, "workflows", "run", str(workflow), "-r", str(repo), "-P", "who=ada")

    assert result.exit_code == 1
    assert "the platform is not running" in result.stderr
    assert "make up" in result.stderr


BATCH_VARIABLES = (
    "AWS_BATCH_JOB_DEFINITION_HelloOperator_0_1_0",
    "AWS_BATCH_JOB_QUEUE_HelloOperator_0_1_0",
)


def flowui_with(project: Path, environ: dict[str, str | None], *args: str) -> Result:
    """`flowui` with more of the environment set (a None value unsets the variable)."""
    return CliRunner().invoke(app, [*args], env={"FLOWUI_PROJECT_DIR": str(project), **environ})


def test_compile_takes_the_platforms_default_runtime_and_refuses_what_it_cannot_run(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    workflow = write(tmp_path / "greetings.json", hello_workflow())
    on_batch: dict[str, str | None] = {"FLOWUI_DEFAULT_RUNTIME": "aws_batch"}
    unset = dict.fromkeys(BATCH_VARIABLES)

    refused = flowui_with(
        project, on_batch | unset, "workflows", "compile", str(workflow), "--repo", str(repo)
    )

    assert refused.exit_code == 1
    assert f"{workflow}#/tasks/0/runtime" in refused.stdout
    assert "task greet (HelloOperator 0.1.0) runs in aws_batch, but" in refused.stdout
    assert all(variable in refused.stdout for variable in BATCH_VARIABLES)
    assert "1 error(s)" in refused.stdout
    assert not any((project / "fs" / "airflow" / "dags").iterdir())

    batch = on_batch | dict.fromkeys(BATCH_VARIABLES, "set")
    compiled = flowui_with(project, batch, "workflows", "compile", str(workflow), "--json")

    assert compiled.exit_code == 0, compiled.output
    dag_document = Path(json.loads(compiled.stdout)["dag_file"]).with_suffix(".json")
    assert json.loads(dag_document.read_text())["tasks"]["greet"]["runtime"] == "aws_batch"


def test_run_refuses_a_task_its_runtime_cannot_run_before_it_needs_the_platform(
    project: Path, repo: Path, tmp_path: Path
) -> None:
    document = hello_workflow()
    document["tasks"][0]["runtime"] = "aws_batch"
    workflow = write(tmp_path / "greetings.json", document)

    result = flowui_with(
        project,
        dict.fromkeys(BATCH_VARIABLES),
        *("workflows", "run", str(workflow), "-r", str(repo), "-P", "who=ada", "--json"),
    )

    assert result.exit_code == 1
    [error] = json.loads(result.stdout)["errors"]
    assert error["pointer"] == "/tasks/0/runtime"
    assert BATCH_VARIABLES[0] in error["message"]
    assert "the platform is not running" not in result.stderr
