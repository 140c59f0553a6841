"""The FastAPI application of the platform server: its routers, error shape and OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI

from flowui import __version__
from flowui.server.context import ServerContext
from flowui.server.errors import ErrorResponse, install_error_handlers
from flowui.server.routers import auth, health, workspaces

# One line per resource.
ROUTERS = (
    health.router,
    auth.router,
    workspaces.router,
)
OPENAPI_FILE = Path(__file__).parents[3] / "schemas" / "openapi.json"


def create_app(context: ServerContext) -> FastAPI:
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
    app.state.context = context
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def openapi_document(app: FastAPI) -> str:
    """The OpenAPI document as the repository keeps it (the GUI's client is generated from it)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
