"""The file-system root: the one place that knows every path FlowUI reads or writes."""

from flowui.storage.files import write_json_atomically, write_text_atomically
from flowui.storage.paths import FileSystemRoot, InvalidIdError, TaskRunPaths, validate_id

__all__ = [
    "FileSystemRoot",
    "InvalidIdError",
    "TaskRunPaths",
    "validate_id",
    "write_json_atomically",
    "write_text_atomically",
]
