"""The OpenAPI document: served at /api/docs and kept in the repository for the GUI's client."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from flowui.server.app import openapi_document
from flowui.server.deps import MAX_ID
from tests.support.paths import ROOT

OPENAPI_FILE = ROOT / "schemas" / "openapi.json"


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


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    paths = json.loads(openapi_document())["paths"]
    return [
        (method, path, operation)
        for path, item in paths.items()
        for method, operation in item.items()
    ]


def test_every_id_in_a_path_is_bounded_by_what_the_databases_hold() -> None:
    unbounded = [
        f"{method.upper()} {path} {parameter['name']}"
        for method, path, operation in _operations()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
        and parameter["schema"].get("type") == "integer"
        and not (
            parameter["schema"].get("minimum") == 1 and parameter["schema"].get("maximum") == MAX_ID
        )
    ]
    assert unbounded == []


def test_every_operation_declares_its_errors_with_the_error_body() -> None:
    error_body = {"$ref": "#/components/schemas/ErrorResponse"}
    missing = []
    for method, path, operation in _operations():
        responses = operation["responses"]
        statuses = {"401", "403", "404", "422"} | ({"502", "503"} if "/runs" in path else set())
        for status in sorted(statuses):
            schema = responses.get(status, {}).get("content", {}).get("application/json", {})
            if schema.get("schema") != error_body:
                missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
