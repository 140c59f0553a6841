"""The file-system root: the one place that knows every path FlowUI reads or writes."""

from flowui.storage.files import (
    read_environment_file,
    write_json_atomically,
    write_text_atomically,
)
from flowui.storage.paths import (
    FileSystemRoot,
    InvalidIdError,
    TaskRunPaths,
    run_directory_name,
    validate_id,
    validate_workspace_id,
    workspace_bucket,
)

__all__ = [
    "FileSystemRoot",
    "InvalidIdError",
    "TaskRunPaths",
    "read_environment_file",
    "run_directory_name",
    "validate_id",
    "validate_workspace_id",
    "workspace_bucket",
    "write_json_atomically",
    "write_text_atomically",
]
