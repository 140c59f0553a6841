"""What every request handler may use: settings, the root, the database, keys and Airflow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from flowui.server.airflow_client import AirflowClient
from flowui.server.database import (
    create_database_engine,
    database_url,
    migrate,
    session_factory,
)
from flowui.server.security import ServerKeys, load_or_create_key
from flowui.storage import FileSystemRoot
from flowui.workflows.spec import Runtime

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30  # 1 GiB


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
    # FLOWUI_STORAGE_BUCKET: where datasets are synced and old runs archived; None: no S3.
    storage: StorageBucket | None = None

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
    ) -> ServerContext:
        """Connect to the database (migrated to the newest schema) and load the server key."""
        root.create()
        engine = create_database_engine(database_url(database, root))
        migrate(engine)
        key = load_or_create_key(secret_key, root.secret_key_file)
        return cls(
            root=root,
            engine=engine,
            sessions=session_factory(engine),
            keys=ServerKeys.from_key(key),
            airflow=airflow,
            allow_registration=allow_registration,
            max_upload_bytes=max_upload_bytes,
            internal_token=internal_token,
            default_runtime=default_runtime,
            storage=storage,
        )

    def close(self) -> None:
        self.engine.dispose()
        if self.airflow is not None:
            self.airflow.close()
