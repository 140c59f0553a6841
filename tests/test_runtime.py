"""The task runtime `flowui-task` (Contract 4) and the dry run built on it.

Most tests call `run_task` in-process (fast; the operator is imported into the test process,
from a folder of its own under tmp_path). A few start the real console script or a dry-run
child, where what matters is the process boundary: exit code, last stdout line, stderr, kill.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from flowui.operators.dry_run import dry_run
from flowui.operators.loading import package_name_for
from flowui.runtime.spec import TaskSpec
from flowui.runtime.task import TaskOutcome, run_task
from tests.support.operator_repositories import make_original_layout_repository
from tests.support.processes import wait_until_gone

FLOWUI_TASK = Path(sys.executable).parent / "flowui-task"
SECRET = "tok-5ecr3t-VALUE-91f2"

GREETER_MODEL = """\
from typing import Literal

from pydantic import BaseModel, Field


class InputModel(BaseModel):
    name: str = Field(description="Who to greet.")
    count: int = Field(default=1, ge=1, le=5)
    tone: Literal["plain", "loud"] = "plain"


class OutputModel(BaseModel):
    message: str
    length: int
    language: str = "en"
"""

GREETER_BODY = """\
self.logger.info("greeting %s %d time(s)", input_model.name, input_model.count)
message = " ".join(["hello " + input_model.name] * input_model.count)
if input_model.tone == "loud":
    message = message.upper()
return OutputModel(message=message, length=len(message))
"""

SECRET_MODEL = """\
from pydantic import BaseModel


class InputModel(BaseModel):
    mode: str = "log"


class OutputModel(BaseModel):
    echoed: str = ""


class SecretsModel(BaseModel):
    API_TOKEN: str
"""

# Leaks the secret in the way `input_model.mode` names, so one operator covers every channel.
SECRET_BODY = """\
token = self.secrets.API_TOKEN
if input_model.mode == "log":
    self.logger.info("calling the API with token %s", token)
elif input_model.mode == "print":
    print("the token is", token)
    print("on stderr too:", token, file=sys.stderr)
elif input_model.mode == "raise":
    raise ValueError(f"the API refused token {token}")
elif input_model.mode == "return":
    return OutputModel(echoed="Bearer " + token)
return OutputModel()
"""


# --- helpers ---------------------------------------------------------------------------------


def write_operator(
    repository: Path,
    name: str,
    *,
    body: str | None = None,
    operator: str | None = None,
    model: str = GREETER_MODEL,
    model_file: str = "model.py",
    imports: str = "",
) -> Path:
    """Create (or extend) an operators repository with one operator; return the repository.

    Give either `body` (the body of operator_function; `from .model import *` is in scope) or
    the whole `operator` source.
    """
    repository.mkdir(parents=True, exist_ok=True)
    config = repository / "config.toml"
    if not config.exists():
        config.write_text('[repository]\nREPOSITORY_NAME = "t"\nVERSION = "0.1.0"\n')
    folder = repository / "operators" / name
    folder.mkdir(parents=True)
    if operator is None:
        assert body is not None, "give body or operator"
        operator = (
            f"import sys\n{imports}\n"
            "from flowui.base_operator import BaseOperator\n\n"
            f"from .{Path(model_file).stem} import *  # noqa: F403\n\n\n"
            f"class {name}(BaseOperator):\n"
            "    def operator_function(self, input_model):\n"
            + textwrap.indent(textwrap.dedent(body), " " * 8)
        )
    (folder / "operator.py").write_text(operator)
    (folder / model_file).write_text(model)
    metadata = {"name": name, "description": f"{name} for tests", "dependency": {}}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return repository


def task_spec(
    repository: Path,
    name: str,
    root: Path,
    inputs: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    return {
        "operator": {"repository_path": str(repository), "name": name},
        "inputs": inputs or {},
        "context": {"dag_id": "dag_1", "run_id": "run_1", "task_id": "task_1", **context},
        "root": str(root),
    }


def run(
    repository: Path,
    name: str,
    root: Path,
    inputs: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    **context: Any,
) -> TaskOutcome:
    spec = TaskSpec.model_validate(task_spec(repository, name, root, inputs, **context))
    return run_task(spec, environ=environ or {})


def run_console_script(
    spec: dict[str, Any], environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "API_TOKEN"}
    return subprocess.run(
        [str(FLOWUI_TASK), "--spec", "-"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env={**env, **(environ or {})},
        timeout=60,
    )


def last_line_json(stdout: str) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    assert lines, "flowui-task printed nothing on stdout"
    return json.loads(lines[-1])


def run_directory(root: Path, dag: str = "dag_1", run_id: str = "run_1", task: str = "task_1"):
    return root / "runs" / dag / run_id / task


def read_log(root: Path, **ids: str) -> str:
    return (run_directory(root, **ids) / "log.txt").read_text(encoding="utf-8")


def header_lines(log: str, task: str, run_id: str, operator: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if f"task {task}" in line and f"run {run_id}" in line and f"operator {operator}" in line
    ]


# --- success ---------------------------------------------------------------------------------


def test_success_writes_validated_output_with_defaults_and_a_log_with_header(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "root"

    outcome = run(repository, "Greeter", root, {"name": "Ada", "count": 2})

    assert outcome.status == "success", outcome.error
    expected = {"message": "hello Ada hello Ada", "length": 19, "language": "en"}
    assert outcome.output == expected
    directory = run_directory(root)
    assert json.loads((directory / "output.json").read_text()) == expected
    assert (directory / "results").is_dir()
    log = read_log(root)
    first_line = log.splitlines()[0]
    assert header_lines(first_line, "task_1", "run_1", "Greeter"), first_line
    assert "greeting Ada 2 time(s)" in log
    assert "task succeeded" in log
    assert not (directory / "display_result.json").exists()


def test_console_script_reads_spec_from_stdin_and_prints_outcome_last(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "root"

    finished = run_console_script(
        task_spec(repository, "Greeter", root, {"name": "Bo", "tone": "loud"})
    )

    assert finished.returncode == 0, finished.stderr
    outcome = last_line_json(finished.stdout)
    assert outcome["status"] == "success"
    assert outcome["error"] is None
    assert outcome["output"] == {"message": "HELLO BO", "length": 8, "language": "en"}
    assert Path(outcome["output_file"]) == run_directory(root) / "output.json"
    assert json.loads(Path(outcome["output_file"]).read_text()) == outcome["output"]
    # The log is echoed on stderr for the runtime's own log collection.
    assert "greeting Bo 1 time(s)" in finished.stderr


def test_console_script_reads_spec_file_and_exits_1_on_failure(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "root"
    spec_file = tmp_path / "task.json"
    spec_file.write_text(json.dumps(task_spec(repository, "Greeter", root, {"count": 9})))

    finished = subprocess.run(
        [str(FLOWUI_TASK), "--spec", str(spec_file)], capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 1, finished.stdout + finished.stderr
    outcome = last_line_json(finished.stdout)
    assert outcome["status"] == "failed"
    assert "input 'name'" in outcome["error"]
    assert "input 'count'" in outcome["error"]


def test_a_container_of_an_ended_or_earlier_try_runs_nothing_and_writes_nothing(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "root"
    spec_file = tmp_path / "task_spec.json"
    # Try 2 finished: its output is what downstream tasks read.
    spec_file.write_text(
        json.dumps({**task_spec(repository, "Greeter", root, {"name": "Al"}), "try_number": 2})
    )
    started = subprocess.run(
        [str(FLOWUI_TASK), "--spec", str(spec_file), "--try", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    finished = sorted(path.name for path in run_directory(root).iterdir())
    output = (run_directory(root) / "output.json").read_text()
    log = read_log(root)

    # A pod of try 1 that the kubelet starts only now: the spec is try 2's.
    late = subprocess.run(
        [str(FLOWUI_TASK), "--spec", str(spec_file), "--try", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # ...and one that starts once the try ended (the runtime removed its spec).
    spec_file.unlink()
    ended = subprocess.run(
        [str(FLOWUI_TASK), "--spec", str(spec_file), "--try", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert late.returncode == ended.returncode == 3
    assert "started for try 1, but the task is on try 2; nothing was run or written" in late.stderr
    assert f"{spec_file} is gone: try 2 has ended; nothing was run or written" in ended.stderr
    assert sorted(path.name for path in run_directory(root).iterdir()) == finished
    assert (run_directory(root) / "output.json").read_text() == output
    assert read_log(root) == log


def test_dict_returned_by_operator_is_validated_against_output_model(tmp_path: Path):
    body = 'return {"message": "hi " + input_model.name, "length": "5"}\n'
    repository = write_operator(tmp_path / "repo", "DictGreeter", body=body)
    root = tmp_path / "root"

    outcome = run(repository, "DictGreeter", root, {"name": "Cy"})

    assert outcome.status == "success", outcome.error
    # "5" is coerced by the OutputModel, the missing field gets its default.
    assert outcome.output == {"message": "hi Cy", "length": 5, "language": "en"}
    assert json.loads((run_directory(root) / "output.json").read_text()) == outcome.output


def test_operator_without_output_model_may_return_a_dict(tmp_path: Path):
    model = "from pydantic import BaseModel\n\n\nclass InputModel(BaseModel):\n    n: int\n"
    body = 'return {"squares": [i * i for i in range(input_model.n)], "ok": True}\n'
    repository = write_operator(tmp_path / "repo", "Squares", body=body, model=model)
    root = tmp_path / "root"

    outcome = run(repository, "Squares", root, {"n": 4})

    assert outcome.status == "success", outcome.error
    assert outcome.output == {"squares": [0, 1, 4, 9], "ok": True}
    assert json.loads((run_directory(root) / "output.json").read_text()) == outcome.output


# --- failures --------------------------------------------------------------------------------


def test_invalid_input_fails_and_names_the_field(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "root"

    outcome = run(repository, "Greeter", root, {"name": "Ada", "count": 0})

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("input 'count': "), outcome.error
    assert "greater than or equal to 1" in outcome.error
    assert f"task failed: {outcome.error}" in read_log(root)
    assert not (run_directory(root) / "output.json").exists()


def test_unknown_operator_is_reported_clearly(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)

    outcome = run(repository, "Gretter", tmp_path / "root", {"name": "Ada"})

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "operator Gretter not found" in outcome.error
    assert str(repository / "operators" / "Gretter") in outcome.error


def test_missing_secret_is_reported_by_name(tmp_path: Path):
    repository = write_operator(
        tmp_path / "repo", "UsesToken", body=SECRET_BODY, model=SECRET_MODEL
    )
    root = tmp_path / "root"

    outcome = run(repository, "UsesToken", root, environ={"OTHER": "x"})

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "secret API_TOKEN is not set" in outcome.error
    assert "secret API_TOKEN is not set" in read_log(root)


def test_operator_exception_is_logged_with_traceback_and_summarized(tmp_path: Path):
    body = """\
    total = input_model.count * 10
    raise ValueError(f"cannot greet {input_model.name}: quota {total} exceeded")
    """
    repository = write_operator(tmp_path / "repo", "Failing", body=body)
    root = tmp_path / "root"
    raise_line = 1 + next(
        number
        for number, line in enumerate((repository / "operators/Failing/operator.py").open())
        if "raise ValueError" in line
    )

    outcome = run(repository, "Failing", root, {"name": "Ada", "count": 3})

    assert outcome.status == "failed"
    assert outcome.error == "ValueError: cannot greet Ada: quota 30 exceeded"
    log = read_log(root)
    assert "Traceback (most recent call last)" in log
    assert f'operator.py", line {raise_line}, in operator_function' in log
    assert "ValueError: cannot greet Ada: quota 30 exceeded" in log
    assert not (run_directory(root) / "output.json").exists()


def test_invalid_output_names_the_output_field(tmp_path: Path):
    model = (
        "from pydantic import BaseModel\n\n\n"
        "class InputModel(BaseModel):\n    pass\n\n\n"
        "class OutputModel(BaseModel):\n    x: int\n"
    )
    repository = write_operator(
        tmp_path / "repo", "BadOutput", body='return {"x": "not a number"}\n', model=model
    )
    root = tmp_path / "root"

    outcome = run(repository, "BadOutput", root)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("operator_function returned an invalid output: output 'x': ")
    assert "valid integer" in outcome.error
    assert not (run_directory(root) / "output.json").exists()


def test_non_dict_return_without_output_model_is_rejected(tmp_path: Path):
    model = "from pydantic import BaseModel\n\n\nclass InputModel(BaseModel):\n    pass\n"
    repository = write_operator(
        tmp_path / "repo", "ReturnsList", body="return [1, 2]\n", model=model
    )

    outcome = run(repository, "ReturnsList", tmp_path / "root")

    assert outcome.status == "failed"
    assert outcome.error == "operator_function returned list; return a dict"


# --- secrets ---------------------------------------------------------------------------------


def files_containing(directory: Path, text: str) -> list[Path]:
    needle = text.encode()
    return [path for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.mark.parametrize("mode", ["log", "print", "raise", "return"])
def test_secret_is_masked_in_every_file_of_the_run(tmp_path: Path, mode: str):
    repository = write_operator(
        tmp_path / "repo", "UsesToken", body=SECRET_BODY, model=SECRET_MODEL
    )
    root = tmp_path / "root"

    outcome = run(repository, "UsesToken", root, {"mode": mode}, environ={"API_TOKEN": SECRET})

    assert SECRET not in json.dumps(outcome.as_dict()), "the outcome carries the secret"
    assert files_containing(root, SECRET) == [], "a file of the run carries the secret"
    log = read_log(root)
    if mode == "log":
        assert "calling the API with token ***" in log
    elif mode == "print":
        assert "the token is ***" in log
        assert "on stderr too: ***" in log
    elif mode == "raise":
        assert outcome.status == "failed"
        assert outcome.error == "ValueError: the API refused token ***"
        assert "ValueError: the API refused token ***" in log
    else:
        assert outcome.status == "success", outcome.error
        assert outcome.output == {"echoed": "Bearer ***"}
        assert json.loads((run_directory(root) / "output.json").read_text()) == {
            "echoed": "Bearer ***"
        }


def test_console_script_never_shows_the_secret_on_stdout_stderr_or_disk(tmp_path: Path):
    repository = write_operator(
        tmp_path / "repo", "UsesToken", body=SECRET_BODY, model=SECRET_MODEL
    )
    root = tmp_path / "root"

    finished = run_console_script(
        task_spec(repository, "UsesToken", root, {"mode": "print"}), {"API_TOKEN": SECRET}
    )

    assert finished.returncode == 0, finished.stderr
    assert last_line_json(finished.stdout)["status"] == "success"
    assert SECRET not in finished.stdout
    assert SECRET not in finished.stderr
    assert "the token is ***" in finished.stderr
    assert files_containing(root, SECRET) == []


def test_secret_in_inline_display_content_is_masked(tmp_path: Path):
    body = """\
    self.set_display_result(content="# Report\\nused " + self.secrets.API_TOKEN, file_type="md")
    return OutputModel()
    """
    repository = write_operator(tmp_path / "repo", "ShowsToken", body=body, model=SECRET_MODEL)
    root = tmp_path / "root"

    outcome = run(repository, "ShowsToken", root, environ={"API_TOKEN": SECRET})

    assert outcome.status == "success", outcome.error
    assert files_containing(root, SECRET) == [], (
        "inline display content must be masked like output.json and log.txt"
    )


# --- log -------------------------------------------------------------------------------------


def test_print_inside_operator_function_goes_to_the_log(tmp_path: Path):
    body = """\
    print("step 1 of 2")
    print("step", 2, "of", 2, sep=" ")
    return OutputModel(message="done", length=4)
    """
    repository = write_operator(tmp_path / "repo", "Printer", body=body)
    root = tmp_path / "root"

    outcome = run(repository, "Printer", root, {"name": "Ada"})

    assert outcome.status == "success", outcome.error
    log = read_log(root)
    assert "INFO step 1 of 2" in log
    assert "INFO step 2 of 2" in log


def test_print_without_final_newline_still_reaches_the_log(tmp_path: Path):
    body = """\
    print("progress: 100%", end="")
    return OutputModel(message="done", length=4)
    """
    repository = write_operator(tmp_path / "repo", "Progress", body=body)
    root = tmp_path / "root"

    run(repository, "Progress", root, {"name": "Ada"})

    assert "progress: 100%" in read_log(root), (
        "text printed without a final newline must still reach log.txt"
    )


def test_two_tries_of_a_task_append_to_one_log_each_with_a_header(tmp_path: Path):
    body = """\
    marker = self.results_path / "first_try_done"
    if not marker.exists():
        marker.touch()
        raise RuntimeError("flaky network")
    self.logger.info("second try works")
    return OutputModel(message="ok", length=2)
    """
    repository = write_operator(tmp_path / "repo", "Flaky", body=body)
    root = tmp_path / "root"

    first = run(repository, "Flaky", root, {"name": "Ada"})
    second = run(repository, "Flaky", root, {"name": "Ada"})

    assert (first.status, second.status) == ("failed", "success")
    log = read_log(root)
    headers = header_lines(log, "task_1", "run_1", "Flaky")
    assert len(headers) == 2, log
    assert log.index(headers[0]) < log.index("RuntimeError: flaky network")
    assert log.index("RuntimeError: flaky network") < log.index(headers[1])
    assert log.index(headers[1]) < log.index("second try works")


# --- display results -------------------------------------------------------------------------

PLAIN_MODEL = "from pydantic import BaseModel\n\n\nclass InputModel(BaseModel):\n    pass\n"


def test_display_result_file_is_recorded_relative_to_the_task_directory(tmp_path: Path):
    body = """\
    report = self.results_path / "report.html"
    report.write_text("<h1>Report</h1>")
    self.set_display_result(file_path=report, file_type="html")
    return {}
    """
    repository = write_operator(tmp_path / "repo", "Reporter", body=body, model=PLAIN_MODEL)
    root = tmp_path / "root"

    outcome = run(repository, "Reporter", root)

    assert outcome.status == "success", outcome.error
    expected = {"file_type": "html", "path": "results/report.html"}
    assert outcome.display_result == expected
    assert json.loads((run_directory(root) / "display_result.json").read_text()) == expected


def test_display_result_type_is_inferred_from_the_extension(tmp_path: Path):
    body = """\
    (self.results_path / "chart.svg").write_text("<svg/>")
    self.set_display_result(file_path="chart.svg")
    return {}
    """
    repository = write_operator(tmp_path / "repo", "Charter", body=body, model=PLAIN_MODEL)

    outcome = run(repository, "Charter", tmp_path / "root")

    assert outcome.status == "success", outcome.error
    assert outcome.display_result == {"file_type": "svg", "path": "results/chart.svg"}


def test_display_result_of_an_unsupported_extension_fails_with_the_supported_list(
    tmp_path: Path,
):
    body = """\
    (self.results_path / "model.npy").write_bytes(b"\\x93NUMPY")
    self.set_display_result(file_path="model.npy")
    return {}
    """
    repository = write_operator(tmp_path / "repo", "Trainer", body=body, model=PLAIN_MODEL)

    outcome = run(repository, "Trainer", tmp_path / "root")

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "cannot display 'model.npy'" in outcome.error
    assert "html, png" in outcome.error


def test_inline_markdown_display_result_is_written_to_a_results_file(tmp_path: Path):
    body = """\
    self.set_display_result(content="# Summary\\n\\n3 rows", file_type="md")
    return {}
    """
    repository = write_operator(tmp_path / "repo", "Summarizer", body=body, model=PLAIN_MODEL)
    root = tmp_path / "root"

    outcome = run(repository, "Summarizer", root)

    assert outcome.status == "success", outcome.error
    assert outcome.display_result == {"file_type": "md", "path": "results/display_result.md"}
    written = run_directory(root) / "results" / "display_result.md"
    assert written.read_text() == "# Summary\n\n3 rows"


def test_original_layout_base64_display_result_is_decoded_to_a_file(tmp_path: Path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    encoded = base64.b64encode(png).decode()
    body = f"""\
    self.display_result = {{"file_type": "png", "base64_content": {encoded!r}}}
    return {{}}
    """
    repository = write_operator(tmp_path / "repo", "Plotter", body=body, model=PLAIN_MODEL)
    root = tmp_path / "root"

    outcome = run(repository, "Plotter", root)

    assert outcome.status == "success", outcome.error
    assert outcome.display_result == {"file_type": "png", "path": "results/display_result.png"}
    assert (run_directory(root) / "results" / "display_result.png").read_bytes() == png


OUTSIDE_RESULTS_BODY = """\
elsewhere = self.results_path.parent / "report.html"
elsewhere.write_text("<p>not in results</p>")
self.set_display_result(file_path=elsewhere)
return {"rows": 3}
"""


def test_display_result_outside_the_results_directory_fails_the_task(tmp_path: Path):
    repository = write_operator(
        tmp_path / "repo", "Escaper", body=OUTSIDE_RESULTS_BODY, model=PLAIN_MODEL
    )
    root = tmp_path / "root"

    outcome = run(repository, "Escaper", root)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "report.html is not inside" in outcome.error
    assert str(run_directory(root) / "results") in outcome.error
    assert not (run_directory(root) / "display_result.json").exists()


def test_failed_display_result_leaves_no_output_json(tmp_path: Path):
    repository = write_operator(
        tmp_path / "repo", "Escaper", body=OUTSIDE_RESULTS_BODY, model=PLAIN_MODEL
    )
    root = tmp_path / "root"

    outcome = run(repository, "Escaper", root)

    assert outcome.status == "failed"
    assert not (run_directory(root) / "output.json").exists(), (
        "a task that failed on its display result must leave no output.json behind"
    )


# --- original FlowUI layout ------------------------------------------------------------------

ORIGINAL_MODELS = """\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    numbers: list[float] = Field(default=[1.0, 2.0], description="Values to sum.")
    label: str = Field(default="total")

    class Config:
        extra = "forbid"


class OutputModel(BaseModel):
    label: str
    total: float
"""

ORIGINAL_OPERATOR = """\
from flowui.base_operator import BaseOperator

from .models import InputModel, OutputModel


class SumOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        values = input_model.dict()
        self.logger.info(f"summing {len(values['numbers'])} numbers")
        return OutputModel(label=values["label"], total=sum(values["numbers"]))
"""


def test_original_layout_with_models_py_and_pydantic_v1_calls_works(tmp_path: Path):
    repository = write_operator(
        tmp_path / "repo",
        "SumOperator",
        operator=ORIGINAL_OPERATOR,
        model=ORIGINAL_MODELS,
        model_file="models.py",
    )
    root = tmp_path / "root"

    with pytest.warns(DeprecationWarning):
        outcome = run(repository, "SumOperator", root, {"numbers": [1.5, 2.5, 3]})

    assert outcome.status == "success", outcome.error
    assert outcome.output == {"label": "total", "total": 7.0}
    assert "summing 3 numbers" in read_log(root)


def test_an_original_flowui_repository_runs_as_the_tasks_of_one_run(tmp_path: Path):
    repository = make_original_layout_repository(tmp_path / "legacy")
    root = tmp_path / "root"

    scaled = run(
        repository,
        "NormalizeValuesOperator",
        root,
        {"values": [1, 3], "method": "zscore"},
        task_id="scale",
    )
    with pytest.warns(DeprecationWarning):  # pydantic v1-style `class Config` and `.dict()`
        stats = run(
            repository,
            "TextStatsOperator",
            root,
            {"text": "Up up and away"},
            task_id="stats",
            environ={"STATS_SALT": "salt-5521"},
        )
    # The last task through the `flowui-task` console script, as a runtime starts it.
    digest = run_console_script(task_spec(repository, "RunDigestOperator", root, task_id="digest"))

    assert scaled.status == "success", scaled.error
    assert scaled.output is not None and scaled.output["values"] == [-1.0, 1.0]
    assert stats.status == "success", stats.error
    assert stats.output == {
        "message": "Text measured",
        "words": 4,
        "distinct_words": 3,
        "longest_word": "away",
    }
    assert digest.returncode == 0, digest.stderr
    outcome = last_line_json(digest.stdout)
    assert outcome["status"] == "success", outcome
    assert outcome["output"]["tasks"] == [  # self.run_path: every task of the run
        {"task": "digest", "files": []},
        {"task": "scale", "files": ["scaled.csv"]},
        {"task": "stats", "files": []},
    ]


# --- run context -----------------------------------------------------------------------------


def test_operator_sees_its_run_context_and_paths(tmp_path: Path):
    body = """\
    return {
        "dag_id": self.dag_id,
        "run_id": self.run_id,
        "task_id": self.task_id,
        "logical_date": self.logical_date.isoformat(),
        "params": self.params,
        "results_path": str(self.results_path),
        "results_exists": self.results_path.is_dir(),
        "dataset": str(self.dataset_path("ds")),
    }
    """
    repository = write_operator(tmp_path / "repo", "Introspect", body=body, model=PLAIN_MODEL)
    root = tmp_path / "root"

    outcome = run(
        repository,
        "Introspect",
        root,
        dag_id="sales_daily",
        run_id="manual__2024-05-01T00.00.00",
        task_id="load",
        logical_date="2024-05-01T00:00:00+00:00",
        params={"region": "eu", "limit": 10},
    )

    assert outcome.status == "success", outcome.error
    output = outcome.output
    assert output is not None
    assert output["dag_id"] == "sales_daily"
    assert output["run_id"] == "manual__2024-05-01T00.00.00"
    assert output["task_id"] == "load"
    assert output["logical_date"] == "2024-05-01T00:00:00+00:00"
    assert output["params"] == {"region": "eu", "limit": 10}
    assert output["results_exists"] is True
    expected_results = root / "runs" / "sales_daily" / "manual__2024-05-01T00.00.00" / "load"
    assert Path(output["results_path"]) == expected_results / "results"
    assert Path(output["dataset"]) == root / "dataset" / "ds"


@pytest.mark.parametrize("field", ["dag_id", "task_id"])
def test_invalid_dag_and_task_ids_are_rejected_before_anything_is_written(
    tmp_path: Path, field: str
):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "area" / "root"
    root.mkdir(parents=True)

    # A ValidationError (rejected by the TaskSpec) and InvalidIdError are both ValueErrors.
    with pytest.raises(ValueError, match=field.replace("_", ".")):
        run(repository, "Greeter", root, {"name": "Ada"}, **{field: "../escaped"})

    assert sorted(path.name for path in (tmp_path / "area").rglob("*")) == ["root"]


def test_a_run_id_that_is_not_a_safe_path_gets_a_safe_directory_inside_the_root(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "area" / "root"
    root.mkdir(parents=True)

    outcome = run(repository, "Greeter", root, {"name": "Ada"}, run_id="../escaped")

    assert outcome.status == "success", outcome.error
    assert outcome.paths.log.is_relative_to(root / "runs")
    assert sorted(path.name for path in (tmp_path / "area").iterdir()) == ["root"]


def test_console_script_rejects_an_invalid_dag_id_with_a_clear_error(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    root = tmp_path / "area" / "root"
    root.mkdir(parents=True)

    finished = run_console_script(
        task_spec(repository, "Greeter", root, {"name": "Ada"}, dag_id="../escaped")
    )

    assert finished.returncode != 0
    assert sorted(path.name for path in (tmp_path / "area").rglob("*")) == ["root"]
    assert "'../escaped'" in finished.stderr
    assert "Traceback" not in finished.stderr, (
        "an invalid id must be reported as an invalid TaskSpec, not a traceback; stderr was:\n"
        + finished.stderr
    )


def test_operator_calling_sys_exit_is_a_failed_task(tmp_path: Path):
    body = """\
    self.logger.info("giving up early")
    sys.exit(0)
    """
    repository = write_operator(tmp_path / "repo", "Quitter", body=body, model=PLAIN_MODEL)
    root = tmp_path / "root"

    finished = run_console_script(task_spec(repository, "Quitter", root))

    assert (finished.returncode, finished.stdout) != (0, ""), (
        "sys.exit() inside operator_function must fail the task"
    )
    assert finished.returncode == 1
    assert last_line_json(finished.stdout)["status"] == "failed"


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_runs_the_operator_in_a_child_process(tmp_path: Path):
    repository = write_operator(tmp_path / "repo", "Greeter", body=GREETER_BODY)
    lines: list[str] = []

    result = dry_run(
        repository, "Greeter", {"name": "Dee"}, root=tmp_path / "root", on_log_line=lines.append
    )

    assert result.succeeded, result.error
    assert result.output == {"message": "hello Dee", "length": 9, "language": "en"}
    assert json.loads(result.paths.output.read_text()) == result.output
    assert result.paths.output.is_relative_to(tmp_path / "root" / "runs" / "dry_run")
    assert any("greeting Dee 1 time(s)" in line for line in lines)
    # The test process never imported the operator: it ran in the child.
    assert package_name_for(repository / "operators" / "Greeter") not in sys.modules


def test_dry_run_timeout_kills_the_operator_and_its_children(tmp_path: Path):
    pid_file = tmp_path / "sleeper.pid"
    body = f"""\
    child = subprocess.Popen(["sleep", "60"])
    Path({str(pid_file)!r}).write_text(str(child.pid))
    time.sleep(60)
    return {{}}
    """
    repository = write_operator(
        tmp_path / "repo",
        "Sleeper",
        body=body,
        model=PLAIN_MODEL,
        imports="import subprocess\nimport time\nfrom pathlib import Path\n",
    )

    started = time.monotonic()
    result = dry_run(repository, "Sleeper", {}, root=tmp_path / "root", timeout=4)
    elapsed = time.monotonic() - started

    assert result.status == "failed"
    assert result.error == "timed out after 4 s"
    assert elapsed < 15, f"dry run took {elapsed:.1f} s"
    assert pid_file.exists(), "the operator did not start within the timeout"
    assert wait_until_gone(int(pid_file.read_text())), "the operator's child survived"
