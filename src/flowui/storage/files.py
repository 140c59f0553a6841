"""Writing files so a reader never sees half of one: write a temporary sibling, then rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomically(path: Path, text: str, *, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), mode)  # mkstemp makes files private (0600)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())  # the rename must not land before the data
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path: Path, data: Any, *, mode: int = 0o644) -> Path:
    """Deterministic JSON (sorted keys, fixed indent), written atomically."""
    text = json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    return write_text_atomically(path, text, mode=mode)


def read_environment_file(path: Path) -> dict[str, str]:
    """The variables of a JSON file of name: value text pairs; empty when there is none.

    Raises ValueError naming the file when it is not such a file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a JSON file of variables: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: not a JSON object of text values")
    return data
