"""The server's tables: users, their sessions and access tokens, workspaces and their members,
operators repositories, workflows with their versions, encrypted secrets, datasets and the audit
trail. Runs live in Airflow, not here."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flowui.workflows.limits import WorkspaceLimits
from flowui.workflows.spec import Runtime


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class Role(StrEnum):
    """A member's role in a workspace, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    WRITE = "write"
    READ = "read"

    @property
    def rank(self) -> int:
        return [Role.READ, Role.WRITE, Role.ADMIN, Role.OWNER].index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


# Stored as its text (no database enum type): adding a role needs no type migration.
_ROLE = Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by a platform administrator: no sign-in (password or single sign-on), and the user's
    # sessions and access tokens stop at once.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised by a password change: tokens issued before it stop working.
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Where its tasks that name no runtime run (a workflows.spec.RUNTIMES name); None: the
    # platform's FLOWUI_DEFAULT_RUNTIME.
    default_runtime: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Limits its platform administrators set (workflows.limits); None: the platform's default.
    max_task_cpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_task_memory_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_task_gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_active_runs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    allowed_runtimes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="workspace", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def own_default_runtime(self) -> Runtime | None:
        # Set only through the API's Runtime-typed field, so always one of the runtimes.
        return cast("Runtime | None", self.default_runtime)

    def effective_default_runtime(self, platform_default: Runtime) -> Runtime:
        """Where the workspace's tasks that name no runtime run."""
        return self.own_default_runtime or platform_default

    def limits(self, platform_default: WorkspaceLimits) -> WorkspaceLimits:
        """Its own limits, each unset one the platform's."""
        return WorkspaceLimits(
            task_cpus=_or(self.max_task_cpus, platform_default.task_cpus),
            task_memory_mb=_or(self.max_task_memory_mb, platform_default.task_memory_mb),
            task_gpus=_or(self.max_task_gpus, platform_default.task_gpus),
            active_runs=_or(self.max_active_runs, platform_default.active_runs),
            runtimes=list(_or(self.allowed_runtimes, platform_default.runtimes)),
        )


def _or(own: Any, default: Any) -> Any:
    return default if own is None else own


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_ROLE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    workspace: Mapped[Workspace] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()


class Invitation(Base):
    """A pending invitation of an e-mail address into a workspace, with a role."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[Role] = mapped_column(_ROLE)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    workspace: Mapped[Workspace] = relationship()


class Repository(Base):
    """An operators repository imported into a workspace; each imported ref is a version."""

    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # REPOSITORY_NAME of its config.toml
    source: Mapped[str] = mapped_column(Text)  # URL or path, never with credentials
    current_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    versions: Mapped[list[RepositoryVersion]] = relationship(
        back_populates="repository", cascade="all, delete-orphan", passive_deletes=True
    )


class RepositoryVersion(Base):
    """One checkout of a repository at a ref, installed in the root under `checkout_id`."""

    __tablename__ = "repository_versions"
    __table_args__ = (UniqueConstraint("repository_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    checkout_id: Mapped[str] = mapped_column(String(100), unique=True)
    version: Mapped[str] = mapped_column(String(128))  # VERSION of its config.toml
    ref: Mapped[str | None] = mapped_column(String(256), nullable=True)
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    compiled_metadata: Mapped[dict[str, Any]] = mapped_column(JSON)
    dependencies_map: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(default=utc_now)

    repository: Mapped[Repository] = relationship(back_populates="versions")
    operators: Mapped[list[Operator]] = relationship(
        back_populates="repository_version", cascade="all, delete-orphan", passive_deletes=True
    )


class Operator(Base):
    """An operator of a repository version, kept apart for listing and search."""

    __tablename__ = "operators"
    __table_args__ = (UniqueConstraint("repository_version_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_version_id: Mapped[int] = mapped_column(
        ForeignKey("repository_versions.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The operator's entry of compiled_metadata.json: metadata, schemas, secrets, source.
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)

    repository_version: Mapped[RepositoryVersion] = relationship(back_populates="operators")


class Workflow(Base):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    dag_id: Mapped[str] = mapped_column(String(100), unique=True)  # generated, never user text
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    deployed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    versions: Mapped[list[WorkflowVersion]] = relationship(
        back_populates="workflow",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="WorkflowVersion.number",
    )


class WorkflowVersion(Base):
    """Every save of a workflow: the whole document as it was."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    workflow: Mapped[Workflow] = relationship(back_populates="versions")


class Secret(Base):
    """A secret value of a workspace for one repository's operators, encrypted (Fernet)."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("workspace_id", "repository_name", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    repository_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Dataset(Base):
    """An uploaded dataset of a workspace, stored under the root's `dataset/{storage_id}`."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    storage_id: Mapped[str] = mapped_column(String(100), unique=True)  # generated path id
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Loaded with the dataset, in the same query: a list of datasets names their creators
    # without one more query each.
    created_by: Mapped[User | None] = relationship(lazy="joined")


class UserSession(Base):
    """A sign-in: its tokens carry its public id, and ending it (sign-out, another session's
    end, a password change) stops them at once."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AccessToken(Base):
    """A personal access token: only its SHA-256 digest is kept; it acts as its user, at most,
    narrowed to some workspaces (None: all of the user's) and to reading."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    shown_prefix: Mapped[str] = mapped_column(String(20))  # to tell tokens apart in lists
    workspace_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    user: Mapped[User] = relationship()


class SignInFailure(Base):
    """A failed sign-in, counted per account and per address to slow down password guessing."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class AuditEvent(Base):
    """One change to the platform: who (the user as they were then, from where, with which
    token), when, and what. Never updated; removed only after the retention period."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(320), default="")  # the e-mail, kept after removal
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    token_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    # No foreign key: the record outlives the workspace.
    workspace_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
