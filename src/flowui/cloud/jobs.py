"""The job definition of an operator version as `flowui aws apply` registered it, found in AWS
Batch by its name and version tag, where the environment names none: the platform's ECS task
(deploy mode aws) is defined before the workspaces' stacks exist, so its environment names the
platform's job definitions only, and a workspace's are found here, at deploy and at run time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowui.cloud.templates import VERSION_TAG, job_definition_name, prefix
from flowui.config import Settings


def registered_job_definition(
    batch: Any,
    settings: Settings,
    repository: str,
    operator: str,
    version: str,
    workspace_id: int | None = None,
) -> tuple[str, str] | None:
    """(ARN with revision, queue) of the operator version (in the workspace): the newest ACTIVE
    revision of its job definition's name tagged with that version, on the project's queue of
    its kind (GPU or not). None when there is none."""
    name = job_definition_name(settings, repository, operator, workspace_id)
    found = [
        definition
        for page in batch.get_paginator("describe_job_definitions").paginate(
            jobDefinitionName=name, status="ACTIVE"
        )
        for definition in page["jobDefinitions"]
        if (definition.get("tags") or {}).get(VERSION_TAG) == version
    ]
    if not found:
        return None
    newest = max(found, key=lambda definition: int(definition["revision"]))
    requirements = (newest.get("containerProperties") or {}).get("resourceRequirements", [])
    kind = "gpu" if any(each.get("type") == "GPU" for each in requirements) else "cpu"
    return str(newest["jobDefinitionArn"]), f"{prefix(settings)}-{kind}"


@dataclass(frozen=True)
class BatchRegistrations:
    """Whether an operator version's job definition is registered (the deploy check of deploy
    mode aws, `workflows.runtimes.runtime_problems`): True, False, or why AWS could not say."""

    settings: Settings

    def __call__(
        self, repository: str, operator: str, version: str, workspace_id: int | None
    ) -> bool | str:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            batch = boto3.client("batch", region_name=self.settings.AWS_REGION_NAME)
            found = registered_job_definition(
                batch, self.settings, repository, operator, version, workspace_id
            )
        except (BotoCoreError, ClientError) as error:
            return f"AWS Batch could not be asked for its job definition: {error}"
        return found is not None
