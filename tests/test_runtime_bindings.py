"""Bindings: a task's input taken from an upstream task's output.json in the same run.

Tasks run in-process with `run_task`, each operator from its own folder under tmp_path; one
test goes through the process runtime, where the spec crosses a process boundary as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowui.runtime.process import run_task_process
from flowui.runtime.spec import TaskOutcome, TaskSpec
from flowui.runtime.task import run_task
from flowui.storage import run_directory_name

AIRFLOW_RUN_ID = "manual__2026-11-24T10:00:00+00:00"

SPLIT_MODEL = """\
from pydantic import BaseModel


class InputModel(BaseModel):
    rows: int
    fail: bool = False


class OutputModel(BaseModel):
    train_path: str
    test_rows: int
"""

SPLIT_BODY = """\
if input_model.fail:
    raise RuntimeError("split failed on purpose")
train = self.results_path / "train.csv"
train.write_text("\\n".join(str(i) for i in range(input_model.rows)))
return OutputModel(train_path=str(train), test_rows=input_model.rows // 4)
"""

TRAIN_MODEL = """\
from pathlib import Path

from pydantic import BaseModel


class InputModel(BaseModel):
    train_path: Path
    test_rows: float
    label: str = "model"
"""

TRAIN_BODY = """\
return {
    "path_type": type(input_model.train_path).__name__,
    "is_path": isinstance(input_model.train_path, Path),
    "lines": len(input_model.train_path.read_text().splitlines()),
    "test_rows": input_model.test_rows,
    "label": input_model.label,
}
"""


# --- helpers (the shape of tests/test_runtime.py's) ------------------------------------------


def write_operator(repository: Path, name: str, *, body: str, model: str) -> Path:
    """Add one operator to an operators repository (created if needed); return the repository."""
    repository.mkdir(parents=True, exist_ok=True)
    config = repository / "config.toml"
    if not config.exists():
        config.write_text('[repository]\nREPOSITORY_NAME = "t"\nVERSION = "0.1.0"\n')
    folder = repository / "operators" / name
    folder.mkdir(parents=True)
    (folder / "operator.py").write_text(
        "from pathlib import Path\n\n"
        "from flowui.base_operator import BaseOperator\n\n"
        "from .model import *  # noqa: F403\n\n\n"
        f"class {name}(BaseOperator):\n"
        "    def operator_function(self, input_model):\n"
        + textwrap.indent(textwrap.dedent(body), " " * 8)
    )
    (folder / "model.py").write_text(model)
    metadata = {"name": name, "description": f"{name} for tests", "dependency": {}}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return repository


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repository = write_operator(tmp_path / "repo", "Split", body=SPLIT_BODY, model=SPLIT_MODEL)
    return write_operator(repository, "Train", body=TRAIN_BODY, model=TRAIN_MODEL)


def task_spec(
    repository: Path,
    name: str,
    root: Path,
    task_id: str,
    *,
    inputs: dict[str, Any] | None = None,
    bindings: dict[str, Any] | None = None,
    run_id: str = "run_1",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "operator": {"repository_path": str(repository), "name": name},
        "inputs": inputs or {},
        "bindings": bindings or {},
        "context": {"dag_id": "dag_1", "run_id": run_id, "task_id": task_id},
        "root": str(root),
        **extra,
    }


def run(*args: Any, **kwargs: Any) -> TaskOutcome:
    return run_task(TaskSpec.model_validate(task_spec(*args, **kwargs)), environ={})


TRAIN_BINDINGS = {
    "train_path": {"task_id": "split", "output": "train_path"},
    "test_rows": {"task_id": "split", "output": "test_rows"},
}


# --- resolution --------------------------------------------------------------------------------


def test_bound_values_arrive_typed_by_the_input_model(repository: Path, tmp_path: Path):
    root = tmp_path / "root"
    split = run(repository, "Split", root, "split", inputs={"rows": 8})
    assert split.succeeded, split.error

    train = run(
        repository,
        "Train",
        root,
        "train",
        inputs={"label": "rf"},
        bindings=TRAIN_BINDINGS,
    )

    assert train.succeeded, train.error
    assert train.output == {
        "path_type": "PosixPath",  # the upstream str became the InputModel's Path
        "is_path": True,
        "lines": 8,
        "test_rows": 2.0,  # the upstream int became the InputModel's float
        "label": "rf",  # literal inputs and bindings are merged
    }
    log = train.paths.log.read_text()
    assert "input train_path <- split.train_path" in log


def test_missing_upstream_output_says_the_upstream_task_did_not_finish(
    repository: Path, tmp_path: Path
):
    root = tmp_path / "root"

    train = run(repository, "Train", root, "train", bindings=TRAIN_BINDINGS)

    assert train.status == "failed"
    expected_file = root / "runs" / "dag_1" / "run_1" / "split" / "output.json"
    assert train.error == (
        f"upstream task split has no output yet ({expected_file} does not exist): did it succeed?"
    )
    assert f"task failed: {train.error}" in train.paths.log.read_text()


def test_missing_upstream_field_lists_the_fields_it_has(repository: Path, tmp_path: Path):
    root = tmp_path / "root"
    run(repository, "Split", root, "split", inputs={"rows": 4})

    train = run(
        repository,
        "Train",
        root,
        "train",
        bindings={**TRAIN_BINDINGS, "train_path": {"task_id": "split", "output": "train_pth"}},
    )

    assert train.status == "failed"
    assert train.error == (
        "upstream task split has no output train_pth; it has: test_rows, train_path"
    )


def test_a_failed_retry_of_the_upstream_task_leaves_no_stale_output(
    repository: Path, tmp_path: Path
):
    root = tmp_path / "root"
    first = run(repository, "Split", root, "split", inputs={"rows": 4})
    second = run(repository, "Split", root, "split", inputs={"rows": 4, "fail": True})
    assert (first.status, second.status) == ("success", "failed")

    train = run(repository, "Train", root, "train", bindings=TRAIN_BINDINGS)

    assert train.status == "failed"
    assert train.error is not None
    assert train.error.startswith("upstream task split has no output yet")


def test_airflow_run_ids_find_the_same_run_directory(repository: Path, tmp_path: Path):
    root = tmp_path / "root"
    split = run(repository, "Split", root, "split", inputs={"rows": 3}, run_id=AIRFLOW_RUN_ID)

    train = run(repository, "Train", root, "train", bindings=TRAIN_BINDINGS, run_id=AIRFLOW_RUN_ID)

    assert train.succeeded, train.error
    assert train.output is not None and train.output["lines"] == 3
    run_directory = root / "runs" / "dag_1" / run_directory_name(AIRFLOW_RUN_ID)
    assert split.paths.directory.parent == train.paths.directory.parent == run_directory
    assert ":" not in run_directory.name and "+" not in run_directory.name


def test_bindings_cross_the_process_boundary(repository: Path, tmp_path: Path):
    root = tmp_path / "root"
    environ = dict(os.environ)

    def run_in_child(name: str, task_id: str, **spec: Any) -> TaskOutcome:
        task = TaskSpec.model_validate(
            task_spec(repository, name, root, task_id, run_id=AIRFLOW_RUN_ID, **spec)
        )
        return run_task_process(task, python=sys.executable, environ=environ, timeout=60)

    assert run_in_child("Split", "split", inputs={"rows": 5}).succeeded
    train = run_in_child("Train", "train", bindings=TRAIN_BINDINGS)

    assert train.succeeded, train.error
    assert train.output is not None and train.output["lines"] == 5


# --- the TaskSpec ------------------------------------------------------------------------------


def test_an_input_given_both_a_literal_and_a_binding_is_a_task_spec_error(
    repository: Path, tmp_path: Path
):
    spec = task_spec(
        repository,
        "Train",
        tmp_path / "root",
        "train",
        inputs={"test_rows": 3},
        bindings=TRAIN_BINDINGS,
    )

    with pytest.raises(ValidationError, match="input test_rows has both a literal value and a"):
        TaskSpec.model_validate(spec)
    assert not (tmp_path / "root").exists()


def test_a_binding_to_the_task_itself_is_a_task_spec_error(repository: Path, tmp_path: Path):
    spec = task_spec(
        repository,
        "Train",
        tmp_path / "root",
        "split",
        bindings=TRAIN_BINDINGS,
    )

    with pytest.raises(ValidationError, match="bound to an output of its own task"):
        TaskSpec.model_validate(spec)


def test_a_binding_to_an_unsafe_task_id_is_a_task_spec_error(repository: Path, tmp_path: Path):
    spec = task_spec(
        repository,
        "Train",
        tmp_path / "root",
        "train",
        bindings={"train_path": {"task_id": "../other_dag", "output": "train_path"}},
    )

    with pytest.raises(ValidationError, match="upstream task id"):
        TaskSpec.model_validate(spec)


# --- tries -------------------------------------------------------------------------------------


def test_each_try_has_its_number_in_its_log_header(repository: Path, tmp_path: Path):
    root = tmp_path / "root"

    first = run(repository, "Split", root, "split", inputs={"rows": 2, "fail": True})
    run(repository, "Split", root, "split", inputs={"rows": 2}, try_number=2)

    headers = [line for line in first.paths.log.read_text().splitlines() if "=====" in line]
    assert len(headers) == 2
    assert headers[0].endswith("task split of run run_1, operator Split, try 1")
    assert headers[1].endswith("task split of run run_1, operator Split, try 2")


def test_try_number_must_be_positive(repository: Path, tmp_path: Path):
    spec = task_spec(repository, "Split", tmp_path / "root", "split", try_number=0)

    with pytest.raises(ValidationError, match="try_number"):
        TaskSpec.model_validate(spec)
