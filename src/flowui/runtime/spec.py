"""The TaskSpec: everything `flowui-task` needs to run one task (docs/architecture.md).

It never carries secret values: those reach the task through its runtime's own mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowui.base_operator import RunContext
from flowui.storage import TaskRunPaths, run_directory_name, validate_id


class OperatorReference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository_path: Path = Field(description="A checkout of the operators repository.")
    name: str

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return validate_id(value, "operator name")


class Binding(BaseModel):
    """An input taken from an output field of an upstream task of the same run."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    output: str = Field(min_length=1, description="A field of the upstream task's output.")

    @field_validator("task_id")
    @classmethod
    def _safe_task_id(cls, value: str) -> str:
        return validate_id(value, "upstream task id")


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec_version: Literal[1] = 1
    operator: OperatorReference
    inputs: dict[str, Any] = Field(default_factory=dict, description="Literal input values.")
    bindings: dict[str, Binding] = Field(
        default_factory=dict, description="Inputs taken from upstream outputs, by input name."
    )
    context: RunContext
    root: Path = Field(description="The file-system root shared by every task.")
    timeout_seconds: float | None = Field(default=None, gt=0)
    try_number: int = Field(default=1, ge=1, description="Which try of the task this is.")

    @model_validator(mode="after")
    def _ids_are_path_safe(self) -> TaskSpec:
        # They become directories of the run: reject them here, before anything is written.
        validate_id(self.context.dag_id, "dag id")
        run_directory_name(self.context.run_id)
        validate_id(self.context.task_id, "task id")
        both = sorted(self.inputs.keys() & self.bindings.keys())
        if both:
            raise ValueError(
                f"input {', '.join(both)} has both a literal value and a binding: give one"
            )
        for name, binding in self.bindings.items():
            if binding.task_id == self.context.task_id:
                raise ValueError(f"input {name} is bound to an output of its own task")
        return self


@dataclass
class TaskOutcome:
    """What became of a task: `flowui-task` prints it as JSON, the last line on stdout."""

    status: Literal["success", "failed"]
    paths: TaskRunPaths
    output: dict[str, Any] | None = None
    error: str | None = None
    display_result: dict[str, str] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "log": str(self.paths.log),
            "results": str(self.paths.results),
            "output_file": str(self.paths.output),
            "display_result": self.display_result,
        }
