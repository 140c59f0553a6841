"""The OpenAPI document: served at /api/docs and kept in the repository for the GUI's client."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from flowui.server.app import openapi_document

OPENAPI_FILE = Path(__file__).parents[1] / "schemas" / "openapi.json"


def test_the_exported_openapi_document_is_up_to_date() -> None:
    assert OPENAPI_FILE.read_text() == openapi_document(), (
        "schemas/openapi.json is stale: run `uv run flowui server openapi`"
    )


def test_the_docs_and_the_document_are_served(api: TestClient) -> None:
    docs = api.get("/api/docs")
    served = api.get("/api/openapi.json")

    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert served.json() == json.loads(OPENAPI_FILE.read_text())


def test_internal_routes_are_not_published() -> None:
    paths = json.loads(openapi_document())["paths"]
    assert not [path for path in paths if path.startswith("/api/internal")]
    assert "/api/workspaces/{workspace_id}/workflows/{workflow_id}/runs" in paths
