"""The workflows API's tests' set-up: the "demo" test repository installed and recorded in a
workspace (a "lab"), and workflow documents built from tasks; shared by the workflows API's tests
and the security tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpx import Response

from flowui.operators.install import install_repository
from flowui.operators.organize import COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE, FLOWUI_DIR
from flowui.server.context import ServerContext
from flowui.server.models import Operator, Repository, RepositoryVersion
from tests.support.operator_repositories import MODEL, make_repository, metadata, write_operator
from tests.support.server_api import ApiUser

NEVER_BUILT_IMAGE = "localhost/flowui-tests/never-built:1"
# HelloOperator with its `name` input required.
REQUIRED_NAME_MODEL = MODEL.replace('default="world", ', "")


def import_repository(
    context: ServerContext,
    workspace_id: int,
    source: Path,
    name: str = "demo",
    image: str = NEVER_BUILT_IMAGE,
    models: dict[str, str] | None = None,
) -> None:
    """Install a test repository (HelloOperator; GreetOperator whose `name` is required;
    ImagedOperator, whose group is `image`, by default one never built; and an operator of
    each of `models`, operator name -> model.py) into the root and record it in the workspace
    as the repositories API would."""
    make_repository(source)
    (source / "config.toml").write_text(
        f'[repository]\nREPOSITORY_NAME = "{name}"\nVERSION = "0.1.0"\n'
    )
    write_operator(
        source, "GreetOperator", model=REQUIRED_NAME_MODEL, meta=metadata("GreetOperator")
    )
    write_operator(
        source,
        "ImagedOperator",
        meta=metadata("ImagedOperator", dependency={"docker_image": image}),
    )
    for operator, model in (models or {}).items():
        write_operator(source, operator, model=model, meta=metadata(operator))
    installed = install_repository(source, context.root)
    compiled = json.loads((installed / FLOWUI_DIR / COMPILED_METADATA_FILE).read_text())
    groups = json.loads((installed / FLOWUI_DIR / DEPENDENCIES_MAP_FILE).read_text())
    version = RepositoryVersion(
        checkout_id=installed.name,
        version="0.1.0",
        compiled_metadata=compiled,
        dependencies_map=groups,
    )
    version.operators = [
        Operator(
            workspace_id=workspace_id,
            name=operator_name,
            description=entry["description"],
            tags=entry["tags"],
            entry=entry,
        )
        for operator_name, entry in compiled.items()
    ]
    repository = Repository(
        workspace_id=workspace_id, name=name, source=str(source), current_version="0.1.0"
    )
    repository.versions.append(version)
    with context.sessions() as session:
        session.add(repository)
        session.commit()


def task(
    task_id: str = "hello",
    operator: str = "HelloOperator",
    repository: str = "demo",
    **inputs: Any,
) -> dict[str, Any]:
    return {
        "id": task_id,
        "operator": {"repository": repository, "name": operator, "version": "0.1.0"},
        "inputs": inputs,
    }


def document(name: str = "greetings", *tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "tasks": list(tasks) or [task(name={"value": "ada"})], **fields}


def problems_of(response: Response) -> dict[str, str]:
    """The error's details: where -> message."""
    return {detail["where"]: detail["message"] for detail in response.json()["error"]["details"]}


@dataclass(frozen=True)
class Lab:
    """A workspace with the demo repository imported, and its owner."""

    owner: ApiUser
    id: int
    context: ServerContext

    @property
    def url(self) -> str:
        return f"/api/workspaces/{self.id}/workflows"

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        created = self.owner.post(self.url, json={"document": doc})
        assert created.status_code == 201, created.text
        return created.json()  # type: ignore[no-any-return]
