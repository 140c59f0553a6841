"""`flowui init` and `flowui config show`, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from flowui.cli import project as project_commands
from flowui.config import PROJECT_DIR_VARIABLE, SETTINGS
from tests.support.paths import FLOWUI

SECRET = "ghp_do-not-print-me-0123456789"
ROOT_DIRECTORIES = (
    "airflow/dags",
    "airflow/logs",
    "airflow/plugins",
    "operators_repositories",
    "dataset",
    "runs",
)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell; home and cwd are throwaway."""
    for name in (*SETTINGS, PROJECT_DIR_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def app() -> typer.Typer:
    cli = typer.Typer()
    project_commands.register(cli)
    return cli


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def init_project(app: typer.Typer, directory: Path, *args: str) -> Path:
    result = run(app, "init", str(directory), *args)
    assert result.exit_code == 0, result.output
    return directory


def show_json(app: typer.Typer, *args: str) -> dict[str, dict[str, object]]:
    result = run(app, "config", "show", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, dict[str, object]] = json.loads(result.stdout)
    return data


# --- flowui init -----------------------------------------------------------------------------


def test_init_creates_config_ini_and_every_directory_of_the_root(
    app: typer.Typer, tmp_path: Path
) -> None:
    result = run(app, "init", "platform", "--name", "demo", "--deploy-mode", "compose")

    assert result.exit_code == 0, result.output
    project = tmp_path / "platform"
    config = (project / "config.ini").read_text()
    assert "PROJECT_NAME = demo\n" in config
    assert "FLOWUI_DEPLOY_MODE = compose\n" in config
    assert f"VOLUME_MOUNT_PATH_HOST = {project / 'fs'}\n" in config
    for directory in ROOT_DIRECTORIES:
        assert (project / "fs" / directory).is_dir(), directory
    assert str(project / "config.ini") in result.stdout


def test_init_defaults_to_the_current_directory(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "init")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "config.ini").is_file()
    assert (tmp_path / "fs" / "airflow" / "dags").is_dir()


def test_init_json_names_project_config_and_root(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "init", "platform", "--root", "shared-root", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "project_dir": str(tmp_path / "platform"),
        "config_file": str(tmp_path / "platform" / "config.ini"),
        "root": str(tmp_path / "shared-root"),
    }
    for directory in ROOT_DIRECTORIES:
        assert (tmp_path / "shared-root" / directory).is_dir(), directory


def test_init_refuses_to_overwrite_and_leaves_the_old_file_byte_identical(
    app: typer.Typer, tmp_path: Path
) -> None:
    project = init_project(app, tmp_path / "platform", "--name", "first")
    before = (project / "config.ini").read_bytes()

    result = run(app, "init", str(project), "--name", "second")

    assert result.exit_code == 1
    assert f"error: {project / 'config.ini'} already exists; nothing was written" in result.stderr
    assert "--force" in result.stderr
    assert (project / "config.ini").read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == ["config.ini", "fs"]  # no temp file


def test_init_force_overwrites(app: typer.Typer, tmp_path: Path) -> None:
    project = init_project(app, tmp_path / "platform", "--name", "first")

    result = run(app, "init", str(project), "--name", "second", "--force")

    assert result.exit_code == 0, result.output
    assert "PROJECT_NAME = second\n" in (project / "config.ini").read_text()


def test_init_rejects_an_invalid_project_name_and_writes_nothing(
    app: typer.Typer, tmp_path: Path
) -> None:
    result = run(app, "init", "platform", "--name", "../escape")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --name: project name '../escape' may contain only letters, digits, '_', '.' and '-'"
    )
    assert not (tmp_path / "platform").exists()


def test_init_rejects_an_invalid_deploy_mode(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "init", "platform", "--deploy-mode", "kube")

    assert result.exit_code == 2
    assert "kube" in result.stderr
    assert not (tmp_path / "platform").exists()


def test_init_writes_no_secret_from_the_environment(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", SECRET)
    monkeypatch.setenv("FLOWUI_DEPLOY_MODE", "k8s")

    result = run(app, "init", "platform")

    assert result.exit_code == 0, result.output
    config = (tmp_path / "platform" / "config.ini").read_text()
    assert SECRET not in config
    assert "FLOWUI_DEPLOY_MODE = local\n" in config  # the host's environment is not frozen in
    assert "the environment sets FLOWUI_DEPLOY_MODE" in result.stderr


# --- flowui config show ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "cli", "ini", "expected", "source"),
    [
        (None, None, None, "us-east-1", "default"),
        (None, None, "eu-west-1", "eu-west-1", "config.ini"),
        (None, "eu-west-2", "eu-west-1", "eu-west-2", "cli"),
        ("eu-west-3", "eu-west-2", "eu-west-1", "eu-west-3", "environment"),
    ],
)
def test_config_show_json_reports_the_winning_layer(
    app: typer.Typer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: str | None,
    cli: str | None,
    ini: str | None,
    expected: str,
    source: str,
) -> None:
    project = tmp_path / "platform"
    project.mkdir()
    if ini is not None:
        (project / "config.ini").write_text(f"[aws]\nAWS_REGION_NAME = {ini}\n")
    if environment is not None:
        monkeypatch.setenv("AWS_REGION_NAME", environment)
    args = ["--project", str(project)] + (["--set", f"AWS_REGION_NAME={cli}"] if cli else [])

    data = show_json(app, *args)

    assert data["AWS_REGION_NAME"] == {"value": expected, "source": source, "secret": False}
    assert data["FLOWUI_PATH_HOST"] == {"value": None, "source": "default", "secret": False}


def test_config_show_table_lists_name_value_and_source(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = init_project(app, tmp_path / "p", "--name", "demo")
    monkeypatch.setenv("FLOWUI_DEPLOY_MODE", "aws")

    result = run(app, "config", "show", "-p", str(project), "--set", "GITHUB_REPOSITORY_NAME=a/b")

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "NAME" in result.stdout and "VALUE" in result.stdout and "SOURCE" in result.stdout
    assert "demo" in rows["PROJECT_NAME"] and "config.ini" in rows["PROJECT_NAME"]
    assert "aws" in rows["FLOWUI_DEPLOY_MODE"] and "environment" in rows["FLOWUI_DEPLOY_MODE"]
    assert "a/b" in rows["GITHUB_REPOSITORY_NAME"] and "cli" in rows["GITHUB_REPOSITORY_NAME"]
    assert "default" in rows["FLOWUI_ADMIN_EMAIL"]
    assert "process" in rows["FLOWUI_DEFAULT_RUNTIME"]  # written by `flowui init`


def test_secrets_are_masked_in_table_and_json(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = init_project(app, tmp_path / "platform")
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", SECRET)
    monkeypatch.setenv("FLOWUI_SECRET_KEY", SECRET)
    monkeypatch.setenv("FLOWUI_DATABASE_URL", f"postgresql://flowui:{SECRET}@db/flowui")

    table = run(app, "config", "show", "--project", str(project))
    as_json = run(app, "config", "show", "--project", str(project), "--json")

    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert "****" in rows["GITHUB_ACCESS_TOKEN"]
    assert "****" not in rows["AWS_SECRET_ACCESS_KEY"]  # unset: nothing shown
    data = json.loads(as_json.stdout)
    assert data["GITHUB_ACCESS_TOKEN"] == {"value": "****", "source": "environment", "secret": True}
    assert data["AWS_SECRET_ACCESS_KEY"] == {"value": None, "source": "default", "secret": True}
    assert data["FLOWUI_DATABASE_URL"]["value"] == "postgresql://flowui:****@db/flowui"


def test_project_dir_comes_from_the_environment_unless_given(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(app, tmp_path / "a", "--name", "alpha")
    init_project(app, tmp_path / "b", "--name", "beta")
    monkeypatch.setenv(PROJECT_DIR_VARIABLE, str(tmp_path / "a"))

    assert show_json(app)["PROJECT_NAME"]["value"] == "alpha"
    assert show_json(app, "--project", str(tmp_path / "b"))["PROJECT_NAME"]["value"] == "beta"


def test_config_show_without_config_ini_shows_defaults_and_says_so(
    app: typer.Typer, tmp_path: Path
) -> None:
    result = run(app, "config", "show", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["PROJECT_NAME"] == {
        "value": "flowui",
        "source": "default",
        "secret": False,
    }
    assert "no config.ini in" in result.stderr


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "[project]\nFLOWUI_DEPLOY_MODE = kube\n",
            "config.ini [project] FLOWUI_DEPLOY_MODE: 'kube' is not one of local, compose, k8s, "
            "aws",
        ),
        ("[project]\nFOO = 1\n", "config.ini [project] FOO: unknown setting FOO"),
        (
            f"[code_repository]\nGITHUB_ACCESS_TOKEN = {SECRET}\n",
            "config.ini [code_repository] GITHUB_ACCESS_TOKEN: GITHUB_ACCESS_TOKEN is a secret "
            "and is not read from config.ini; set it in the environment instead",
        ),
        (
            "[project]\nPROJECT_NAME\n",
            "config.ini line 2: 'PROJECT_NAME' is not 'KEY = value', a [section] header or a # "
            "comment",
        ),
        (
            "[project]\nPROJECT_NAME = a b\n",
            "config.ini [project] PROJECT_NAME: project name 'a b' may contain only letters, "
            "digits, '_', '.' and '-'",
        ),
    ],
    ids=["deploy-mode", "unknown-key", "secret", "malformed", "project-name"],
)
def test_bad_config_ini_gives_its_exact_message_on_stderr(
    app: typer.Typer, tmp_path: Path, ini: str, message: str
) -> None:
    (tmp_path / "config.ini").write_text(ini)

    result = run(app, "config", "show")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == f"error: {message}"
    assert result.stderr.splitlines()[1] == f"hint: edit {tmp_path / 'config.ini'}"
    assert SECRET not in result.output


def test_unknown_set_key_is_an_error(app: typer.Typer) -> None:
    result = run(app, "config", "show", "--set", "FOO=1")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --set FOO: unknown setting FOO"


def test_set_without_equals_sign_is_bad_usage(app: typer.Typer) -> None:
    result = run(app, "config", "show", "--set", "FLOWUI_DEPLOY_MODE")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --set 'FLOWUI_DEPLOY_MODE': expected KEY=VALUE"


def test_invalid_deploy_mode_in_environment_names_the_environment(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWUI_DEPLOY_MODE", "kube")

    result = run(app, "config", "show")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: environment FLOWUI_DEPLOY_MODE: 'kube' is not one of local, compose, k8s, aws"
    )


@pytest.mark.parametrize("command", [["init"], ["config", "show"], ["config"]])
def test_every_command_has_help(app: typer.Typer, command: list[str]) -> None:
    result = run(app, *command, "--help")

    assert result.exit_code == 0, result.output
    if command != ["config"]:
        assert f"Example: flowui {' '.join(command)}" in result.stdout


# --- through the real application ------------------------------------------------------------


def test_the_flowui_app_has_init_and_config_show(tmp_path: Path) -> None:
    from flowui.cli.main import app as flowui_app

    assert run(flowui_app, "init", "platform", "--name", "real").exit_code == 0
    data = show_json(flowui_app, "--project", str(tmp_path / "platform"))
    assert data["PROJECT_NAME"] == {"value": "real", "source": "config.ini", "secret": False}


def test_the_flowui_console_script(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environment["GITHUB_ACCESS_TOKEN"] = SECRET

    created = subprocess.run(
        [str(FLOWUI), "init", str(tmp_path / "platform"), "--name", "script", "--json"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    shown = subprocess.run(
        [str(FLOWUI), "config", "show", "--project", str(tmp_path / "platform")],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )

    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["root"] == str(tmp_path / "platform" / "fs")
    assert shown.returncode == 0, shown.stderr
    assert "script" in shown.stdout and "****" in shown.stdout
    assert SECRET not in shown.stdout + shown.stderr
