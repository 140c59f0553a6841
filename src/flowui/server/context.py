"""What every request handler may use: settings, the root, the database, keys and Airflow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from flowui.sandbox import SandboxPolicy
from flowui.server.airflow_client import AirflowClient
from flowui.server.database import (
    create_database_engine,
    database_url,
    migrate,
    session_factory,
    transaction,
)
from flowui.server.security import ServerKeys, load_or_create_key
from flowui.server.services.access import AccessPolicy
from flowui.server.services.oidc import OidcProvider
from flowui.server.services.trees import move_into_workspace_trees
from flowui.storage import FileSystemRoot, workspace_bucket
from flowui.workflows.limits import WorkspaceLimits
from flowui.workflows.runtimes import BatchLookup
from flowui.workflows.spec import RUNTIMES, Runtime

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30  # 1 GiB
# Who may import operators repositories (FLOWUI_REPOSITORY_IMPORTERS; a test keeps the two
# lists the same).
RepositoryImporters = Literal["workspace-admins", "workspace-owners", "platform-admins"]
# The platform's limits of workspaces that set none of their own (FLOWUI_TASK_MAX_* and
# FLOWUI_WORKSPACE_*: the settings' defaults).
DEFAULT_LIMITS = WorkspaceLimits(
    task_cpus=16, task_memory_mb=65_536, task_gpus=4, active_runs=16, runtimes=RUNTIMES
)


@dataclass(frozen=True)
class AirflowConnection:
    """Where the platform's Airflow answers and the login the server uses there."""

    url: str
    username: str
    password: str

    # One per connection, made at once: requests from several threads share it safely.
    _shared_client: AirflowClient = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        client = AirflowClient(self.url, self.username, self.password)
        object.__setattr__(self, "_shared_client", client)

    @contextmanager
    def client(self) -> Iterator[AirflowClient]:
        """The server's one client of Airflow: requests reuse its connections and its token
        (a new client per request would sign in to Airflow every time)."""
        yield self._shared_client

    def close(self) -> None:
        self._shared_client.close()


@dataclass(frozen=True)
class StorageBucket:
    """The platform's S3 bucket; credentials and endpoint come from boto3's own lookup (the
    environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, or a role)."""

    name: str
    region: str = "us-east-1"

    def client(self) -> Any:
        import boto3  # here: only a server with a bucket needs it

        return boto3.client("s3", region_name=self.region)

    def workspace(self, workspace_id: int) -> StorageBucket:
        """A workspace's own bucket, named after the platform's; InvalidIdError when S3 would
        refuse the name."""
        return StorageBucket(workspace_bucket(self.name, workspace_id), self.region)


@dataclass(frozen=True)
class ServerContext:
    root: FileSystemRoot
    engine: Engine
    sessions: sessionmaker[Session]
    keys: ServerKeys
    airflow: AirflowConnection | None
    allow_registration: bool = True
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    # Known only to the platform's own processes (Airflow's workers fetch task secrets with it);
    # None switches the internal routes off.
    internal_token: str | None = None
    # The platform's FLOWUI_DEFAULT_RUNTIME: where tasks run that name no runtime, in
    # workspaces without a default of their own.
    default_runtime: Runtime = "process"
    # FLOWUI_STORAGE_BUCKET: the platform's bucket, after which each workspace's is named;
    # None: no S3.
    storage: StorageBucket | None = None
    # How code from operators repositories is confined (FLOWUI_SANDBOX...), where repositories
    # may come from (FLOWUI_REPOSITORY_SOURCES; empty: anywhere) and who may import them.
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    repository_sources: tuple[str, ...] = ()
    repository_importers: RepositoryImporters = "workspace-admins"
    default_limits: WorkspaceLimits = DEFAULT_LIMITS
    # Deploy mode aws: Batch job definitions that the environment does not name are looked up
    # in AWS Batch (`cloud.jobs`); None: the environment names them all.
    batch_registered: BatchLookup | None = None
    # Limits on failed sign-ins and tokens, and how long the audit trail keeps events.
    access: AccessPolicy = field(default_factory=AccessPolicy)
    # Single sign-on (FLOWUI_OIDC_*): None, none; and whether passwords sign in as well
    # (FLOWUI_PASSWORD_LOGIN).
    oidc: OidcProvider | None = None
    password_login: bool = True

    @classmethod
    def open(
        cls,
        root: FileSystemRoot,
        *,
        database: str | None = None,
        secret_key: str | None = None,
        airflow: AirflowConnection | None = None,
        allow_registration: bool = True,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        internal_token: str | None = None,
        default_runtime: Runtime = "process",
        storage: StorageBucket | None = None,
        sandbox: SandboxPolicy | None = None,
        repository_sources: tuple[str, ...] = (),
        repository_importers: RepositoryImporters = "workspace-admins",
        default_limits: WorkspaceLimits = DEFAULT_LIMITS,
        batch_registered: BatchLookup | None = None,
        access: AccessPolicy | None = None,
        oidc: OidcProvider | None = None,
        password_login: bool = True,
    ) -> ServerContext:
        """Connect to the database (migrated to the newest schema), load the server key and
        move what an earlier server left in the root's shared folders into workspace trees."""
        root.create()
        engine = create_database_engine(database_url(database, root))
        migrate(engine)
        key = load_or_create_key(secret_key, root.secret_key_file)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            move_into_workspace_trees(session, root)
        return cls(
            root=root,
            engine=engine,
            sessions=sessions,
            keys=ServerKeys.from_key(key),
            airflow=airflow,
            allow_registration=allow_registration,
            max_upload_bytes=max_upload_bytes,
            internal_token=internal_token,
            default_runtime=default_runtime,
            storage=storage,
            sandbox=sandbox or SandboxPolicy(),
            repository_sources=repository_sources,
            repository_importers=repository_importers,
            default_limits=default_limits,
            batch_registered=batch_registered,
            access=access or AccessPolicy(),
            oidc=oidc,
            password_login=password_login,
        )

    def workspace_storage(self, workspace_id: int) -> StorageBucket | None:
        """Where a workspace's datasets are synced and its old runs archived; None: no S3."""
        return None if self.storage is None else self.storage.workspace(workspace_id)

    def close(self) -> None:
        self.engine.dispose()
        if self.airflow is not None:
            self.airflow.close()
        if self.oidc is not None:
            self.oidc.close()
