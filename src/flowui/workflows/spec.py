"""The workflow document, the source of truth of a workflow (docs/architecture.md).

A workflow is data: tasks naming operators, each input a literal value, a binding to an upstream
task's output or a run parameter, plus schedule, dates, parameters and per-task runtime settings.
This module checks its shape; `workflows.validate` checks it against the operators' schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from flowui.operators.metadata import ContainerResources

SCHEMA_VERSION: Final = 1
TASK_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,99}$"
# Where a task runs; the same names in the document, the API, the settings and the GUI.
Runtime = Literal["process", "docker", "kubernetes", "aws_batch"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)
SCHEDULE_PRESETS = ("hourly", "daily", "weekly", "monthly", "yearly")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OperatorReference(_Strict):
    """Which operator a task runs: its repository (REPOSITORY_NAME), name and version."""

    repository: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=128)


class LiteralInput(_Strict):
    value: Any = Field(description="A literal value, valid against the input's schema.")


class BindingInput(_Strict):
    from_task: str = Field(alias="from", description="The upstream task's id.")
    output: str = Field(description="A field of the upstream task's output.")


class ParameterInput(_Strict):
    param: str = Field(description="The name of a run parameter.")


InputSource = LiteralInput | BindingInput | ParameterInput


class WorkflowTask(_Strict):
    id: str = Field(pattern=TASK_ID_PATTERN, description="Unique in the workflow.")
    operator: OperatorReference
    inputs: dict[str, InputSource] = Field(default_factory=dict)
    depends_on: list[str] = Field(
        default_factory=list, description="Upstream tasks beyond those its bindings imply."
    )
    runtime: Runtime | None = Field(
        default=None,
        description="Where the task runs; none: the workspace's default runtime (else the "
        "platform's FLOWUI_DEFAULT_RUNTIME, else process).",
    )
    retries: int = Field(default=0, ge=0, le=20)
    retry_delay_seconds: int = Field(default=60, ge=0, le=86_400)
    execution_timeout_seconds: int | None = Field(default=None, ge=1, le=7 * 86_400)
    resources: ContainerResources | None = Field(
        default=None, description="Overrides the operator's container_resources."
    )
    ui: dict[str, Any] = Field(
        default_factory=dict, description="Editor state (node position...); not used to run."
    )


class NoSchedule(_Strict):
    type: Literal["none"] = "none"


class CronSchedule(_Strict):
    type: Literal["cron"]
    expression: str = Field(min_length=1, max_length=200, examples=["*/15 * * * *"])


class PresetSchedule(_Strict):
    type: Literal["preset"]
    preset: Literal["hourly", "daily", "weekly", "monthly", "yearly"]


class OnceSchedule(_Strict):
    type: Literal["once"]
    at: datetime = Field(description="When the single run happens (timezone-aware).")


Schedule = Annotated[
    NoSchedule | CronSchedule | PresetSchedule | OnceSchedule, Field(discriminator="type")
]


def _empty_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


class Workflow(_Strict):
    """A workflow document."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="FlowUI workflow")

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    schedule: Schedule = Field(default_factory=NoSchedule)
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool = False
    max_active_runs: int = Field(default=1, ge=1, le=100)
    parameters: dict[str, Any] = Field(
        default_factory=_empty_parameters,
        description="JSON Schema (type object) of the run parameters, with their defaults.",
    )
    tasks: list[WorkflowTask] = Field(min_length=1)


def workflow_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the workflow document."""
    schema = Workflow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
