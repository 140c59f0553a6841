"""The TaskSpec (DESIGN.md, Contract 4): everything `flowui-task` needs to run one task.

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


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec_version: Literal[1] = 1
    operator: OperatorReference
    inputs: dict[str, Any] = Field(default_factory=dict, description="Literal input values.")
    context: RunContext
    root: Path = Field(description="The file-system root shared by every task.")
    timeout_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ids_are_path_safe(self) -> TaskSpec:
        # They become directories of the run: reject them here, before anything is written.
        validate_id(self.context.dag_id, "dag id")
        run_directory_name(self.context.run_id)
        validate_id(self.context.task_id, "task id")
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
