"""The FastAPI application of the platform server: its routers, error shape and OpenAPI."""

from __future__ import annotations

import json

from fastapi import FastAPI

from flowui import __version__
from flowui.server.context import ServerContext
from flowui.server.errors import ErrorResponse, install_error_handlers
from flowui.server.routers import (
    auth,
    datasets,
    health,
    operators,
    repositories,
    runs,
    secrets,
    workflows,
    workspaces,
)

# One line per resource.
ROUTERS = (
    health.router,
    auth.router,
    workspaces.router,
    repositories.router,
    operators.router,
    secrets.router,
    datasets.router,
    workflows.router,
    runs.router,
)


def _application() -> FastAPI:
    app = FastAPI(
        title="FlowUI",
        version=__version__,
        description="Operators, workflows and their runs on Apache Airflow.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            403: {"model": ErrorResponse},
            404: {"model": ErrorResponse},
            409: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
        },
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def create_app(context: ServerContext) -> FastAPI:
    app = _application()
    app.state.context = context
    return app


def openapi_document() -> str:
    """The OpenAPI document as the repository keeps it (the GUI's client is generated from it)."""
    return json.dumps(_application().openapi(), indent=2, sort_keys=True) + "\n"
