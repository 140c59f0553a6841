"""Layered settings of a FlowUI platform project (docs/configuration.md, whose settings reference
is written from this module's table).

Layers, highest first: host environment > CLI flags (`--set`) > the project's `config.ini` >
defaults. The `Settings` model is the one table of settings: a new setting is one new field.
"""

from __future__ import annotations

import configparser
import difflib
import json
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    SecretStr,
    ValidationError,
)

from flowui.sandbox import SandboxPolicy

# The storage part is stdlib-only and is the one owner of paths and of the id rule.
from flowui.storage import (
    FileSystemRoot,
    InvalidIdError,
    validate_id,
    workspace_bucket,
    write_text_atomically,
)
from flowui.storage.paths import MAX_BUCKET_NAME_LENGTH

CONFIG_FILE_NAME = "config.ini"
PROJECT_DIR_VARIABLE = "FLOWUI_PROJECT_DIR"
# Set by `flowui up` in Airflow's processes: where FlowUI's server answers, and the token with
# which a starting task fetches its secrets there (never written to a file).
SERVER_URL_VARIABLE = "FLOWUI_SERVER_URL"
INTERNAL_TOKEN_VARIABLE = "FLOWUI_INTERNAL_TOKEN"
MASK = "****"


# The first administrator's login when FLOWUI_ADMIN_EMAIL is not set.
DEFAULT_ADMIN_EMAIL = "admin@example.com"


class ConfigError(Exception):
    """Bad configuration; each message names the layer, section and setting at fault."""

    def __init__(self, errors: str | list[str], hint: str | None = None) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.hint = hint
        super().__init__("\n".join(self.errors))


class Layer(StrEnum):
    """Where a value came from, highest precedence first."""

    ENVIRONMENT = "environment"
    CLI = "cli"
    CONFIG_FILE = "config.ini"
    DEFAULT = "default"


class DeployMode(StrEnum):
    LOCAL = "local"
    COMPOSE = "compose"
    K8S = "k8s"
    AWS = "aws"


class CodeRepositorySource(StrEnum):
    LOCAL = "local"
    GITHUB = "github"


class TaskRuntime(StrEnum):
    """Where a task runs (the workflow document's per-task `runtime`)."""

    PROCESS = "process"
    DOCKER = "docker"
    KUBERNETES = "kubernetes"
    AWS_BATCH = "aws_batch"


class KubernetesImageCheck(StrEnum):
    """What a deploy asks about a kubernetes task's image."""

    REGISTRY = "registry"
    NONE = "none"


class KubernetesPullPolicy(StrEnum):
    """The imagePullPolicy of task pods (Kubernetes' own values)."""

    IF_NOT_PRESENT = "IfNotPresent"
    ALWAYS = "Always"
    NEVER = "Never"


class ContainerEngineName(StrEnum):
    """The engines that build and push operator images."""

    DOCKER = "docker"
    PODMAN = "podman"


# Fully qualified: Podman resolves no short names without a configured search registry.
DEFAULT_BASE_IMAGE = "docker.io/library/python:3.11-slim"
# Where the release workflow publishes the platform image; its tag is FlowUI's version.
DEFAULT_PLATFORM_REPOSITORY = "ghcr.io/flowui/platform"


class Profile(StrEnum):
    """The shape `flowui up` starts (deploy mode `local`)."""

    EMBEDDED = "embedded"  # SQLite, LocalExecutor: nothing else to install
    PRODUCTION = "production"  # PostgreSQL, Redis, CeleryExecutor workers, triggerer


class SandboxMode(StrEnum):
    """How code from operators repositories is confined (docs/security-model.md)."""

    BUBBLEWRAP = "bubblewrap"  # required: where it cannot run, such code is refused
    # Imports inspect model files as AWS Batch jobs (no bubblewrap needed, as on Fargate);
    # process-runtime tasks still need bubblewrap.
    AWS_BATCH = "aws_batch"
    NONE = "none"  # every repository source is trusted: its code runs unconfined


class RepositoryImporters(StrEnum):
    """Who may import operators repositories (and so have their code run)."""

    WORKSPACE_ADMINS = "workspace-admins"
    WORKSPACE_OWNERS = "workspace-owners"
    PLATFORM_ADMINS = "platform-admins"


class AirflowExecutor(StrEnum):
    """Executors of the production profile (the embedded one is always LocalExecutor)."""

    CELERY = "CeleryExecutor"
    LOCAL = "LocalExecutor"


@dataclass(frozen=True)
class Setting:
    """Marks a `Settings` field: the `config.ini` section it lives in and one line of help."""

    section: str
    help: str


# --- value rules that pydantic's types do not already express ------------------------------

_OWNER_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9_.-]+")
_AWS_REGION = re.compile(r"[a-z]{2,}(?:-[a-z]+)+-\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_POSIX_USER = re.compile(r"[0-9]+:[0-9]+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# The workspace ids a platform bucket's name must leave room for (its workspaces' buckets).
_LARGEST_WORKSPACE_ID = 999_999


def _project_name(value: str) -> str:
    return validate_id(value, "project name")


def _owner_repo(value: str) -> str:
    if not _OWNER_REPO.fullmatch(value) or value.endswith(("/.", "/..")):
        raise ValueError(f"{value!r} is not in owner/repo format, e.g. 'acme/operators'")
    return value


def _aws_region(value: str) -> str:
    if not _AWS_REGION.fullmatch(value):
        raise ValueError(f"{value!r} is not an AWS region name such as 'us-east-1'")
    return value


def _posix_user(value: str) -> str:
    if not _POSIX_USER.fullmatch(value):
        raise ValueError(f"{value!r} is not uid:gid, two non-negative integers such as '1000:1000'")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError(f"{value!r} is not a URL such as 'postgresql://host/db'")
    return value


def _bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{value!r} is not an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and "
            "'-', starting and ending with a letter or digit"
        )
    try:
        workspace_bucket(value, _LARGEST_WORKSPACE_ID)
    except InvalidIdError:
        longest = MAX_BUCKET_NAME_LENGTH - len(workspace_bucket("", _LARGEST_WORKSPACE_ID))
        raise ValueError(
            f"{value!r} leaves no room for its workspaces' buckets ({value}-workspace-<id>): "
            f"at most {longest} characters"
        ) from None
    return value


def _json_value(value: Any) -> Any:
    """A setting that holds structure (an object, a list) is written as JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(f"{value[:80]!r} is not JSON") from None
    return value


def _comma_separated(value: Any) -> Any:
    """A list setting is written as one line: items separated by commas."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# The workspace roles a group may be given (the server's roles, strongest first; a test keeps
# the two lists the same).
OIDC_ROLES = ("owner", "admin", "write", "read")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _issuer(value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValueError(
            f"{value!r} is not an https URL such as 'https://login.example.com/realms/acme' "
            "(plain http only on the loopback interface, for tests)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an issuer has no query or fragment")
    return value.rstrip("/")


def parse_role_map_entry(entry: str) -> tuple[str, str, str]:
    """(group, workspace, role) of one FLOWUI_OIDC_ROLE_MAP entry, `group=Workspace:role`."""
    group, equals, rest = entry.partition("=")
    workspace, colon, role = rest.rpartition(":")
    group, workspace, role = group.strip(), workspace.strip(), role.strip().lower()
    if not (equals and colon and group and workspace) or role not in OIDC_ROLES:
        raise ValueError(
            f"{entry!r} is not group=Workspace:role with a role of {', '.join(OIDC_ROLES)}, "
            "e.g. 'data-eng=Analytics:write'"
        )
    return group, workspace, role


def _role_map(entries: list[str]) -> list[str]:
    return ["{}={}:{}".format(*parse_role_map_entry(entry)) for entry in entries]


ProjectName = Annotated[str, AfterValidator(_project_name)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
OwnerRepo = Annotated[str, AfterValidator(_owner_repo)]
AwsRegion = Annotated[str, AfterValidator(_aws_region)]
PosixUser = Annotated[str, AfterValidator(_posix_user)]
Email = Annotated[str, AfterValidator(_email)]
Url = Annotated[str, AfterValidator(_url)]
Issuer = Annotated[str, AfterValidator(_issuer)]


class Settings(BaseModel):
    """The effective settings of a platform project; build it with `load_settings`.

    Each field is a setting: its name, type, default and `Setting(section, help)`. A field
    typed `SecretStr` is a secret: read only from the environment and masked on display.
    Relative paths are taken from the project directory in `config.ini` and defaults, and
    from the current directory in the environment and on the command line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    PROJECT_NAME: Annotated[ProjectName, Setting("project", "Name of this platform project.")] = (
        "flowui"
    )
    FLOWUI_DEPLOY_MODE: Annotated[
        DeployMode, Setting("project", "Where the platform and its tasks run.")
    ] = DeployMode.LOCAL
    VOLUME_MOUNT_PATH_HOST: Annotated[
        Path,
        Setting("project", "The file-system root: DAGs, logs, repositories, datasets, runs."),
    ] = Path("fs")
    FLOWUI_PATH_HOST: Annotated[
        Path | None, Setting("project", "Path of the FlowUI source or installation on the host.")
    ] = None

    CODE_REPOSITORY_SOURCE: Annotated[
        CodeRepositorySource,
        Setting("code_repository", "Where the workflows' code repository lives."),
    ] = CodeRepositorySource.LOCAL
    GITHUB_REPOSITORY_NAME: Annotated[
        OwnerRepo | None, Setting("code_repository", "GitHub repository, as owner/repo.")
    ] = None
    GITHUB_ACCESS_TOKEN: Annotated[
        SecretStr | None, Setting("code_repository", "Token to read and write on GitHub.")
    ] = None

    AWS_ACCESS_KEY_ID: Annotated[str | None, Setting("aws", "AWS access key id.")] = None
    AWS_SECRET_ACCESS_KEY: Annotated[SecretStr | None, Setting("aws", "AWS secret access key.")] = (
        None
    )
    AWS_REGION_NAME: Annotated[AwsRegion, Setting("aws", "AWS region.")] = "us-east-1"
    FLOWUI_AWS_SUBNETS: Annotated[
        str | None,
        Setting("aws", "Subnet ids (comma-separated) of the Batch compute and EFS mount targets."),
    ] = None
    FLOWUI_AWS_SECURITY_GROUPS: Annotated[
        str | None,
        Setting("aws", "Security group ids (comma-separated) of Batch's instances and of EFS."),
    ] = None
    FLOWUI_AWS_MAX_VCPUS: Annotated[
        PositiveInt, Setting("aws", "Most vCPUs each Batch compute environment may run at once.")
    ] = 16
    FLOWUI_AWS_GPU_INSTANCE_TYPES: Annotated[
        str | None,
        Setting(
            "aws",
            "EC2 instance types (comma-separated) of a GPU compute environment and queue; "
            "none when unset.",
        ),
    ] = None
    FLOWUI_AWS_POSIX_USER: Annotated[
        PosixUser,
        Setting(
            "aws",
            "uid:gid that the platform's processes run as on the file system; a workspace's "
            "Batch jobs read and write its tree as this user (its access point enforces it).",
        ),
    ] = "1000:1000"
    FLOWUI_AWS_VPC_ID: Annotated[
        str | None,
        Setting("aws", "Deploy mode aws: the VPC of the subnets (the security groups' VPC)."),
    ] = None
    FLOWUI_AWS_PUBLIC_SUBNETS: Annotated[
        str | None,
        Setting(
            "aws",
            "Deploy mode aws: subnet ids (comma-separated, two or more zones) of the load "
            "balancer in front of the server.",
        ),
    ] = None
    FLOWUI_AWS_CERTIFICATE_ARN: Annotated[
        str | None,
        Setting("aws", "Deploy mode aws: the ACM certificate of the load balancer's HTTPS."),
    ] = None
    FLOWUI_AWS_DATABASE_CLASS: Annotated[
        str, Setting("aws", "Deploy mode aws: the RDS instance class of the platform's database.")
    ] = "db.t4g.small"

    FLOWUI_DATABASE_URL: Annotated[
        Url | None, Setting("platform", "Database of the platform server (SQLAlchemy URL).")
    ] = None
    # No default, ever (docs/architecture.md, rule 3): without it, encrypted data stays locked.
    FLOWUI_SECRET_KEY: Annotated[
        SecretStr | None, Setting("platform", "Key that encrypts secrets stored at rest.")
    ] = None
    FLOWUI_ADMIN_EMAIL: Annotated[
        Email | None, Setting("platform", "E-mail of the first administrator.")
    ] = None
    FLOWUI_ADMIN_PASSWORD: Annotated[
        SecretStr | None, Setting("platform", "Password of the first administrator.")
    ] = None
    FLOWUI_ALLOW_REGISTRATION: Annotated[
        bool | None,
        Setting(
            "platform",
            "Whether anyone may sign up to the server (false: invited only); unset: yes when the "
            "server listens on the loopback interface only, no when it listens beyond it.",
        ),
    ] = None
    FLOWUI_PUBLIC_URL: Annotated[
        Url | None,
        Setting(
            "platform",
            "The address people open the server at (https://flowui.example.com), behind any "
            "proxy; the single sign-on provider sends them back to <it>/api/auth/oidc/callback. "
            "Unset: the address of each request.",
        ),
    ] = None
    FLOWUI_DEFAULT_RUNTIME: Annotated[
        TaskRuntime,
        Setting(
            "platform",
            "Where tasks that name no runtime run, in workspaces that set no default of their own.",
        ),
    ] = TaskRuntime.PROCESS
    FLOWUI_TASK_USER: Annotated[
        PosixUser | None,
        Setting(
            "platform",
            "uid:gid that tasks in containers and pods run as, so that they write the shared "
            "file system as its other writers do; unset: the owner of the task's tree, which is "
            "its workspace's sandbox uid when the platform runs as root, else the worker's own.",
        ),
    ] = None

    FLOWUI_PROFILE: Annotated[
        Profile,
        Setting(
            "platform",
            "What `flowui up` starts: embedded (SQLite, LocalExecutor) or production "
            "(PostgreSQL, Redis, Celery workers, triggerer; settings of [production]).",
        ),
    ] = Profile.EMBEDDED
    FLOWUI_FORKSERVER_IDLE_SECONDS: Annotated[
        float,
        Field(ge=0),
        Setting(
            "platform",
            "Seconds a fork server of the process runtime waits for tasks before it exits; 0 "
            "starts every task in a new interpreter.",
        ),
    ] = 900.0
    FLOWUI_TASK_HEARTBEAT_TIMEOUT: Annotated[
        PositiveInt,
        Setting(
            "platform",
            "Seconds a running task may go without a heartbeat before Airflow counts it as lost "
            "(its worker died) and retries it.",
        ),
    ] = 60

    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: Annotated[
        Url | None,
        Setting(
            "production",
            "Airflow's metadata database: PostgreSQL, postgresql+psycopg2://user@host:5432/db.",
        ),
    ] = None
    AIRFLOW__CORE__EXECUTOR: Annotated[
        AirflowExecutor, Setting("production", "Airflow's executor.")
    ] = AirflowExecutor.CELERY
    AIRFLOW__CELERY__BROKER_URL: Annotated[
        Url | None,
        Setting(
            "production",
            "Celery's broker: Redis, redis://host:6379/N (a database N of this platform's own).",
        ),
    ] = None
    AIRFLOW__CELERY__RESULT_BACKEND: Annotated[
        Url | None,
        Setting("production", "Celery's result backend (default: Airflow's metadata database)."),
    ] = None
    FLOWUI_CELERY_WORKERS: Annotated[
        PositiveInt, Setting("production", "Celery workers `flowui up` starts and supervises.")
    ] = 2
    AIRFLOW__CELERY__WORKER_CONCURRENCY: Annotated[
        PositiveInt, Setting("production", "Tasks each Celery worker runs at once.")
    ] = 4
    AIRFLOW__CORE__FERNET_KEY: Annotated[
        SecretStr | None,
        Setting(
            "production",
            "Key that encrypts Airflow's connections and variables "
            "(default: generated once and kept under the root).",
        ),
    ] = None

    FLOWUI_SANDBOX: Annotated[
        SandboxMode,
        Setting(
            "security",
            "How code from operators repositories is confined: bubblewrap (where it cannot run, "
            "imports and process-runtime tasks are refused); aws_batch, where imports inspect "
            "model files as AWS Batch jobs of the platform stack (deploy mode aws sets it) and "
            "process-runtime tasks still need bubblewrap; or none, which declares every "
            "repository source trusted and runs its code unconfined.",
        ),
    ] = SandboxMode.BUBBLEWRAP
    FLOWUI_SANDBOX_UID_BASE: Annotated[
        int,
        Field(ge=1000, le=4_000_000_000),
        Setting(
            "security",
            "When the platform runs as root: imports are inspected as this uid and gid, and a "
            "workspace's process-runtime tasks run as this plus the workspace id (choose a range "
            "no user of the machine has).",
        ),
    ] = 200_000
    FLOWUI_SANDBOX_CPU_SECONDS: Annotated[
        PositiveInt,
        Setting("security", "CPU seconds each process of a process-runtime task may use."),
    ] = 86_400
    FLOWUI_SANDBOX_PROCESSES: Annotated[
        PositiveInt,
        Setting("security", "Processes that a sandbox of process-runtime tasks may hold at once."),
    ] = 512
    FLOWUI_TASK_NETWORK: Annotated[
        bool,
        Setting(
            "security",
            "Whether process-runtime tasks reach the network (imports never do); false gives "
            "them a loopback of their own.",
        ),
    ] = True
    FLOWUI_REPOSITORY_SOURCES: Annotated[
        list[str],
        BeforeValidator(_comma_separated),
        Setting(
            "security",
            "Where operators repositories may be imported from: comma-separated patterns "
            "(* matches anything), such as https://github.com/my-org/*; empty: anywhere.",
        ),
    ] = []
    FLOWUI_REPOSITORY_IMPORTERS: Annotated[
        RepositoryImporters | None,
        Setting(
            "security",
            "Who may import operators repositories; unset: workspace-admins when the server "
            "listens on the loopback interface only, platform-admins when it listens beyond it.",
        ),
    ] = None

    FLOWUI_SIGN_IN_MAX_FAILURES: Annotated[
        PositiveInt,
        Setting(
            "security",
            "Failed sign-ins of one account within FLOWUI_SIGN_IN_WINDOW_MINUTES after which it "
            "must wait for the window to pass.",
        ),
    ] = 5
    FLOWUI_SIGN_IN_MAX_FAILURES_PER_ADDRESS: Annotated[
        PositiveInt,
        Setting(
            "security",
            "Failed sign-ins from one address (any accounts) within the window after which it "
            "must wait.",
        ),
    ] = 20
    FLOWUI_SIGN_IN_WINDOW_MINUTES: Annotated[
        PositiveInt, Setting("security", "The window, in minutes, over which failures count.")
    ] = 15
    FLOWUI_ACCESS_TOKEN_MAX_DAYS: Annotated[
        PositiveInt,
        Setting("security", "The longest life, in days, that a personal access token may have."),
    ] = 365
    FLOWUI_AUDIT_RETENTION_DAYS: Annotated[
        PositiveInt,
        Setting(
            "security",
            "Days the audit trail keeps an event; the server removes older ones at its start "
            "and hourly.",
        ),
    ] = 365

    FLOWUI_PASSWORD_LOGIN: Annotated[
        bool,
        Setting(
            "security",
            "Whether people sign in (and sign up) with a password; false: only through the "
            "single sign-on provider (FLOWUI_OIDC_ISSUER).",
        ),
    ] = True
    FLOWUI_OIDC_ISSUER: Annotated[
        Issuer | None,
        Setting(
            "security",
            "Single sign-on: the OpenID Connect provider's issuer URL (its discovery document "
            "is at <issuer>/.well-known/openid-configuration); unset: no single sign-on.",
        ),
    ] = None
    FLOWUI_OIDC_CLIENT_ID: Annotated[
        str | None,
        Setting("security", "Single sign-on: FlowUI's client id at the provider."),
    ] = None
    FLOWUI_OIDC_CLIENT_SECRET: Annotated[
        SecretStr | None,
        Setting("security", "Single sign-on: FlowUI's client secret at the provider."),
    ] = None
    FLOWUI_OIDC_PROVIDER_NAME: Annotated[
        str,
        Field(min_length=1, max_length=60),
        Setting("security", "Single sign-on: the provider's name on the sign-in button."),
    ] = "single sign-on"
    FLOWUI_OIDC_SCOPES: Annotated[
        list[str],
        BeforeValidator(_comma_separated),
        Setting(
            "security",
            "Single sign-on: the scopes asked for (comma-separated; openid is always asked).",
        ),
    ] = ["openid", "email", "profile", "groups"]
    FLOWUI_OIDC_GROUPS_CLAIM: Annotated[
        str,
        Field(min_length=1, max_length=200),
        Setting(
            "security",
            "Single sign-on: the claim listing the user's groups (a dotted path such as "
            "realm_access.roles reaches into an object).",
        ),
    ] = "groups"
    FLOWUI_OIDC_ROLE_MAP: Annotated[
        list[str],
        BeforeValidator(_comma_separated),
        AfterValidator(_role_map),
        Setting(
            "security",
            "Single sign-on: workspace roles given by groups, comma-separated "
            "group=Workspace:role entries, e.g. data-eng=Analytics:write,platform=Analytics:owner "
            "(a group's strongest role counts; the map decides membership of the workspaces "
            "it names, created when missing).",
        ),
    ] = []

    FLOWUI_TASK_MAX_CPUS: Annotated[
        PositiveInt,
        Setting("limits", "Most CPUs a task may ask for, in workspaces without a limit."),
    ] = 16
    FLOWUI_TASK_MAX_MEMORY_MB: Annotated[
        PositiveInt,
        Setting("limits", "Most memory (MiB) a task may ask for, in workspaces without a limit."),
    ] = 65_536
    FLOWUI_TASK_MAX_GPUS: Annotated[
        NonNegativeInt,
        Setting("limits", "Most GPUs a task may ask for, in workspaces without a limit."),
    ] = 4
    FLOWUI_WORKSPACE_MAX_ACTIVE_RUNS: Annotated[
        PositiveInt,
        Setting("limits", "Runs a workspace may have at once, unless it has a limit of its own."),
    ] = 16
    FLOWUI_WORKSPACE_RUNTIMES: Annotated[
        list[TaskRuntime],
        BeforeValidator(_comma_separated),
        Setting(
            "limits",
            "Runtimes a workspace's tasks may use (comma-separated: process, docker, kubernetes, "
            "aws_batch), unless it has a list of its own.",
        ),
    ] = list(TaskRuntime)

    FLOWUI_BASE_IMAGE: Annotated[
        str,
        Setting("images", "The image every group's image starts from: Python >= 3.11 with venv."),
    ] = DEFAULT_BASE_IMAGE
    FLOWUI_CONTAINER_ENGINE: Annotated[
        ContainerEngineName | None,
        Setting("images", "Engine that builds images; unset: docker if it answers, else podman."),
    ] = None
    FLOWUI_WHEEL_CACHE: Annotated[
        Path | None,
        Setting(
            "images",
            "Where downloaded wheels are kept and used again without asking the package index.",
        ),
    ] = None
    FLOWUI_REGISTRY_USERNAME: Annotated[
        str | None,
        Setting("images", "Login to a registry other than Amazon ECR (with the password)."),
    ] = None
    FLOWUI_REGISTRY_PASSWORD: Annotated[
        SecretStr | None,
        Setting("images", "Password to a registry other than Amazon ECR (with the username)."),
    ] = None

    FLOWUI_PLATFORM_IMAGE: Annotated[
        str | None,
        Setting(
            "deploy",
            "The platform image (FlowUI's server and GUI, Airflow and its providers) that "
            "`flowui deploy image` tags and the compose file runs; unset: "
            f"{DEFAULT_PLATFORM_REPOSITORY}:<FlowUI's version>.",
        ),
    ] = None
    FLOWUI_PLATFORM_UID: Annotated[
        int,
        Field(ge=1, le=2_147_483_647),
        Setting(
            "deploy",
            "The uid (never root) that the platform image runs as; the shared root's files are "
            "this user's, so task containers and pods write them as the same uid.",
        ),
    ] = 1000
    FLOWUI_PLATFORM_GID: Annotated[
        int,
        Field(ge=0, le=2_147_483_647),
        Setting("deploy", "The gid of the platform image's user and of the shared root's files."),
    ] = 1000
    FLOWUI_COMPOSE_POSTGRES_IMAGE: Annotated[
        str,
        Setting("deploy", "The compose file's PostgreSQL image (pg_isready and postgres on PATH)."),
    ] = "postgres:16"
    FLOWUI_COMPOSE_REDIS_IMAGE: Annotated[
        str,
        Setting("deploy", "The compose file's Redis image (redis-server and redis-cli on PATH)."),
    ] = "redis:7.2"
    FLOWUI_COMPOSE_ENGINE_SOCKET: Annotated[
        Path,
        Setting(
            "deploy",
            "The host's container engine socket that the compose file's workers start docker-"
            "runtime tasks through (and the server checks their images with), e.g. "
            "/run/podman/podman.sock for Podman.",
        ),
    ] = Path("/var/run/docker.sock")

    FLOWUI_KUBERNETES_NAMESPACE: Annotated[
        str, Setting("kubernetes", "Namespace of the kubernetes runtime's pods.")
    ] = "default"
    FLOWUI_KUBERNETES_VOLUME_CLAIM: Annotated[
        str,
        Setting(
            "kubernetes",
            "The ReadWriteMany claim that holds the root; pods mount their workspace's folders.",
        ),
    ] = "flowui-root"
    FLOWUI_KUBERNETES_NODE_SELECTOR: Annotated[
        dict[str, str],
        BeforeValidator(_json_value),
        Setting("kubernetes", 'Node selector of every pod, a JSON object: {"pool": "gpu"}.'),
    ] = {}
    FLOWUI_KUBERNETES_TOLERATIONS: Annotated[
        list[dict[str, Any]],
        BeforeValidator(_json_value),
        Setting("kubernetes", "Tolerations of every pod, a JSON list of Kubernetes tolerations."),
    ] = []
    FLOWUI_KUBERNETES_IMAGE_CHECK: Annotated[
        KubernetesImageCheck,
        Setting(
            "kubernetes",
            "How a deploy checks a kubernetes task's image: registry (it is in the registry "
            "the cluster pulls from) or none (images loaded onto the nodes, localhost/ images, "
            "air-gapped clusters: the kubelet finds out when the pod starts).",
        ),
    ] = KubernetesImageCheck.REGISTRY
    FLOWUI_KUBERNETES_PULL_POLICY: Annotated[
        KubernetesPullPolicy,
        Setting(
            "kubernetes",
            "imagePullPolicy of task pods: IfNotPresent, Always, or Never (only images already "
            "on the nodes).",
        ),
    ] = KubernetesPullPolicy.IF_NOT_PRESENT
    FLOWUI_KUBERNETES_SERVICE_ACCOUNT_TOKEN: Annotated[
        bool,
        Setting(
            "kubernetes",
            "Whether task pods get their namespace's service-account token (operators that "
            "call the Kubernetes API); off, they cannot.",
        ),
    ] = False

    FLOWUI_STORAGE_BUCKET: Annotated[
        BucketName | None,
        Setting(
            "storage",
            "S3 bucket of the platform's own tree (none: no S3); each workspace has its own, "
            "named after it: {name}-workspace-{id}. Datasets are synced with these buckets "
            "and old runs archived to them.",
        ),
    ] = None
    FLOWUI_ARCHIVE_RUNS_AFTER_DAYS: Annotated[
        PositiveInt,
        Setting(
            "storage",
            "Housekeeping moves runs that ended more than this many days ago to the bucket.",
        ),
    ] = 30
    FLOWUI_HOUSEKEEPING_INTERVAL_HOURS: Annotated[
        PositiveInt, Setting("storage", "How often the housekeeping DAG runs, in hours.")
    ] = 24
    FLOWUI_HOUSEKEEPING_DRY_RUN: Annotated[
        bool,
        Setting("storage", "Housekeeping only reports what it would archive; moves nothing."),
    ] = False

    _sources: dict[str, Layer] = PrivateAttr(default_factory=dict)
    _project_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _config_file: Path | None = PrivateAttr(default=None)

    @property
    def project_dir(self) -> Path:
        return self._project_dir

    @property
    def config_file(self) -> Path | None:
        """The `config.ini` that was read, or None when there was none."""
        return self._config_file

    @property
    def root(self) -> FileSystemRoot:
        return FileSystemRoot(self.VOLUME_MOUNT_PATH_HOST)

    @property
    def admin_email(self) -> str:
        """The first administrator's login to FlowUI."""
        return self.FLOWUI_ADMIN_EMAIL or DEFAULT_ADMIN_EMAIL

    @property
    def sandbox_policy(self) -> SandboxPolicy:
        """The sandboxes of code from operators repositories that these settings ask for."""
        inspection_jobs = None
        if self.FLOWUI_SANDBOX is SandboxMode.AWS_BATCH:
            from flowui.cloud.inspection import InspectionJobs  # boto3 only where it is used

            inspection_jobs = InspectionJobs(self.root, self.AWS_REGION_NAME)
        return SandboxPolicy(
            enabled=self.FLOWUI_SANDBOX is not SandboxMode.NONE,
            inspection_jobs=inspection_jobs,
            uid_base=self.FLOWUI_SANDBOX_UID_BASE,
            task_network=self.FLOWUI_TASK_NETWORK,
            cpu_seconds=self.FLOWUI_SANDBOX_CPU_SECONDS,
            processes=self.FLOWUI_SANDBOX_PROCESSES,
        )

    @property
    def oidc_role_map(self) -> list[tuple[str, str, str]]:
        """FLOWUI_OIDC_ROLE_MAP as (group, workspace, role) entries."""
        return [parse_role_map_entry(entry) for entry in self.FLOWUI_OIDC_ROLE_MAP]

    def source(self, name: str) -> Layer:
        """The layer the value of setting `name` came from."""
        _spec(name)
        return self._sources.get(name, Layer.DEFAULT)

    def where(self, name: str) -> str:
        """Where the value of setting `name` was set, for error messages."""
        return _where(self.source(name), name)

    def display_value(self, name: str) -> str | None:
        """The value as text for people: secrets are masked, unset values are None."""
        value = getattr(self, _spec(name).name)
        if value is None:
            return None
        if isinstance(value, SecretStr):
            return MASK
        return _mask_url_password(_as_text(value))

    def entries(self) -> list[SettingEntry]:
        """Every setting with its displayable value and source, in table order."""
        return [
            SettingEntry(
                name=spec.name,
                value=self.display_value(spec.name),
                source=self.source(spec.name),
                secret=spec.secret,
                section=spec.section,
                help=spec.help,
            )
            for spec in SETTINGS.values()
        ]


@dataclass(frozen=True)
class SettingSpec:
    """One row of the settings table, read from the `Settings` model."""

    name: str
    type: Any
    default: Any
    secret: bool
    section: str
    help: str
    choices: tuple[str, ...]  # allowed values, for enum settings
    is_path: bool

    @property
    def description(self) -> str:
        if self.choices:
            return f"{self.help} One of: {', '.join(self.choices)}."
        return self.help


@dataclass(frozen=True)
class SettingEntry:
    """A setting as shown to people: `value` is masked for secrets and None when unset."""

    name: str
    value: str | None
    source: Layer
    secret: bool
    section: str
    help: str


def _base_type(annotation: Any) -> Any:
    """`X` out of `X | None` and `Annotated[X, ...]`."""
    if get_origin(annotation) in (Union, types.UnionType):
        arguments = [a for a in get_args(annotation) if a is not type(None)]
        if len(arguments) == 1:
            annotation = arguments[0]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _choices(base: Any) -> tuple[str, ...]:
    if isinstance(base, type) and issubclass(base, Enum):
        return tuple(str(member.value) for member in base)
    if get_origin(base) is Literal:
        return tuple(str(argument) for argument in get_args(base))
    return ()


def _build_table() -> dict[str, SettingSpec]:
    table: dict[str, SettingSpec] = {}
    for name, field in Settings.model_fields.items():
        marks = [m for m in field.metadata if isinstance(m, Setting)]
        if len(marks) != 1:
            raise TypeError(f"Settings.{name} needs exactly one Setting(section, help) mark")
        base = _base_type(field.annotation)
        table[name] = SettingSpec(
            name=name,
            type=field.annotation,
            default=field.default,
            secret=base is SecretStr,
            section=marks[0].section,
            help=marks[0].help,
            choices=_choices(base),
            is_path=base is Path,
        )
    return table


SETTINGS: Mapping[str, SettingSpec] = types.MappingProxyType(_build_table())
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(spec.section for spec in SETTINGS.values()))


def _spec(name: str) -> SettingSpec:
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"unknown setting {name}") from None


def _did_you_mean(word: str, candidates: Any) -> str:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    if not matches:
        matches = [c for c in candidates if c.lower() == word.lower()]
    return f" (did you mean {matches[0]}?)" if matches else ""


def _as_text(value: Any) -> str:
    if isinstance(value, list) and not any(isinstance(item, dict) for item in value):
        return ", ".join(_as_text(item) for item in value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value.value) if isinstance(value, Enum) else str(value)


def _mask_url_password(text: str) -> str:
    # A database URL may carry a password; show the URL, never the password.
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text
    except ValueError:
        return text
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def _absolute(path: str | Path, base: Path) -> Path:
    return Path(os.path.normpath(base / Path(path).expanduser()))


# --- locating the project and reading config.ini -------------------------------------------


def find_project_dir(
    explicit: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The project directory: `explicit` (--project), else $FLOWUI_PROJECT_DIR, else the cwd."""
    environ = os.environ if environ is None else environ
    if explicit is not None and str(explicit) != "":
        return _absolute(explicit, Path.cwd())
    if environ.get(PROJECT_DIR_VARIABLE):
        return _absolute(environ[PROJECT_DIR_VARIABLE], Path.cwd())
    return Path.cwd()


class _CaseKeepingParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        # Settings keep the seed's upper-case names; configparser would lower-case them.
        return optionstr


def read_config_file(path: Path) -> dict[str, str]:
    """The settings set in a `config.ini`, by name; raises ConfigError naming line or key."""
    label = path.name
    hint = f"edit {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: is not UTF-8 text", hint=hint) from None
    except OSError as error:
        raise ConfigError(f"{label}: cannot be read: {error.strerror or error}") from None
    lines = text.splitlines()

    def line_text(lineno: int) -> str:
        return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""

    parser = _CaseKeepingParser(interpolation=None, empty_lines_in_values=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as error:
        raise ConfigError(
            f"{label} line {error.lineno}: {line_text(error.lineno)!r} comes before any "
            "[section] header",
            hint=hint,
        ) from None
    except configparser.DuplicateSectionError as error:
        raise ConfigError(
            f"{label} line {error.lineno}: section [{error.section}] appears twice", hint=hint
        ) from None
    except configparser.DuplicateOptionError as error:
        raise ConfigError(
            f"{label} line {error.lineno}: [{error.section}] {error.option} is set twice",
            hint=hint,
        ) from None
    except configparser.ParsingError as error:
        raise ConfigError(
            [
                f"{label} line {lineno}: {line_text(lineno)!r} is not 'KEY = value', "
                "a [section] header or a # comment"
                for lineno, _ in error.errors
            ],
            hint=hint,
        ) from None
    except configparser.Error as error:  # any other syntax problem configparser finds
        raise ConfigError(f"{label}: {error.message}", hint=hint) from None

    if parser.defaults():
        raise ConfigError(f"{label} [DEFAULT]: unknown section", hint=hint)
    errors: list[str] = []
    values: dict[str, str] = {}
    for section in parser.sections():
        if section not in SECTIONS:
            errors.append(
                f"{label} [{section}]: unknown section{_did_you_mean(section, SECTIONS)}; "
                f"the sections are {', '.join(SECTIONS)}"
            )
            continue
        for key, value in parser.items(section):
            where = f"{label} [{section}] {key}"
            spec = SETTINGS.get(key)
            if spec is None:
                errors.append(f"{where}: unknown setting {key}{_did_you_mean(key, SETTINGS)}")
            elif spec.secret:
                errors.append(
                    f"{where}: {key} is a secret and is not read from {label}; "
                    "set it in the environment instead"
                )
            elif spec.section != section:
                errors.append(f"{where}: {key} belongs in section [{spec.section}]")
            elif "\n" in value:
                errors.append(f"{where}: the value must fit on one line (is a line indented?)")
            else:
                values[key] = value
    if errors:
        raise ConfigError(errors, hint=hint)
    return values


# --- the loader ------------------------------------------------------------------------------


def _check_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    errors = []
    for name in overrides:
        spec = SETTINGS.get(name)
        if spec is None:
            errors.append(f"--set {name}: unknown setting {name}{_did_you_mean(name, SETTINGS)}")
        elif spec.secret:
            # Command lines are visible to every user of the machine (ps, shell history).
            errors.append(
                f"--set {name}: {name} is a secret and is not read from the command line; "
                "set it in the environment instead"
            )
    if errors:
        raise ConfigError(errors)
    return dict(overrides)


def _where(layer: Layer, name: str) -> str:
    if layer is Layer.ENVIRONMENT:
        return f"environment {name}"
    if layer is Layer.CLI:
        return f"--set {name}"
    if layer is Layer.CONFIG_FILE:
        return f"{CONFIG_FILE_NAME} [{SETTINGS[name].section}] {name}"
    return f"default {name}"


def _explain(error: Any) -> str:
    """One pydantic error as a sentence about the value (the caller says where)."""
    name = error["loc"][0]
    value = error.get("input")
    choices = SETTINGS[name].choices if name in SETTINGS else ()
    if error["type"] in ("enum", "literal_error") and choices:
        return f"{value!r} is not one of {', '.join(choices)}"
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    message = str(error["msg"])
    return f"{value!r}: {message[:1].lower()}{message[1:]}"


def load_settings(
    project_dir: Path | str | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    read_config: bool = True,
) -> Settings:
    """The effective settings of a project, each with the layer it came from.

    `project_dir` is found with `find_project_dir`; `overrides` are the CLI flags (`--set`);
    `environ` defaults to `os.environ`. An empty value counts as not set in its layer.
    `read_config=False` ignores `config.ini` (for `flowui init`, which writes it).
    """
    environ = os.environ if environ is None else environ
    project = find_project_dir(project_dir, environ)
    config_file: Path | None = project / CONFIG_FILE_NAME
    file_values: dict[str, str] = {}
    if read_config:
        if not project.is_dir():
            raise ConfigError(
                f"project directory {project} does not exist",
                hint="pass --project DIR, set FLOWUI_PROJECT_DIR, or create it with `flowui init`",
            )
        if config_file is not None and config_file.is_file():
            file_values = read_config_file(config_file)
        else:
            config_file = None
    else:
        config_file = None
    layers: list[tuple[Layer, Mapping[str, str], Path]] = [
        (Layer.ENVIRONMENT, environ, Path.cwd()),
        (Layer.CLI, _check_overrides(overrides or {}), Path.cwd()),
        (Layer.CONFIG_FILE, file_values, project),
    ]

    raw: dict[str, Any] = {}
    sources: dict[str, Layer] = {}
    for name, spec in SETTINGS.items():
        sources[name] = Layer.DEFAULT
        for layer, values, base in layers:
            value = values.get(name)
            if value:
                raw[name] = _absolute(value, base) if spec.is_path else value
                sources[name] = layer
                break
        else:
            if spec.is_path and spec.default is not None:
                raw[name] = _absolute(spec.default, project)

    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        messages, layers_at_fault = [], set()
        for problem in error.errors():
            name = str(problem["loc"][0])
            layers_at_fault.add(sources[name])
            messages.append(f"{_where(sources[name], name)}: {_explain(problem)}")
        in_file = Layer.CONFIG_FILE in layers_at_fault and config_file is not None
        raise ConfigError(messages, hint=f"edit {config_file}" if in_file else None) from None
    settings._sources = sources
    settings._project_dir = project
    settings._config_file = config_file
    return settings


# --- writing config.ini ----------------------------------------------------------------------

_HEADER = """\
# FlowUI platform project, written by `flowui init`.
# Layers, highest first: environment variables > command-line flags (--set) > this file
# > defaults. Run `flowui config show` to see every effective value and where it came from.
# Secrets are never read from this file; set them in the environment:
# {secrets}.
# Relative paths are relative to this file's directory. A commented-out key is unset.
"""


def render_config_file(settings: Settings) -> str:
    """The `config.ini` text holding the non-secret values of `settings`, with comments."""
    secrets = ", ".join(spec.name for spec in SETTINGS.values() if spec.secret)
    parts = [_HEADER.format(secrets=secrets)]
    for section in SECTIONS:
        parts.append(f"\n[{section}]\n")
        for spec in SETTINGS.values():
            if spec.section != section:
                continue
            parts.append(f"# {spec.description}\n")
            value = getattr(settings, spec.name)
            if spec.secret:
                parts.append(f"# {spec.name}: secret, set it in the environment.\n")
            elif value is None:
                parts.append(f"# {spec.name} =\n")
            else:
                text = _as_text(value)
                if "\n" in text or text != text.strip():
                    raise ConfigError(f"{spec.name}: {text!r} cannot be written on one line")
                parts.append(f"{spec.name} = {text}\n")
    return "".join(parts)


def write_config_file(settings: Settings, path: Path | None = None) -> Path:
    """Write `render_config_file(settings)` to `path` (default: the project's config.ini).

    Atomic: a reader sees the old file or the new one, never half of one.
    """
    target = path if path is not None else settings.project_dir / CONFIG_FILE_NAME
    return write_text_atomically(target, render_config_file(settings))
