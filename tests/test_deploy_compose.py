"""`flowui deploy compose`: the generated docker-compose.yaml and .env (docs/deploying.md,
"Deploying with docker-compose"), generated and checked; test_compose_e2e.py starts it."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from flowui import __version__ as version
from flowui.config import load_settings
from flowui.platform.compose import (
    AIRFLOW_SERVICES,
    GENERATED_SECRETS,
    ComposeOptions,
    compose_document,
    read_env_file,
    write_compose,
)
from tests.support.paths import FLOWUI

LONG_RUNNING = (*AIRFLOW_SERVICES, "flowui-server", "postgres", "redis")
FLOWUI_AND_AIRFLOW = (*AIRFLOW_SERVICES, "flowui-server", "airflow-init")
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without FlowUI/AWS settings a developer's shell may carry."""
    names = ("FLOWUI_", "AWS_", "PROJECT_NAME", "VOLUME_MOUNT_PATH_HOST", "GITHUB_", "CODE_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    return environ | extra


def _deploy(project: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOWUI), "deploy", "compose", "--project", str(project), *args],
        capture_output=True,
        text=True,
        env=_clean_environment(**environ),
        timeout=120,
    )


def _load(directory: Path) -> dict[str, Any]:
    document = yaml.safe_load((directory / "docker-compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "platform"
    directory.mkdir()
    (directory / "config.ini").write_text(
        "[project]\nPROJECT_NAME = fromfile\nVOLUME_MOUNT_PATH_HOST = file-root\n"
        "[aws]\nAWS_REGION_NAME = eu-west-1\n",
        encoding="utf-8",
    )
    return directory


def test_cli_writes_parsable_compose_file_and_private_env_file(project: Path) -> None:
    result = _deploy(project, "--workers", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["compose_file"] == str(project / "docker-compose.yaml")
    assert set(report["generated_secrets"]) == set(GENERATED_SECRETS)

    document = _load(project)
    assert document["name"] == "fromfile"
    assert set(document["services"]) == {*LONG_RUNNING, "airflow-init"}
    assert document["services"]["airflow-worker"]["deploy"] == {"replicas": 3}
    assert document["volumes"] == {"postgres-data": {}}
    env_file = project / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert set(GENERATED_SECRETS) <= set(read_env_file(env_file))


def test_workers_and_their_concurrency_come_from_the_production_settings(project: Path) -> None:
    with (project / "config.ini").open("a", encoding="utf-8") as config:
        config.write(
            "[production]\nFLOWUI_CELERY_WORKERS = 4\nAIRFLOW__CELERY__WORKER_CONCURRENCY = 3\n"
        )

    result = _deploy(project, FLOWUI_TASK_HEARTBEAT_TIMEOUT="45")

    assert result.returncode == 0, result.stderr
    worker = _load(project)["services"]["airflow-worker"]
    assert worker["deploy"] == {"replicas": 4}
    assert worker["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "3"
    assert worker["environment"]["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] == "45"


def test_every_long_running_service_has_its_health_check(project: Path) -> None:
    services = compose_document(load_settings(project, environ={}))["services"]
    tests = {name: " ".join(services[name]["healthcheck"]["test"]) for name in LONG_RUNNING}
    assert "/api/v2/monitor/health" in tests["airflow-api-server"]
    assert ":8974/health" in tests["airflow-scheduler"]
    assert "--job-type DagProcessorJob --local" in tests["airflow-dag-processor"]
    assert "--job-type TriggererJob --local" in tests["airflow-triggerer"]
    assert (
        "inspect ping" in tests["airflow-worker"]
        and "celery@$$(hostname)" in tests["airflow-worker"]
    )
    assert "/api/health/ready" in tests["flowui-server"]
    assert tests["postgres"].startswith("CMD pg_isready")
    assert tests["redis"] == "CMD redis-cli ping"
    assert "healthcheck" not in services["airflow-init"]
    assert services["airflow-init"]["restart"] == "no"
    assert '["airflow", "db", "migrate"]' in services["airflow-init"]["command"][-1]


def test_start_order_is_one_step_deep_and_airflow_waits_for_its_migrations(
    project: Path,
) -> None:
    services = compose_document(load_settings(project, environ={}))["services"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        shell, option, script = services[name]["command"]
        assert [shell, option] == ["sh", "-c"]
        assert script.startswith("airflow db check-migrations --migration-wait-timeout ")
    assert "depends_on" not in services["airflow-init"]  # it waits for PostgreSQL itself
    assert "psycopg2.connect" in services["airflow-init"]["command"][-1]
    server = services["flowui-server"]
    assert server["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # FlowUI's database is made at the server's start, then the server runs.
    assert 'CREATE DATABASE "flowui"' in server["command"][2]
    assert server["command"][3:6] == ["flowui", "server", "run"]
    assert "--host" in server["command"]  # reachable by the workers' tasks


def test_shared_root_is_mounted_at_the_same_path_in_every_flowui_and_airflow_service(
    project: Path,
) -> None:
    settings = load_settings(project, environ={})
    root = str(project / "file-root")
    services = compose_document(settings)["services"]
    for name in FLOWUI_AND_AIRFLOW:
        mounts = [m for m in services[name]["volumes"] if m["target"] == root]
        assert mounts == [{"type": "bind", "source": root, "target": root}], name
        assert services[name]["environment"]["VOLUME_MOUNT_PATH_HOST"] == root
    assert services["airflow-init"]["user"] == "0:0"  # it gives the root's folders to the user
    for name in (*AIRFLOW_SERVICES, "flowui-server"):
        assert services[name]["user"] == "1000:1000", name  # FLOWUI_PLATFORM_UID, _GID


def test_airflow_settings_are_celery_postgres_redis_and_mirror_the_embedded_platform(
    project: Path,
) -> None:
    services = compose_document(load_settings(project, environ={}))["services"]
    root = project / "file-root"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:${POSTGRES_PASSWORD"
        )
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert environment["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(
            "db+postgresql+psycopg2://airflow:"
        )
        assert environment["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert environment["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
        assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == str(root / "airflow" / "dags")
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
            "http://airflow-api-server:8080/execution/"
        )
        assert environment["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW__CORE__FERNET_KEY")
        assert environment["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW__API_AUTH__")
        assert environment["FLOWUI_DEFAULT_RUNTIME"] == "docker"
        assert environment["FLOWUI_DEPLOY_MODE"] == "compose"
        # FlowUI's own server secrets stay out of Airflow's components.
        assert "FLOWUI_SECRET_KEY" not in environment
    server = services["flowui-server"]["environment"]
    assert server["FLOWUI_AIRFLOW_URL"] == "http://airflow-api-server:8080"
    assert server["FLOWUI_DATABASE_URL"].startswith("postgresql+psycopg2://airflow:${POSTGRES_")
    assert server["FLOWUI_SECRET_KEY"].startswith("${FLOWUI_SECRET_KEY")
    worker = services["airflow-worker"]["environment"]
    assert worker["FLOWUI_SERVER_URL"] == "http://flowui-server:8000"
    assert services["airflow-api-server"]["ports"] == ["127.0.0.1:8080:8080"]
    assert services["flowui-server"]["ports"] == ["127.0.0.1:8000:8000"]


def test_images_come_from_the_platform_image_and_store_image_settings(project: Path) -> None:
    with (project / "config.ini").open("a", encoding="utf-8") as config:
        config.write("[deploy]\nFLOWUI_COMPOSE_REDIS_IMAGE = registry.example.com/redis:7.2\n")

    result = _deploy(
        project,
        "--set",
        "FLOWUI_COMPOSE_POSTGRES_IMAGE=localhost/postgres:16",
        FLOWUI_PLATFORM_IMAGE="registry.example.com/acme/platform:1",
    )

    assert result.returncode == 0, result.stderr
    services = _load(project)["services"]
    assert services["postgres"]["image"] == "localhost/postgres:16"
    assert services["redis"]["image"] == "registry.example.com/redis:7.2"
    for name in FLOWUI_AND_AIRFLOW:
        assert services[name]["image"] == "registry.example.com/acme/platform:1"
    defaults = compose_document(load_settings(project, environ={}, read_config=False))
    assert defaults["services"]["postgres"]["image"] == "postgres:16"
    assert defaults["services"]["redis"]["image"] == "redis:7.2"
    assert defaults["services"]["flowui-server"]["image"] == f"ghcr.io/flowui/platform:{version}"


def test_a_store_image_that_is_no_image_reference_exits_2_naming_the_setting(
    project: Path,
) -> None:
    result = _deploy(project, FLOWUI_COMPOSE_POSTGRES_IMAGE="Postgres 16")

    assert result.returncode == 2
    assert (
        "environment FLOWUI_COMPOSE_POSTGRES_IMAGE: 'Postgres 16' is not an image reference"
        in " ".join(result.stderr.split())
    )
    assert not (project / "docker-compose.yaml").exists()


def test_workers_and_server_reach_the_engine_socket_through_its_group(
    project: Path, tmp_path: Path
) -> None:
    engine = socket.socket(socket.AF_UNIX)
    engine.bind(str(tmp_path / "engine.sock"))
    group = (tmp_path / "engine.sock").stat().st_gid
    settings = load_settings(
        project, environ={"FLOWUI_COMPOSE_ENGINE_SOCKET": str(tmp_path / "engine.sock")}
    )

    services = compose_document(settings)["services"]

    mount = {
        "type": "bind",
        "source": str(tmp_path / "engine.sock"),
        "target": "/var/run/docker.sock",  # the docker runtime's default DOCKER_HOST
        "bind": {"create_host_path": False},
    }
    for name in ("airflow-worker", "flowui-server"):
        assert mount in services[name]["volumes"], name
        assert services[name]["group_add"] == [group]
        assert services[name]["security_opt"] == ["systempaths=unconfined"]  # the sandbox
    for name in ("airflow-scheduler", "airflow-api-server", "airflow-init"):
        assert all(m["target"] != "/var/run/docker.sock" for m in services[name]["volumes"])
        assert "security_opt" not in services[name] and "group_add" not in services[name]
    engine.close()


def test_without_the_docker_runtime_nothing_reaches_the_engine(project: Path) -> None:
    settings = load_settings(project, {"FLOWUI_WORKSPACE_RUNTIMES": "process"}, environ={})
    services = compose_document(settings)["services"]
    for name, service in services.items():
        assert all(m["target"] != "/var/run/docker.sock" for m in service.get("volumes", [])), name


def test_a_missing_engine_socket_is_a_warning_and_the_root_is_made(project: Path) -> None:
    result = _deploy(project, "--json", FLOWUI_COMPOSE_ENGINE_SOCKET="/nowhere/engine.sock")

    assert result.returncode == 0, result.stderr
    (warning,) = json.loads(result.stdout)["warnings"]
    assert "no container engine socket at /nowhere/engine.sock" in warning
    assert "environment FLOWUI_COMPOSE_ENGINE_SOCKET" in warning
    assert (project / "file-root").is_dir()  # compose mounts it: it must exist


def test_default_runtime_set_by_the_project_is_kept(project: Path) -> None:
    settings = load_settings(project, {"FLOWUI_DEFAULT_RUNTIME": "process"}, environ={})
    services = compose_document(settings)["services"]
    assert services["flowui-server"]["environment"]["FLOWUI_DEFAULT_RUNTIME"] == "process"


def test_secrets_are_only_in_env_file_and_referenced_from_the_yaml(project: Path) -> None:
    token = "ghp_" + "s3cret" * 5
    result = _deploy(project, GITHUB_ACCESS_TOKEN=token)
    assert result.returncode == 0, result.stderr
    values = read_env_file(project / ".env")
    assert values["GITHUB_ACCESS_TOKEN"] == token
    Fernet(values["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid Fernet key
    text = (project / "docker-compose.yaml").read_text(encoding="utf-8")
    for name, value in values.items():
        assert value not in text, f"the value of {name} is in docker-compose.yaml"
    # Every ${NAME} of the YAML is a value of .env: compose refuses to start otherwise.
    assert set(REFERENCE.findall(text)) <= set(values)
    assert {"POSTGRES_PASSWORD", "FLOWUI_SECRET_KEY", "GITHUB_ACCESS_TOKEN"} <= set(
        REFERENCE.findall(text)
    )


def test_second_run_keeps_the_generated_secrets(project: Path) -> None:
    settings = load_settings(project, environ={})
    first = write_compose(settings, project)
    kept = read_env_file(project / ".env")
    second = write_compose(settings, project, ComposeOptions(workers=2))
    assert set(first.generated) == set(GENERATED_SECRETS)
    assert second.generated == ()
    assert read_env_file(project / ".env") == kept
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600


def test_admin_password_from_the_environment_wins_over_the_kept_one(project: Path) -> None:
    write_compose(load_settings(project, environ={}), project)
    settings = load_settings(project, environ={"FLOWUI_ADMIN_PASSWORD": "chosen-by-me"})
    files = write_compose(settings, project)
    assert read_env_file(project / ".env")["FLOWUI_ADMIN_PASSWORD"] == "chosen-by-me"
    assert files.generated == ()


def test_layering_environment_beats_set_beats_config_ini_beats_default(
    project: Path, tmp_path: Path
) -> None:
    result = _deploy(
        project,
        "--set",
        "PROJECT_NAME=fromset",
        "--set",
        "AWS_REGION_NAME=ap-south-1",
        "--set",
        f"VOLUME_MOUNT_PATH_HOST={tmp_path / 'set-root'}",
        "--output",
        str(tmp_path / "out"),
        PROJECT_NAME="fromenv",
    )
    assert result.returncode == 0, result.stderr
    document = _load(tmp_path / "out")
    environment = document["services"]["flowui-server"]["environment"]
    assert document["name"] == "fromenv"  # environment > --set
    assert environment["PROJECT_NAME"] == "fromenv"
    assert environment["AWS_REGION_NAME"] == "ap-south-1"  # --set > config.ini
    assert environment["VOLUME_MOUNT_PATH_HOST"] == str(tmp_path / "set-root")
    assert not (project / "docker-compose.yaml").exists()

    defaults = tmp_path / "bare"
    defaults.mkdir()
    assert _deploy(defaults).returncode == 0
    environment = _load(defaults)["services"]["flowui-server"]["environment"]
    assert environment["AWS_REGION_NAME"] == "us-east-1"  # default
    assert environment["PROJECT_NAME"] == "flowui"
    assert environment["VOLUME_MOUNT_PATH_HOST"] == str(defaults / "fs")
    from_file = _load_settings_environment(project)
    assert from_file["PROJECT_NAME"] == "fromfile"  # config.ini > default
    assert from_file["AWS_REGION_NAME"] == "eu-west-1"


def _load_settings_environment(project: Path) -> dict[str, str]:
    services = compose_document(load_settings(project, environ={}))["services"]
    environment: dict[str, str] = services["flowui-server"]["environment"]
    return environment


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "AWS_REGION_NAME=nowhere"], "--set AWS_REGION_NAME: 'nowhere' is not an AWS"),
        (["--set", "PROJECT_NAM=x"], "unknown setting PROJECT_NAM (did you mean PROJECT_NAME?)"),
        (["--set", "FLOWUI_SECRET_KEY=x"], "FLOWUI_SECRET_KEY is a secret"),
        (["--set", "no-equals-sign"], "expected KEY=VALUE"),
    ],
)
def test_bad_set_value_exits_2_naming_it_and_writes_nothing(
    project: Path, arguments: list[str], message: str
) -> None:
    result = _deploy(project, *arguments)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert not (project / "docker-compose.yaml").exists()
    assert not (project / ".env").exists()
