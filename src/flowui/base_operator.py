"""The public SDK of FlowUI operators: `from flowui.base_operator import BaseOperator`.

An operator is a class named like its folder that inherits `BaseOperator` and implements
`operator_function(self, input_model)`. The runtime builds the instance, so operators never
define `__init__`; everything a task may need is an attribute of `self`.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowui.storage import FileSystemRoot
from flowui.storage.datasets import DatasetStore

DisplayFileType = Literal["html", "png", "jpeg", "svg", "csv", "json", "md", "txt", "pdf"]
DISPLAY_FILE_TYPES: tuple[str, ...] = DisplayFileType.__args__  # type: ignore[attr-defined]
_EXTENSION_ALIASES = {"jpg": "jpeg", "htm": "html", "markdown": "md", "text": "txt", "log": "txt"}


class RunContext(BaseModel):
    """Which run a task belongs to; `params` are the run's parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dag_id: str
    run_id: str
    task_id: str
    logical_date: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class DisplayResult(BaseModel):
    """What the GUI shows for a task: a file in its results directory or inline content.

    `base64_content` is the name the original FlowUI layout used for inline content; binary
    types (png, jpeg, pdf) must be given base64-encoded there.
    """

    model_config = ConfigDict(extra="forbid")

    file_type: DisplayFileType | None = None
    file_path: str | None = None
    content: str | None = None
    base64_content: str | None = None

    @model_validator(mode="after")
    def _one_source_and_a_type(self) -> DisplayResult:
        sources = [s for s in (self.file_path, self.content, self.base64_content) if s is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of file_path, content or base64_content")
        if self.file_type is None:
            if self.file_path is None:
                raise ValueError(
                    f"file_type is required for inline content (one of {DISPLAY_FILE_TYPES})"
                )
            self.file_type = display_type_of(self.file_path)
        if self.content is not None and self.file_type in ("png", "jpeg", "pdf"):
            raise ValueError(f"{self.file_type} content must be given as base64_content")
        return self


def display_type_of(file_path: str | Path) -> DisplayFileType:
    """The display type of a file, from its extension."""
    extension = Path(file_path).suffix.lower().lstrip(".")
    extension = _EXTENSION_ALIASES.get(extension, extension)
    if extension not in DISPLAY_FILE_TYPES:
        guess = mimetypes.guess_type(str(file_path))[0] or "unknown"
        raise ValueError(
            f"cannot display {Path(file_path).name!r} ({guess}); "
            f"supported types are {', '.join(DISPLAY_FILE_TYPES)}"
        )
    return extension  # type: ignore[return-value]


class BaseOperator:
    """Base class of every FlowUI operator.

    Attributes available inside `operator_function`:
    - `logger`: a logger whose records go to the task's log (secret values are masked);
    - `secrets`: the validated `SecretsModel` of the operator, or None if it declares none;
    - `results_path`: this task's own results directory (created before the call);
    - `context` and its shortcuts `dag_id`, `run_id`, `task_id`, `logical_date`, `params`;
    - `run_path`: the run's directory, with one directory per task of the run;
    - `datasets`: the versioned dataset store of the file-system root;
    - `display_result`: set it (or call `set_display_result`) to show a result in the GUI.
    """

    def __init__(
        self,
        *,
        context: RunContext,
        results_path: Path,
        root: FileSystemRoot,
        secrets: BaseModel | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.context = context
        self.results_path = Path(results_path)
        self.root = root
        self.secrets = secrets
        self.logger = logger or logging.getLogger(f"flowui.operator.{type(self).__name__}")
        self.display_result: DisplayResult | dict[str, Any] | None = None

    @property
    def dag_id(self) -> str:
        return self.context.dag_id

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def task_id(self) -> str:
        return self.context.task_id

    @property
    def logical_date(self) -> datetime | None:
        return self.context.logical_date

    @property
    def params(self) -> dict[str, Any]:
        return self.context.params

    @property
    def run_path(self) -> Path:
        """This run's directory, which holds one directory per task of the run.

        The original FlowUI layout's name for it; a task's own files are in `results_path`.
        """
        return self.root.task_run(self.dag_id, self.run_id, self.task_id).directory.parent

    def dataset_path(self, dataset_id: str) -> Path:
        """The directory of a dataset in the shared dataset store (validated id)."""
        return self.root.dataset(dataset_id)

    @property
    def datasets(self) -> DatasetStore:
        """The versioned dataset store: `get(id, "latest")`, `publish(id, file, meta)`."""
        return DatasetStore(self.root)

    def set_display_result(
        self,
        *,
        file_path: str | Path | None = None,
        content: str | None = None,
        base64_content: str | None = None,
        file_type: DisplayFileType | None = None,
    ) -> DisplayResult:
        """Declare what the GUI shows for this task: a file, or inline content of `file_type`."""
        self.display_result = DisplayResult(
            file_type=file_type,
            file_path=str(file_path) if file_path is not None else None,
            content=content,
            base64_content=base64_content,
        )
        return self.display_result

    def operator_function(self, input_model: Any) -> Any:
        """Do the operator's work; return an `OutputModel` instance or a dict valid against it."""
        raise NotImplementedError(f"{type(self).__name__} must implement operator_function")
