"""The FastAPI application of the platform server: its routers, error shape and OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowui import __version__
from flowui.server.context import ServerContext
from flowui.server.errors import error_responses, http_error, install_error_handlers
from flowui.server.housekeeping import housekeeping_while_serving
from flowui.server.routers import (
    audit,
    auth,
    datasets,
    health,
    oidc,
    operators,
    repositories,
    runs,
    secrets,
    users,
    workflows,
    workspaces,
)

# One line per resource.
ROUTERS = (
    health.router,
    auth.router,
    oidc.router,
    users.router,
    workspaces.router,
    repositories.router,
    operators.router,
    secrets.router,
    datasets.router,
    workflows.router,
    runs.router,
    audit.router,
)


def _application() -> FastAPI:
    app = FastAPI(
        title="FlowUI",
        version=__version__,
        description="Operators, workflows and their runs on Apache Airflow.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Every operation's; each router adds those only its operations answer.
        responses=error_responses(400, 401, 403, 404, 409, 422),
        lifespan=housekeeping_while_serving,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


# The web GUI, built by `make gui` (frontend/ -> here); absent in a tree never built.
GUI_DIRECTORY = Path(__file__).parent / "static"


def _serve_gui(app: FastAPI, directory: Path) -> None:
    """The GUI at "/": its assets, and index.html for every other GET of a path that is not the
    API (the GUI routes in the browser). It answers what no route found, rather than being a
    route for every path, which would hide the API's 405s (a GET of a POST-only route)."""
    index = directory / "index.html"
    app.mount("/assets", StaticFiles(directory=directory / "assets"), name="assets")

    async def gui_or_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        path = request.url.path
        if (
            error.status_code == 404
            and request.method in ("GET", "HEAD")
            and path != "/api"
            and not path.startswith("/api/")
        ):
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return await http_error(request, error)

    app.add_exception_handler(StarletteHTTPException, gui_or_error)


# What "/" answers in an installation whose GUI was never built: the address `flowui up`
# prints first must tell a new user what to do, not answer 404.
GUI_NOT_BUILT = """<!doctype html>
<html><head><title>FlowUI</title></head><body>
<h1>FlowUI's web GUI is not built in this installation</h1>
<p>Build it from the FlowUI checkout with <code>make gui</code> (or start the platform with
<code>make up</code>, which builds it), then reload this page.
The REST API is served at <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


def create_app(context: ServerContext, gui: Path | None = GUI_DIRECTORY) -> FastAPI:
    app = _application()
    app.state.context = context
    if gui is not None and (gui / "index.html").is_file():
        _serve_gui(app, gui)
    else:

        @app.get("/", include_in_schema=False)
        def gui_not_built() -> HTMLResponse:
            return HTMLResponse(GUI_NOT_BUILT, status_code=503)

    return app


def openapi_document() -> str:
    """The OpenAPI document as the repository keeps it (the GUI's client is generated from it)."""
    return json.dumps(_application().openapi(), indent=2, sort_keys=True) + "\n"
