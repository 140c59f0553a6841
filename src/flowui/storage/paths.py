"""Layout of the file-system root (docs/architecture.md, "The file-system root").

Every id that becomes a path component goes through `validate_id` first, so no text a user or a
repository supplies can climb out of the root or name a hidden file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
MAX_ID_LENGTH = 250
# S3's limit on a bucket name, which a workspace's bucket name must keep within.
MAX_BUCKET_NAME_LENGTH = 63


class InvalidIdError(ValueError):
    """An id that cannot be used as a path component."""


def validate_id(value: str, kind: str = "id") -> str:
    """Return `value` unchanged if it is safe as a single path component, else raise."""
    if not isinstance(value, str) or not value:
        raise InvalidIdError(f"{kind} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{kind} is longer than {MAX_ID_LENGTH} characters")
    if not _ID_PATTERN.fullmatch(value):
        raise InvalidIdError(f"{kind} {value!r} may contain only letters, digits, '_', '.' and '-'")
    if value.startswith(".") or ".." in value:
        raise InvalidIdError(f"{kind} {value!r} must not start with '.' or contain '..'")
    return value


def run_directory_name(run_id: str) -> str:
    """The directory of a run: its id if that is a safe id, else a safe form of it.

    Airflow's run ids carry ':' and '+' (manual__2026-01-01T00:00:00+00:00). Characters outside
    the safe set become '_' and a short hash of the real id keeps distinct ids apart.
    """
    if not isinstance(run_id, str) or not run_id or len(run_id) > MAX_ID_LENGTH:
        raise InvalidIdError(f"run id must be a string of 1 to {MAX_ID_LENGTH} characters")
    try:
        return validate_id(run_id, "run id")
    except InvalidIdError:
        readable = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id).replace("..", "_").lstrip(".")
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
        return f"{readable[:200]}-{digest}"


def validate_workspace_id(value: int) -> int:
    """A workspace id (the server's integer key) that can name its tree and its bucket."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidIdError(f"workspace id must be a positive integer, not {value!r}")
    return value


def workspace_bucket(platform_bucket: str, workspace_id: int) -> str:
    """A workspace's own bucket, named after the platform's (FLOWUI_STORAGE_BUCKET):
    `{platform_bucket}-workspace-{id}`. Raises InvalidIdError when S3 would refuse the name."""
    name = f"{platform_bucket}-workspace-{validate_workspace_id(workspace_id)}"
    if len(name) > MAX_BUCKET_NAME_LENGTH:
        raise InvalidIdError(
            f"the bucket of workspace {workspace_id}, {name}, is longer than S3's "
            f"{MAX_BUCKET_NAME_LENGTH} characters: choose a shorter FLOWUI_STORAGE_BUCKET"
        )
    return name


@dataclass(frozen=True)
class TaskRunPaths:
    """Where one task of one run keeps its log, its output and its result files."""

    directory: Path

    @property
    def log(self) -> Path:
        return self.directory / "log.txt"

    @property
    def output(self) -> Path:
        return self.directory / "output.json"

    @property
    def results(self) -> Path:
        return self.directory / "results"

    @property
    def display_result(self) -> Path:
        """Which result file the GUI shows for the task (JSON: file_type, path)."""
        return self.directory / "display_result.json"

    @property
    def task_spec(self) -> Path:
        """The TaskSpec a container runtime hands to `flowui-task` (no secret is in it)."""
        return self.directory / "task_spec.json"

    @property
    def placement(self) -> Path:
        """Where the latest try ran (JSON: runtime, and its container, pod or Batch job)."""
        return self.directory / "placement.json"

    def create(self) -> TaskRunPaths:
        self.results.mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class FileSystemRoot:
    """The directory tree shared by the platform and every task (mounted at the same path)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).expanduser().absolute())

    @property
    def airflow(self) -> Path:
        return self.path / "airflow"

    @property
    def airflow_dags(self) -> Path:
        return self.airflow / "dags"

    @property
    def airflow_logs(self) -> Path:
        return self.airflow / "logs"

    @property
    def airflow_plugins(self) -> Path:
        return self.airflow / "plugins"

    @property
    def operators_repositories(self) -> Path:
        return self.path / "operators_repositories"

    @property
    def datasets(self) -> Path:
        return self.path / "dataset"

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    @property
    def platform(self) -> Path:
        """The platform's own state: supervisor state, logs, the server's database and key."""
        return self.path / "platform"

    @property
    def cloud_environment(self) -> Path:
        """Variables `flowui aws apply` wrote for Airflow's processes (JSON, name: value)."""
        return self.platform / "cloud_environment.json"

    @property
    def task_secrets(self) -> Path:
        """Each container try's secrets file until the try ends (docker runtime): on the root,
        which the engine can bind-mount even when the worker itself runs in a container."""
        return self.platform / "task-secrets"

    @property
    def server_database(self) -> Path:
        """The platform server's SQLite database (the embedded default)."""
        return self.platform / "flowui.db"

    @property
    def secret_key_file(self) -> Path:
        """The key that encrypts stored secrets when FLOWUI_SECRET_KEY is not set (mode 0600)."""
        return self.platform / "secret.key"

    @property
    def environments(self) -> Path:
        """Cached task environments (one virtualenv per dependency group) of the process runtime."""
        return self.path / "environments"

    @property
    def forkservers(self) -> Path:
        """Pid files and logs of the process runtime's fork servers (one per environment)."""
        return self.environments / "forkservers"

    @property
    def workspaces(self) -> Path:
        """The workspaces' own trees (`workspace`)."""
        return self.path / "workspaces"

    def workspace(self, workspace_id: int) -> FileSystemRoot:
        """A workspace's tree: its runs, datasets and models, laid out as the root's own
        (`runs/`, `dataset/`, `models/`). Its tasks see this tree as their root; on AWS it is
        what the workspace's Batch jobs mount, through an access point, and nothing else."""
        return FileSystemRoot(self.workspaces / str(validate_workspace_id(workspace_id)))

    def workspace_ids(self) -> list[int]:
        """The workspaces that have a tree under the root, in id order."""
        if not self.workspaces.is_dir():
            return []
        return sorted(
            int(entry.name)
            for entry in self.workspaces.iterdir()
            if entry.is_dir() and entry.name.isdigit() and int(entry.name) > 0
        )

    @property
    def private_paths(self) -> tuple[Path, ...]:
        """What no code from an operators repository may see (its sandbox shows only what it
        binds, and refuses a bind that would show one of these): the platform's state, Airflow's
        files, the workspaces' trees and the fork servers' sockets."""
        return (self.platform, self.airflow, self.workspaces, self.forkservers)

    def operators_repository(self, repository_id: str) -> Path:
        return self.operators_repositories / validate_id(repository_id, "repository id")

    def dataset(self, dataset_id: str) -> Path:
        return self.datasets / validate_id(dataset_id, "dataset id")

    @property
    def models(self) -> Path:
        """Model artifacts loaded from a bucket (LoadModelOperator), under their object keys."""
        return self.path / "models"

    def model(self, key: str) -> Path:
        """Where the artifact of object key `key` lives: each part of the key is an id."""
        parts = key.split("/")
        return self.models.joinpath(*(validate_id(part, "model key part") for part in parts))

    def dag_runs(self, dag_id: str) -> Path:
        """The runs of one DAG (a directory per run)."""
        return self.runs / validate_id(dag_id, "dag id")

    def task_run(self, dag_id: str, run_id: str, task_id: str) -> TaskRunPaths:
        return TaskRunPaths(
            self.dag_runs(dag_id) / run_directory_name(run_id) / validate_id(task_id, "task id")
        )

    def run_tombstone(self, dag_id: str, run_id: str) -> Path:
        """What housekeeping leaves in place of a run it moved to the bucket (JSON: bucket,
        prefix, archived_at, files), beside where the run's directory was."""
        directory = run_directory_name(run_id)
        return self.dag_runs(dag_id) / f"{directory}.archived.json"

    def create(self) -> FileSystemRoot:
        """Create every top-level directory of the tree; existing content is left alone."""
        for directory in (
            self.airflow_dags,
            self.airflow_logs,
            self.airflow_plugins,
            self.operators_repositories,
            self.datasets,
            self.runs,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        return self
