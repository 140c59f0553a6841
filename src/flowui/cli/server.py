"""`flowui server`: run the platform server (what `flowui up` starts) and export its OpenAPI."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from flowui.cli.output import console, fail
from flowui.cli.project import ProjectDirOption
from flowui.config import (
    INTERNAL_TOKEN_VARIABLE,
    ConfigError,
    DeployMode,
    RepositoryImporters,
    Settings,
    find_project_dir,
    load_settings,
)
from flowui.platform.environment import (
    AIRFLOW_PASSWORD_VARIABLE,
    AIRFLOW_URL_VARIABLE,
    AIRFLOW_USERNAME_VARIABLE,
)
from flowui.workflows.spec import Runtime

if TYPE_CHECKING:
    from flowui.server.services.oidc import OidcProvider

app = typer.Typer(
    help="The platform server (REST API): run it, export its OpenAPI document.",
    no_args_is_help=True,
)


@app.command()
def run(
    project: Path | None = ProjectDirOption,
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on: the loopback interface by default (as `flowui up` runs it); "
        "0.0.0.0 in a container behind a Service or a reverse proxy.",
    ),
) -> None:
    """Serve the REST API and the GUI (normally started by `flowui up`).

    Listening beyond the loopback interface makes it a shared platform: unless set otherwise,
    nobody may sign up (FLOWUI_ALLOW_REGISTRATION) and only platform administrators import
    operators repositories (FLOWUI_REPOSITORY_IMPORTERS). Migrates the database, creates the
    first administrator (FLOWUI_ADMIN_EMAIL, FLOWUI_ADMIN_PASSWORD) and their default workspace
    if missing, and imports the example operators there (when run from a source tree) unless
    that workspace has them.

    Example: [bold]flowui server run --project ./platform --port 8000[/]
    """
    import uvicorn

    from flowui.server.app import create_app
    from flowui.server.context import AirflowConnection, ServerContext, StorageBucket
    from flowui.server.services.bootstrap import (
        default_workspace,
        ensure_first_admin,
        import_bundled_examples,
    )

    try:
        settings = load_settings(find_project_dir(project))
        options = server_options(settings, host)
    except ConfigError as error:
        fail(str(error), hint=error.hint)
    airflow_url = os.environ.get(AIRFLOW_URL_VARIABLE)
    airflow = (
        AirflowConnection(
            airflow_url,
            os.environ.get(AIRFLOW_USERNAME_VARIABLE, "admin"),
            os.environ.get(AIRFLOW_PASSWORD_VARIABLE, ""),
        )
        if airflow_url
        else None
    )
    secret_key = settings.FLOWUI_SECRET_KEY
    context = ServerContext.open(
        settings.root,
        database=str(settings.FLOWUI_DATABASE_URL) if settings.FLOWUI_DATABASE_URL else None,
        secret_key=secret_key.get_secret_value() if secret_key else None,
        airflow=airflow,
        internal_token=os.environ.get(INTERNAL_TOKEN_VARIABLE),
        storage=StorageBucket(settings.FLOWUI_STORAGE_BUCKET, settings.AWS_REGION_NAME)
        if settings.FLOWUI_STORAGE_BUCKET
        else None,
        **options,
    )
    if settings.FLOWUI_ADMIN_PASSWORD is not None:
        user, _ = ensure_first_admin(
            context, settings.admin_email, settings.FLOWUI_ADMIN_PASSWORD.get_secret_value()
        )
        import_bundled_examples(context, default_workspace(context, user).id)
    try:
        uvicorn.run(create_app(context), host=host, port=port, log_level="info")
    finally:
        context.close()


def listens_beyond_loopback(host: str) -> bool:
    """Whether a server on `host` is reachable from other machines (a name other than
    localhost counts as reachable)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def server_options(settings: Settings, host: str) -> dict[str, Any]:
    """What the server decides from its settings and from where it listens: beyond the loopback
    interface it is a shared platform, where sign-up is off and only platform administrators
    import unless the settings say otherwise."""
    from flowui.cloud.jobs import BatchRegistrations
    from flowui.server.services.access import AccessPolicy
    from flowui.workflows.limits import WorkspaceLimits

    shared = listens_beyond_loopback(host)
    oidc = single_sign_on(settings)
    if not settings.FLOWUI_PASSWORD_LOGIN and oidc is None:
        raise ConfigError(
            f"{settings.where('FLOWUI_PASSWORD_LOGIN')}: with passwords off nobody could sign in; "
            "set FLOWUI_OIDC_ISSUER (single sign-on) or FLOWUI_PASSWORD_LOGIN=true"
        )
    registration = settings.FLOWUI_ALLOW_REGISTRATION
    importers = settings.FLOWUI_REPOSITORY_IMPORTERS or (
        RepositoryImporters.PLATFORM_ADMINS if shared else RepositoryImporters.WORKSPACE_ADMINS
    )
    return {
        "allow_registration": not shared if registration is None else registration,
        # The settings' choices are the runtimes and the importers (a test keeps them the same).
        "default_runtime": cast(Runtime, settings.FLOWUI_DEFAULT_RUNTIME.value),
        "repository_importers": importers.value,
        "repository_sources": tuple(settings.FLOWUI_REPOSITORY_SOURCES),
        "sandbox": settings.sandbox_policy,
        "default_limits": WorkspaceLimits(
            task_cpus=settings.FLOWUI_TASK_MAX_CPUS,
            task_memory_mb=settings.FLOWUI_TASK_MAX_MEMORY_MB,
            task_gpus=settings.FLOWUI_TASK_MAX_GPUS,
            active_runs=settings.FLOWUI_WORKSPACE_MAX_ACTIVE_RUNS,
            runtimes=[runtime.value for runtime in settings.FLOWUI_WORKSPACE_RUNTIMES],
        ),
        "access": AccessPolicy(
            account_failures=settings.FLOWUI_SIGN_IN_MAX_FAILURES,
            address_failures=settings.FLOWUI_SIGN_IN_MAX_FAILURES_PER_ADDRESS,
            window=timedelta(minutes=settings.FLOWUI_SIGN_IN_WINDOW_MINUTES),
            token_max_days=settings.FLOWUI_ACCESS_TOKEN_MAX_DAYS,
            audit_retention_days=settings.FLOWUI_AUDIT_RETENTION_DAYS,
        ),
        "oidc": oidc,
        "password_login": settings.FLOWUI_PASSWORD_LOGIN,
        # The ECS task's environment names the platform's job definitions only (docs/aws.md).
        "batch_registered": (
            BatchRegistrations(settings) if settings.FLOWUI_DEPLOY_MODE is DeployMode.AWS else None
        ),
    }


def single_sign_on(settings: Settings) -> OidcProvider | None:
    """The OpenID Connect provider of FLOWUI_OIDC_*, or None when FLOWUI_OIDC_ISSUER is unset;
    ConfigError naming what is missing."""
    from flowui.server.models import Role
    from flowui.server.services.oidc import OidcProvider, RoleGrant

    issuer = settings.FLOWUI_OIDC_ISSUER
    if issuer is None:
        return None
    missing = [
        name
        for name in ("FLOWUI_OIDC_CLIENT_ID", "FLOWUI_OIDC_CLIENT_SECRET")
        if getattr(settings, name) is None
    ]
    if missing:
        raise ConfigError(
            f"{settings.where('FLOWUI_OIDC_ISSUER')}: single sign-on also needs "
            f"{' and '.join(missing)} (the secret from the environment only)"
        )
    assert settings.FLOWUI_OIDC_CLIENT_ID is not None
    assert settings.FLOWUI_OIDC_CLIENT_SECRET is not None
    return OidcProvider(
        issuer=issuer,
        client_id=settings.FLOWUI_OIDC_CLIENT_ID,
        client_secret=settings.FLOWUI_OIDC_CLIENT_SECRET.get_secret_value(),
        name=settings.FLOWUI_OIDC_PROVIDER_NAME,
        scopes=tuple(settings.FLOWUI_OIDC_SCOPES),
        groups_claim=settings.FLOWUI_OIDC_GROUPS_CLAIM,
        role_map=tuple(
            RoleGrant(group, workspace, Role(role))
            for group, workspace, role in settings.oidc_role_map
        ),
        public_url=settings.FLOWUI_PUBLIC_URL,
    )


@app.command()
def openapi(
    output: Path = typer.Option(
        Path("schemas/openapi.json"), "--output", "-o", help="Where to write the document."
    ),
) -> None:
    """Write the server's OpenAPI document (the GUI generates its API client from it).

    Example: [bold]flowui server openapi -o schemas/openapi.json[/]
    """
    from flowui.server.app import openapi_document
    from flowui.storage import write_text_atomically

    write_text_atomically(output, openapi_document())
    console.print(f"wrote {output}", highlight=False)
