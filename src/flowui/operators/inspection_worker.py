"""Child process that imports operators' model files and reports their JSON Schemas.

Run as `python -m flowui.operators.inspection_worker`: one JSON job per stdin line
({"name", "directory", "model_file"}), one JSON result per stdout line, in order. Model code
only ever runs here, never in the process that asked.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flowui.operators.loading import import_operator_module

MODEL_CLASSES = {"input": "InputModel", "output": "OutputModel", "secrets": "SecretsModel"}
# The JSON Schema format that marks a string as a dataset id of the dataset store: the GUI
# offers the workspace's datasets for it (`Field(json_schema_extra={"format": ...})`).
DATASET_FORMAT = "flowui-dataset"


def _is_string_schema(schema: dict[str, Any]) -> bool:
    """A string, or pydantic's "string or null" (the format then sits beside anyOf)."""
    if schema.get("type") == "string":
        return True
    options = schema.get("anyOf")
    return isinstance(options, list) and any(
        isinstance(option, dict) and option.get("type") == "string" for option in options
    )


def misplaced_dataset_formats(schema: Any, where: str = "") -> list[str]:
    """Where in a JSON Schema the dataset format marks something other than a string."""
    found: list[str] = []
    if isinstance(schema, dict):
        if schema.get("format") == DATASET_FORMAT and not _is_string_schema(schema):
            found.append(where or "/")
        for key, value in schema.items():
            found += misplaced_dataset_formats(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += misplaced_dataset_formats(value, f"{where}/{index}")
    return found


def _line_in(error: BaseException, file_path: Path) -> tuple[str, int | None]:
    """The file and line where `error` arose: the deepest frame inside the operator's folder."""
    if isinstance(error, SyntaxError) and error.filename:
        return error.filename, error.lineno
    folder = str(file_path.parent.resolve())
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(folder):
            return frame.filename, frame.lineno
    return str(file_path), None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def inspect_models(directory: Path, model_file: Path) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    result: dict[str, Any] = {"schemas": {}, "secret_names": [], "problems": problems}
    try:
        module = import_operator_module(directory, model_file.stem)
    except BaseException as error:  # any failure of foreign code is a finding, not a crash
        file_name, line = _line_in(error, model_file)
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, ModuleNotFoundError):
            detail += (
                " (model files may import only pydantic and the standard library: the"
                " platform imports them without the operator's own dependencies)"
            )
        problems.append({"file": file_name, "line": line, "message": f"cannot import: {detail}"})
        return result

    for role, class_name in MODEL_CLASSES.items():
        model = getattr(module, class_name, None)
        if model is None:
            if role == "input":
                problems.append(
                    {"file": str(model_file), "line": None, "message": "no InputModel defined"}
                )
            result["schemas"][role] = None
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append(
                {
                    "file": str(model_file),
                    "line": None,
                    "message": f"{class_name} must be a class inheriting pydantic.BaseModel",
                }
            )
            continue
        try:
            schema = result["schemas"][role] = model.model_json_schema()
        except Exception as error:
            problems.append(
                {
                    "file": str(model_file),
                    "line": None,
                    "message": f"{class_name} cannot produce a JSON Schema: {_first_line(error)}",
                }
            )
        else:
            problems += [
                {
                    "file": str(model_file),
                    "line": None,
                    "message": f'{class_name} at {where}: format "{DATASET_FORMAT}" marks a'
                    " dataset id and belongs on a str field (for a list of datasets:"
                    " list[Annotated[str, Field(json_schema_extra={...})]])",
                }
                for where in misplaced_dataset_formats(schema)
            ]
        if role == "secrets":
            result["secret_names"] = sorted(model.model_fields)
    return result


def main() -> None:
    sys.dont_write_bytecode = True  # leave no __pycache__ in the repository being inspected
    # Model code may print; keep the protocol stream for our own lines only.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        job = json.loads(line)
        result = inspect_models(Path(job["directory"]), Path(job["model_file"]))
        result["name"] = job["name"]
        protocol.write(json.dumps(result, default=str) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
