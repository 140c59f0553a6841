"""The `flowui operators` commands as a user runs them: output, exit codes, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowui.cli.main import app
from tests.support.operator_repositories import make_original_layout_repository, make_repository
from tests.support.paths import ROOT

SCHEMA_FILE = ROOT / "schemas" / "operator-metadata.schema.json"
runner = CliRunner()


def flowui(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "flowui"
    # A wide terminal: rows stay whole.
    environment = {**os.environ, "COLUMNS": "200", **(environ or {})}
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repository(tmp_path / "repo", ("HelloOperator", "ByeOperator"))


def test_validate_says_ok_and_exits_0_for_a_valid_repository(repo: Path) -> None:
    result = runner.invoke(app, ["operators", "validate", str(repo)])
    assert result.exit_code == 0, result.output
    assert f"ok 2 operator(s) in {repo}" in result.output


def test_validate_lists_problems_with_file_and_line_and_exits_1(repo: Path) -> None:
    (repo / "operators/ByeOperator/metadata.json").write_text('{"name": "ByeOperator", "tags": 3}')

    result = flowui("operators", "validate", str(repo))

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "operators/ByeOperator/metadata.json:1: tags: Input should be a valid list",
        f"1 problem(s) in {repo}",
    ]


def test_validate_json_is_machine_readable(repo: Path) -> None:
    (repo / "operators/HelloOperator/operator.py").unlink()

    result = runner.invoke(app, ["operators", "validate", str(repo), "--json"])

    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "repository": str(repo),
        "operators": ["ByeOperator", "HelloOperator"],
        "problems": [
            {
                "file": "operators/HelloOperator/operator.py",
                "line": None,
                "message": "missing: it must define the operator class",
            }
        ],
    }


def test_organize_writes_the_flowui_files_and_shows_the_groups(repo: Path) -> None:
    result = flowui("operators", "organize", str(repo))

    assert result.returncode == 0, result.stderr
    assert "localhost/demo:0.1.0-group0" in result.stdout
    assert f"wrote {repo / '.flowui' / 'compiled_metadata.json'}" in result.stdout
    assert (repo / ".flowui" / "dependencies_map.json").is_file()


def test_organize_json_reports_problems_and_writes_nothing(repo: Path) -> None:
    (repo / "config.toml").write_text("[repository]\n")

    result = runner.invoke(app, ["operators", "organize", str(repo), "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["written"] == []
    assert [p["message"] for p in report["problems"]] == [
        "repository.REPOSITORY_NAME: required key missing",
        "repository.VERSION: required key missing",
    ]
    assert not (repo / ".flowui").exists()


def test_run_prints_the_validated_output_and_where_log_and_results_are(
    repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    result = flowui(
        "operators",
        "run",
        "HelloOperator",
        "--repo",
        str(repo),
        "--root",
        str(root),
        "--input",
        '{"name": "Ada", "times": 2}',
        "--json",
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "success"
    assert outcome["output"] == {"message": "hello Ada hello Ada"}
    log = Path(outcome["log"])
    assert log.is_relative_to(root / "runs" / "dry_run")
    assert "greeting Ada" in log.read_text()
    assert json.loads(Path(outcome["output_file"]).read_text()) == outcome["output"]
    assert Path(outcome["results"]).is_dir()
    assert "greeting Ada" in result.stderr  # the log is followed live


def test_an_original_flowui_repository_validates_organizes_and_runs_as_it_is(
    tmp_path: Path,
) -> None:
    repo = make_original_layout_repository(tmp_path / "legacy")
    root = tmp_path / "root"

    validated = flowui("operators", "validate", str(repo))
    organized = flowui("operators", "organize", str(repo), "--json")
    runs = {
        name: flowui(
            "operators",
            "run",
            name,
            "-r",
            str(repo),
            "--root",
            str(root),
            "-i",
            inputs,
            "--json",
            environ={"STATS_SALT": "pepper-7731"},
        )
        for name, inputs in [
            ("TextStatsOperator", '{"text": "A rose is a rose"}'),
            ("NormalizeValuesOperator", '{"values": [2, 4, 6], "method": "minmax"}'),
            ("RunDigestOperator", "{}"),
        ]
    }

    assert validated.returncode == 0, validated.stdout
    assert validated.stdout.strip() == f"ok 3 operator(s) in {repo}"
    assert organized.returncode == 0, organized.stdout
    groups = json.loads(organized.stdout)["dependencies_map"]
    assert [group["source_image"] for group in groups.values()] == [
        "acmelabs/legacy_tools:0.3.0-group0",
        "acmelabs/legacy_tools:0.3.0-group1",
    ]
    outcomes = {name: json.loads(result.stdout) for name, result in runs.items()}
    assert {name: outcome["status"] for name, outcome in outcomes.items()} == dict.fromkeys(
        runs, "success"
    ), {name: result.stderr for name, result in runs.items()}
    assert outcomes["TextStatsOperator"]["output"] == {
        "message": "Text measured",
        "words": 5,
        "distinct_words": 3,
        "longest_word": "rose",
    }
    scaled = outcomes["NormalizeValuesOperator"]["output"]
    assert scaled["values"] == [0.0, 0.5, 1.0]
    written = Path(scaled["file_path"])
    assert written.is_relative_to(root)
    assert [float(value) for value in written.read_text().split()] == [0.0, 0.5, 1.0]
    digest = outcomes["RunDigestOperator"]
    assert digest["output"]["tasks"] == [{"task": "RunDigestOperator", "files": []}]
    assert Path(digest["results"], "digest.md").read_text() == (
        "# Run digest\n- RunDigestOperator: nothing"
    )


def test_run_reads_inputs_from_a_file(repo: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"name": "file"}')

    result = runner.invoke(
        app, ["operators", "run", "HelloOperator", "-r", str(repo), "-i", f"@{inputs}", "--json"]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == {"message": "hello file"}


def test_run_reports_invalid_inputs_of_the_operator_and_exits_1(repo: Path) -> None:
    result = flowui("operators", "run", "HelloOperator", "-r", str(repo), "-i", '{"times": 50}')

    assert result.returncode == 1
    assert "failed HelloOperator: input 'times': Input should be less than or equal to 10" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["-i", "{not json"],
            "error: --input: invalid JSON at line 1 column 2: Expecting property",
        ),
        (["-i", "[1, 2]"], "error: --input: must be a JSON object of input names to values"),
        (
            ["-i", "@/nonexistent/inputs.json"],
            "error: --input file /nonexistent/inputs.json: cannot read",
        ),
    ],
)
def test_run_rejects_bad_input_arguments_before_running(
    repo: Path, arguments: list[str], message: str
) -> None:
    result = flowui("operators", "run", "HelloOperator", "-r", str(repo), *arguments)
    assert result.returncode == 2
    assert message in result.stderr


def test_run_of_an_unknown_operator_lists_the_available_ones(repo: Path) -> None:
    result = flowui("operators", "run", "NopeOperator", "-r", str(repo))
    assert result.returncode == 2
    assert f"error: no operator NopeOperator in {repo}" in result.stderr
    assert "hint: available: ByeOperator, HelloOperator" in result.stderr


def test_run_refuses_an_operator_name_that_is_a_path(repo: Path) -> None:
    result = runner.invoke(app, ["operators", "run", "../../etc", "-r", str(repo)])
    assert result.exit_code == 2
    assert "operator name '../../etc' may contain only letters" in result.stderr


def test_the_published_metadata_schema_is_up_to_date() -> None:
    result = runner.invoke(app, ["operators", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(SCHEMA_FILE.read_text()), (
        "regenerate it: flowui operators schema -o schemas/operator-metadata.schema.json"
    )


def test_version_and_help_of_every_command() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.stdout.startswith("flowui ")
    for command in ["init", "new", "validate", "organize", "run", "schema"]:
        result = runner.invoke(app, ["operators", command, "--help"])
        assert result.exit_code == 0, command
        assert "Example" in result.stdout, command
