"""Layered settings: precedence, sources, masking, and an exact message for every bad value."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import SecretStr

from flowui.config import (
    MASK,
    SETTINGS,
    ConfigError,
    DeployMode,
    Layer,
    TaskRuntime,
    find_project_dir,
    load_settings,
    render_config_file,
    write_config_file,
)
from flowui.server.context import RepositoryImporters
from flowui.workflows.spec import RUNTIMES

SECRET = "ghp_do-not-print-me-0123456789"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "platform"
    directory.mkdir()
    return directory


def write_ini(project: Path, text: str) -> None:
    (project / "config.ini").write_text(text, encoding="utf-8")


def config_error(project: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(project, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def test_defaults_apply_when_nothing_is_set(project: Path) -> None:
    settings = load_settings(project, environ={})

    assert settings.PROJECT_NAME == "flowui"
    assert settings.FLOWUI_DEPLOY_MODE is DeployMode.LOCAL
    assert project / "fs" == settings.VOLUME_MOUNT_PATH_HOST
    assert settings.root.path == project / "fs"
    assert settings.AWS_REGION_NAME == "us-east-1"
    assert settings.FLOWUI_SECRET_KEY is None  # never a built-in key
    assert settings.config_file is None
    assert {settings.source(name) for name in SETTINGS} == {Layer.DEFAULT}


@pytest.mark.parametrize(
    ("environment", "cli", "ini", "expected", "source"),
    [
        (None, None, None, "local", Layer.DEFAULT),
        (None, None, "compose", "compose", Layer.CONFIG_FILE),
        (None, "k8s", "compose", "k8s", Layer.CLI),
        ("aws", "k8s", "compose", "aws", Layer.ENVIRONMENT),
        ("aws", None, "compose", "aws", Layer.ENVIRONMENT),
        ("aws", "k8s", None, "aws", Layer.ENVIRONMENT),
    ],
)
def test_each_layer_beats_the_ones_below_and_is_reported_as_the_source(
    project: Path,
    environment: str | None,
    cli: str | None,
    ini: str | None,
    expected: str,
    source: Layer,
) -> None:
    if ini is not None:
        write_ini(project, f"[project]\nFLOWUI_DEPLOY_MODE = {ini}\n")
    settings = load_settings(
        project,
        overrides={"FLOWUI_DEPLOY_MODE": cli} if cli else {},
        environ={"FLOWUI_DEPLOY_MODE": environment} if environment else {},
    )

    assert expected == settings.FLOWUI_DEPLOY_MODE
    assert settings.source("FLOWUI_DEPLOY_MODE") is source


def test_each_setting_reports_its_own_source(project: Path) -> None:
    write_ini(project, "[project]\nPROJECT_NAME = demo\n")
    settings = load_settings(
        project,
        overrides={"AWS_REGION_NAME": "eu-west-1"},
        environ={"CODE_REPOSITORY_SOURCE": "github", "UNRELATED": "ignored"},
    )

    assert settings.source("PROJECT_NAME") is Layer.CONFIG_FILE
    assert settings.source("AWS_REGION_NAME") is Layer.CLI
    assert settings.source("CODE_REPOSITORY_SOURCE") is Layer.ENVIRONMENT
    assert settings.source("FLOWUI_DEPLOY_MODE") is Layer.DEFAULT
    assert settings.config_file == project / "config.ini"


def test_an_empty_value_counts_as_not_set_in_its_layer(project: Path) -> None:
    write_ini(project, "[project]\nPROJECT_NAME = demo\n")
    settings = load_settings(project, overrides={"PROJECT_NAME": ""}, environ={"PROJECT_NAME": ""})

    assert settings.PROJECT_NAME == "demo"
    assert settings.source("PROJECT_NAME") is Layer.CONFIG_FILE


def test_relative_root_is_taken_from_the_project_in_config_ini_and_from_cwd_on_the_cli(
    project: Path, tmp_path: Path
) -> None:
    write_ini(project, "[project]\nVOLUME_MOUNT_PATH_HOST = data/root\n")
    assert load_settings(project, environ={}).root.path == project / "data" / "root"

    from_cli = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": "elsewhere"}, environ={})
    assert tmp_path / "elsewhere" == from_cli.VOLUME_MOUNT_PATH_HOST


def test_project_dir_is_the_explicit_one_else_the_environment_else_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {"FLOWUI_PROJECT_DIR": str(tmp_path / "from-env")}

    assert find_project_dir(tmp_path / "explicit", environ) == tmp_path / "explicit"
    assert find_project_dir(None, environ) == tmp_path / "from-env"
    assert find_project_dir(None, {}) == tmp_path


def test_missing_project_dir_is_an_error(tmp_path: Path) -> None:
    message = config_error(tmp_path / "nope", environ={})
    assert message == f"project directory {tmp_path / 'nope'} does not exist"


def test_secrets_come_from_the_environment_and_are_masked(project: Path) -> None:
    settings = load_settings(project, environ={"GITHUB_ACCESS_TOKEN": SECRET})
    entries = {entry.name: entry for entry in settings.entries()}

    assert isinstance(settings.GITHUB_ACCESS_TOKEN, SecretStr)
    assert settings.GITHUB_ACCESS_TOKEN.get_secret_value() == SECRET
    assert entries["GITHUB_ACCESS_TOKEN"].value == MASK
    assert entries["GITHUB_ACCESS_TOKEN"].secret
    assert entries["GITHUB_ACCESS_TOKEN"].source is Layer.ENVIRONMENT
    assert entries["AWS_SECRET_ACCESS_KEY"].value is None  # unset shows nothing
    assert SECRET not in repr(settings)
    assert SECRET not in str(entries)


def test_a_password_inside_the_database_url_is_masked(project: Path) -> None:
    url = f"postgresql://flowui:{SECRET}@db:5432/flowui"
    settings = load_settings(project, environ={"FLOWUI_DATABASE_URL": url})

    assert url == settings.FLOWUI_DATABASE_URL
    assert (
        settings.display_value("FLOWUI_DATABASE_URL") == "postgresql://flowui:****@db:5432/flowui"
    )


def test_every_secret_is_typed_secret_and_has_no_default() -> None:
    secrets = {name for name, spec in SETTINGS.items() if spec.secret}

    assert secrets == {
        "GITHUB_ACCESS_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "FLOWUI_SECRET_KEY",
        "FLOWUI_ADMIN_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
        "FLOWUI_REGISTRY_PASSWORD",
        "FLOWUI_OIDC_CLIENT_SECRET",
    }
    assert all(SETTINGS[name].default is None for name in secrets)


# --- bad values: what and where --------------------------------------------------------------


def test_invalid_deploy_mode_in_config_ini_names_section_and_key(project: Path) -> None:
    write_ini(project, "[project]\nFLOWUI_DEPLOY_MODE = kube\n")
    assert config_error(project, environ={}) == (
        "config.ini [project] FLOWUI_DEPLOY_MODE: 'kube' is not one of local, compose, k8s, aws"
    )


def test_invalid_deploy_mode_in_environment_names_the_environment(project: Path) -> None:
    assert config_error(project, environ={"FLOWUI_DEPLOY_MODE": "kube"}) == (
        "environment FLOWUI_DEPLOY_MODE: 'kube' is not one of local, compose, k8s, aws"
    )


def test_the_default_runtime_is_process_unless_set_to_another_runtime(project: Path) -> None:
    write_ini(project, "[platform]\nFLOWUI_DEFAULT_RUNTIME = docker\n")

    assert load_settings(project, environ={}, read_config=False).FLOWUI_DEFAULT_RUNTIME == "process"
    assert load_settings(project, environ={}).FLOWUI_DEFAULT_RUNTIME is TaskRuntime.DOCKER
    assert config_error(project, environ={"FLOWUI_DEFAULT_RUNTIME": "batch"}) == (
        "environment FLOWUI_DEFAULT_RUNTIME: 'batch' is not one of process, docker, kubernetes, "
        "aws_batch"
    )
    # The setting's choices are the runtimes a workflow's task names.
    assert SETTINGS["FLOWUI_DEFAULT_RUNTIME"].choices == RUNTIMES


def test_unknown_setting_on_the_command_line(project: Path) -> None:
    assert config_error(project, overrides={"FOO": "1"}, environ={}) == (
        "--set FOO: unknown setting FOO"
    )


def test_secret_on_the_command_line_is_refused(project: Path) -> None:
    message = config_error(project, overrides={"GITHUB_ACCESS_TOKEN": SECRET}, environ={})
    assert message == (
        "--set GITHUB_ACCESS_TOKEN: GITHUB_ACCESS_TOKEN is a secret and is not read from the "
        "command line; set it in the environment instead"
    )


def test_unknown_key_in_config_ini(project: Path) -> None:
    write_ini(project, "[project]\nFOO = 1\n")
    assert config_error(project, environ={}) == "config.ini [project] FOO: unknown setting FOO"


def test_misspelled_key_gets_a_suggestion(project: Path) -> None:
    write_ini(project, "[project]\nproject_name = demo\n")
    assert config_error(project, environ={}) == (
        "config.ini [project] project_name: unknown setting project_name "
        "(did you mean PROJECT_NAME?)"
    )


def test_unknown_section_in_config_ini(project: Path) -> None:
    write_ini(project, "[database]\nURL = x\n")
    assert config_error(project, environ={}) == (
        "config.ini [database]: unknown section; "
        "the sections are project, code_repository, aws, platform, production, security, limits, "
        "images, deploy, kubernetes, storage"
    )


def test_key_in_the_wrong_section(project: Path) -> None:
    write_ini(project, "[aws]\nPROJECT_NAME = demo\n")
    assert config_error(project, environ={}) == (
        "config.ini [aws] PROJECT_NAME: PROJECT_NAME belongs in section [project]"
    )


def test_secret_in_config_ini_is_refused(project: Path) -> None:
    write_ini(project, f"[aws]\nAWS_SECRET_ACCESS_KEY = {SECRET}\n")
    message = config_error(project, environ={})
    assert message == (
        "config.ini [aws] AWS_SECRET_ACCESS_KEY: AWS_SECRET_ACCESS_KEY is a secret and is not "
        "read from config.ini; set it in the environment instead"
    )
    assert SECRET not in message


def test_malformed_ini_reports_the_line(project: Path) -> None:
    write_ini(project, "[project]\nPROJECT_NAME = demo\nthis is not a setting\n")
    assert config_error(project, environ={}) == (
        "config.ini line 3: 'this is not a setting' is not 'KEY = value', "
        "a [section] header or a # comment"
    )


def test_setting_before_any_section_reports_the_line(project: Path) -> None:
    write_ini(project, "# comment\nPROJECT_NAME = demo\n")
    assert config_error(project, environ={}) == (
        "config.ini line 2: 'PROJECT_NAME = demo' comes before any [section] header"
    )


def test_key_set_twice_reports_the_line(project: Path) -> None:
    write_ini(project, "[project]\nPROJECT_NAME = a\nPROJECT_NAME = b\n")
    assert config_error(project, environ={}) == (
        "config.ini line 3: [project] PROJECT_NAME is set twice"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "PROJECT_NAME",
            "my project",
            "project name 'my project' may contain only letters, digits, '_', '.' and '-'",
        ),
        (
            "GITHUB_REPOSITORY_NAME",
            "no-slash",
            "'no-slash' is not in owner/repo format, e.g. 'acme/operators'",
        ),
        ("AWS_REGION_NAME", "mars", "'mars' is not an AWS region name such as 'us-east-1'"),
        ("FLOWUI_ADMIN_EMAIL", "admin", "'admin' is not an e-mail address"),
        ("CODE_REPOSITORY_SOURCE", "gitlab", "'gitlab' is not one of local, github"),
        (
            "FLOWUI_AWS_POSIX_USER",
            "flowui",
            "'flowui' is not uid:gid, two non-negative integers such as '1000:1000'",
        ),
        (
            "FLOWUI_STORAGE_BUCKET",
            "Acme_Data",
            "'Acme_Data' is not an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and "
            "'-', starting and ending with a letter or digit",
        ),
        (
            "FLOWUI_STORAGE_BUCKET",
            "a" * 47,
            f"'{'a' * 47}' leaves no room for its workspaces' buckets "
            f"({'a' * 47}-workspace-<id>): at most 46 characters",
        ),
    ],
)
def test_bad_value_on_the_command_line_says_what_and_where(
    project: Path, key: str, value: str, message: str
) -> None:
    assert config_error(project, overrides={key: value}, environ={}) == f"--set {key}: {message}"


def test_every_bad_value_is_reported_at_once(project: Path) -> None:
    write_ini(project, "[project]\nFLOWUI_DEPLOY_MODE = kube\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(project, environ={"AWS_REGION_NAME": "mars"})

    assert caught.value.errors == [
        "config.ini [project] FLOWUI_DEPLOY_MODE: 'kube' is not one of local, compose, k8s, aws",
        "environment AWS_REGION_NAME: 'mars' is not an AWS region name such as 'us-east-1'",
    ]
    assert caught.value.hint == f"edit {project / 'config.ini'}"


# --- the written config.ini ------------------------------------------------------------------


def test_written_config_ini_reads_back_to_the_same_values(project: Path) -> None:
    settings = load_settings(
        project,
        {"PROJECT_NAME": "demo", "FLOWUI_DEPLOY_MODE": "k8s", "GITHUB_REPOSITORY_NAME": "a/b"},
        environ={},
        read_config=False,
    )
    write_config_file(settings)
    again = load_settings(project, environ={})

    assert again.model_dump() == settings.model_dump()
    assert again.source("PROJECT_NAME") is Layer.CONFIG_FILE
    assert again.source("FLOWUI_PATH_HOST") is Layer.DEFAULT  # unset: written commented out


def test_written_config_ini_never_contains_a_secret(project: Path) -> None:
    settings = load_settings(project, environ={"FLOWUI_SECRET_KEY": SECRET})
    text = render_config_file(settings)

    assert SECRET not in text
    assert "# FLOWUI_SECRET_KEY: secret, set it in the environment." in text


def test_security_settings_are_read_as_lists_and_choices_the_server_knows(project: Path) -> None:
    settings = load_settings(
        project,
        environ={
            "FLOWUI_REPOSITORY_SOURCES": "https://github.com/a/*, https://gitlab.com/b/*",
            "FLOWUI_WORKSPACE_RUNTIMES": "process,docker",
            "FLOWUI_REPOSITORY_IMPORTERS": "platform-admins",
        },
    )
    assert settings.FLOWUI_REPOSITORY_SOURCES == [
        "https://github.com/a/*",
        "https://gitlab.com/b/*",
    ]
    assert settings.FLOWUI_WORKSPACE_RUNTIMES == [TaskRuntime.PROCESS, TaskRuntime.DOCKER]
    assert settings.display_value("FLOWUI_WORKSPACE_RUNTIMES") == "process, docker"
    assert settings.FLOWUI_ALLOW_REGISTRATION is None  # decided by where the server listens
    # The setting's choices are the importers the server tells apart.
    assert SETTINGS["FLOWUI_REPOSITORY_IMPORTERS"].choices == get_args(RepositoryImporters)
    assert config_error(project, environ={"FLOWUI_WORKSPACE_RUNTIMES": "process,batch"}).startswith(
        "environment FLOWUI_WORKSPACE_RUNTIMES: "
    )
