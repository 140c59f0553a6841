"""Operators and task specs for the process runtime's tests (a new interpreter or a fork
server's fork, bare or sandboxed); the fork server's tests use them too, and a caller process
they start imports them by name (`tests.support.process_runtime`)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

from flowui.runtime.spec import TaskSpec

MODEL = """\
from pydantic import BaseModel


class InputModel(BaseModel):
    name: str = "Ada"
    lines: int = 0


class SecretsModel(BaseModel):
    API_TOKEN: str = ""
"""

IMPORTS = "import subprocess\nimport sys\nimport time\nfrom pathlib import Path\n"


def write_operator(repository: Path, name: str, body: str) -> Path:
    """An operators repository with one operator whose operator_function is `body`."""
    folder = repository / "operators" / name
    folder.mkdir(parents=True)
    (repository / "config.toml").write_text(
        '[repository]\nREPOSITORY_NAME = "t"\nVERSION = "0.1.0"\n'
    )
    (folder / "operator.py").write_text(
        f"{IMPORTS}\nfrom flowui.base_operator import BaseOperator\n\n"
        "from .model import *  # noqa: F403\n\n\n"
        f"class {name}(BaseOperator):\n"
        "    def operator_function(self, input_model):\n"
        + textwrap.indent(textwrap.dedent(body), " " * 8)
    )
    (folder / "model.py").write_text(MODEL)
    (folder / "metadata.json").write_text(json.dumps({"name": name, "dependency": {}}))
    return repository


def spec_for(
    repository: Path,
    name: str,
    root: Path,
    inputs: dict[str, Any] | None = None,
    task_id: str = "task_1",
) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "operator": {"repository_path": str(repository), "name": name},
            "inputs": inputs or {},
            "context": {"dag_id": "dag_1", "run_id": "run_1", "task_id": task_id},
            "root": str(root),
        }
    )


def child_environ(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "API_TOKEN"}, **extra}


# The child carries the pid file's path as an argument: the tests find it by that, as the host
# sees it, whether the task runs in a sandbox (whose pids are its own) or not.
SLEEPER_BODY = """\
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {pid_file!r}])
Path({pid_file!r}).write_text(str(child.pid))
time.sleep(60)
return {{}}
"""
