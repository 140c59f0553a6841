"""`flowui-task`: the one entry point every runtime starts to run one task (Contract 4).

TaskSpec in (a file or stdin), then: resolve the bindings from upstream `output.json` files of
the same run, import the operator, validate its inputs and secrets, run
`operator_function`, validate the output, write `output.json`, `log.txt` and `results/`. The
last line on stdout is a JSON outcome; the exit code is 0 on success, 1 when the task failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

from pydantic import BaseModel, ValidationError

from flowui.base_operator import BaseOperator, DisplayResult
from flowui.operators.loading import import_operator_module, model_file_of
from flowui.runtime.secrets import SECRETS_FILE_VARIABLE, secrets_from_file
from flowui.runtime.spec import TaskOutcome, TaskSpec
from flowui.storage import FileSystemRoot, TaskRunPaths, write_json_atomically

MASK = "***"


class TaskError(Exception):
    """A failure the user can act on; its message is the whole story (no traceback needed)."""


class _MaskingFormatter(logging.Formatter):
    """Replaces every secret value in a formatted record, traceback included."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.secrets: list[str] = []

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record), self.secrets)


def mask(text: str, secrets: list[str]) -> str:
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _masked_values(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret masked inside its strings: outputs must never carry one."""
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, list):
        return [_masked_values(item, secrets) for item in value]
    if isinstance(value, dict):
        return {mask(key, secrets): _masked_values(item, secrets) for key, item in value.items()}
    return value


class _LogStream:
    """A file-like object that sends what an operator prints to the task's logger."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger, self._level, self._buffer = logger, level, ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._logger.log(self._level, line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._logger.log(self._level, self._buffer)
            self._buffer = ""


@contextlib.contextmanager
def _task_logger(
    paths: TaskRunPaths, echo: TextIO | None
) -> Iterator[tuple[logging.Logger, _MaskingFormatter]]:
    logger = logging.getLogger(f"flowui.task.{id(paths)}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = _MaskingFormatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.FileHandler(paths.log, encoding="utf-8")]
    if echo is not None:
        handlers.append(logging.StreamHandler(echo))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    printed = _LogStream(logger, logging.INFO)
    printed_errors = _LogStream(logger, logging.WARNING)
    try:
        with (
            contextlib.redirect_stdout(printed),  # type: ignore[type-var]
            contextlib.redirect_stderr(printed_errors),  # type: ignore[type-var]
        ):
            yield logger, formatter
    finally:
        printed.flush()  # a last print(..., end="") has no newline to flush it
        printed_errors.flush()
        for handler in handlers:
            handler.close()
            logger.removeHandler(handler)


def _describe_validation_error(what: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(whole value)"
        lines.append(f"{what} {where!r}: {item['msg']}")
    return "; ".join(lines)


def _models(operator_dir: Path) -> dict[str, type[BaseModel] | None]:
    model_file = model_file_of(operator_dir)
    if model_file is None:
        raise TaskError(f"{operator_dir} has no model.py (or models.py)")
    module = import_operator_module(operator_dir, model_file.stem)
    return {
        name: getattr(module, name, None) for name in ("InputModel", "OutputModel", "SecretsModel")
    }


def _secrets_from(
    secrets_model: type[BaseModel] | None, environ: Mapping[str, str]
) -> BaseModel | None:
    if secrets_model is None:
        return None
    values = {name: environ[name] for name in secrets_model.model_fields if name in environ}
    try:
        return secrets_model.model_validate(values)
    except ValidationError as error:
        missing = [str(item["loc"][0]) for item in error.errors() if item["type"] == "missing"]
        if missing:
            raise TaskError(
                f"secret {', '.join(missing)} is not set (provide it in the task's environment)"
            ) from None
        # Never echo the values: report only which secret is wrong.
        names = sorted({str(item["loc"][0]) for item in error.errors()})
        raise TaskError(f"secret {', '.join(names)} is not valid") from None


def _validated_output(raw: Any, output_model: type[BaseModel] | None) -> dict[str, Any]:
    if output_model is None:
        if raw is None:
            return {}
        if isinstance(raw, BaseModel):
            return raw.model_dump(mode="json")
        if isinstance(raw, dict):
            return json.loads(json.dumps(raw, default=str))
        raise TaskError(f"operator_function returned {type(raw).__name__}; return a dict")
    try:
        if isinstance(raw, output_model):
            model = raw
        elif isinstance(raw, BaseModel):
            model = output_model.model_validate(raw.model_dump())
        else:
            model = output_model.model_validate(raw)
    except ValidationError as error:
        raise TaskError(
            "operator_function returned an invalid output: "
            + _describe_validation_error("output", error)
        ) from None
    return model.model_dump(mode="json")


def _save_display_result(
    declared: Any, paths: TaskRunPaths, secrets: list[str]
) -> dict[str, str] | None:
    if declared is None:
        return None
    try:
        result = (
            declared
            if isinstance(declared, DisplayResult)
            else DisplayResult.model_validate(declared)
        )
    except ValidationError as error:
        raise TaskError(
            "invalid display_result: " + _describe_validation_error("display_result", error)
        ) from None
    results = paths.results.resolve()
    if result.file_path is not None:
        file = Path(result.file_path)
        file = (file if file.is_absolute() else results / file).resolve()
        if not file.is_relative_to(results):
            raise TaskError(f"display result {result.file_path} is not inside {results}")
        if not file.is_file():
            raise TaskError(f"display result {result.file_path} does not exist")
    else:
        file = results / f"display_result.{result.file_type}"
        if result.base64_content is not None:
            file.write_bytes(base64.b64decode(result.base64_content))
        else:  # inline text is written by us, so no secret may pass through it
            file.write_text(mask(result.content or "", secrets), encoding="utf-8")
    saved = {
        "file_type": str(result.file_type),
        "path": file.relative_to(paths.directory.resolve()).as_posix(),
    }
    write_json_atomically(paths.display_result, saved)
    return saved


def resolve_bindings(spec: TaskSpec, root: FileSystemRoot) -> dict[str, Any]:
    """The value of each bound input, read from the upstream task's output.json in this run."""
    context = spec.context
    outputs: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}
    for name, binding in spec.bindings.items():
        upstream = binding.task_id
        if upstream not in outputs:
            output_file = root.task_run(context.dag_id, context.run_id, upstream).output
            try:
                output = json.loads(output_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise TaskError(
                    f"upstream task {upstream} has no output yet ({output_file} does not "
                    "exist): did it succeed?"
                ) from None
            except (OSError, ValueError) as error:
                raise TaskError(
                    f"cannot read the output of upstream task {upstream}: {error}"
                ) from None
            if not isinstance(output, dict):
                raise TaskError(f"output of upstream task {upstream} ({output_file}) is not a dict")
            outputs[upstream] = output
        output = outputs[upstream]
        if binding.output not in output:
            has = ", ".join(sorted(output)) or "no outputs"
            raise TaskError(
                f"upstream task {upstream} has no output {binding.output}; it has: {has}"
            )
        values[name] = output[binding.output]
    return values


def run_task(
    spec: TaskSpec, *, environ: Mapping[str, str] | None = None, echo: TextIO | None = None
) -> TaskOutcome:
    """Run one task as the spec says; never raises for a failure of the operator."""
    environ = os.environ if environ is None else environ
    root = FileSystemRoot(spec.root)
    context = spec.context
    paths = root.task_run(context.dag_id, context.run_id, context.task_id).create()
    # A new try is unfinished until it writes its own: an earlier try's output must not speak
    # for it (downstream tasks read output.json).
    for earlier in (paths.output, paths.display_result):
        earlier.unlink(missing_ok=True)
    operator_dir = spec.operator.repository_path / "operators" / spec.operator.name
    name = spec.operator.name

    with _task_logger(paths, echo) as (logger, formatter):
        started = datetime.now(UTC).isoformat(timespec="seconds")
        logger.info(
            "===== %s: task %s of run %s, operator %s, try %d",
            started,
            context.task_id,
            context.run_id,
            name,
            spec.try_number,
        )
        try:
            if not operator_dir.is_dir():
                raise TaskError(f"operator {name} not found: {operator_dir} does not exist")
            # Before any operator code is imported: a missing upstream output is the story.
            bound = resolve_bindings(spec, root)
            for input_name, binding in spec.bindings.items():
                logger.info("input %s <- %s.%s", input_name, binding.task_id, binding.output)
            models = _models(operator_dir)
            secrets_model = models["SecretsModel"]
            if secrets_model is not None:
                formatter.secrets = [environ[n] for n in secrets_model.model_fields if n in environ]
            secrets = _secrets_from(secrets_model, environ)
            input_model, output_model = models["InputModel"], models["OutputModel"]
            if input_model is None:
                raise TaskError(f"{name} defines no InputModel")
            try:
                inputs = input_model.model_validate({**spec.inputs, **bound})
            except ValidationError as error:
                raise TaskError(_describe_validation_error("input", error)) from None
            operator_class = getattr(import_operator_module(operator_dir, "operator"), name, None)
            if not (isinstance(operator_class, type) and issubclass(operator_class, BaseOperator)):
                raise TaskError(f"operator.py of {name} defines no class {name}(BaseOperator)")
            operator = operator_class(
                context=context,
                results_path=paths.results,
                root=root,
                secrets=secrets,
                logger=logger,
            )
            output = _validated_output(operator.operator_function(inputs), output_model)
            output = _masked_values(output, formatter.secrets)
            display = _save_display_result(operator.display_result, paths, formatter.secrets)
            write_json_atomically(paths.output, output)  # last: it marks a finished task
            if display:
                logger.info("display result: %s (%s)", display["path"], display["file_type"])
            logger.info("task succeeded")
            return TaskOutcome("success", paths, output=output, display_result=display)
        except TaskError as error:
            logger.error("task failed: %s", error)
            return TaskOutcome("failed", paths, error=mask(str(error), formatter.secrets))
        except (Exception, SystemExit) as error:  # sys.exit() in an operator is a failure too
            logger.error("task failed:\n%s", traceback.format_exc().rstrip())
            summary = f"{type(error).__name__}: {error}"
            return TaskOutcome("failed", paths, error=mask(summary, formatter.secrets))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="flowui-task",
        description="Run one FlowUI task from its TaskSpec (JSON).",
        epilog="Example: flowui-task --spec task.json   (or: flowui-task --spec - < task.json)",
    )
    parser.add_argument("--spec", required=True, help="TaskSpec JSON file, or - for stdin.")
    parser.add_argument(
        "--try",
        dest="try_number",
        type=int,
        help="The try this process was started for: when the spec file is gone (that try "
        "ended) or is a later try's, it exits writing nothing.",
    )
    # Secrets: the environment variables their SecretsModel names, and those of the JSON file
    # that FLOWUI_SECRETS_FILE names (how the container runtimes give them).
    arguments = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if arguments.spec == "-" else Path(arguments.spec).read_text()
    except FileNotFoundError:
        if arguments.try_number is None:
            raise
        _stale(f"{arguments.spec} is gone: try {arguments.try_number} has ended")
    try:
        spec = TaskSpec.model_validate_json(text)
    except ValidationError as error:
        print(f"flowui-task: invalid TaskSpec: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if arguments.try_number is not None and spec.try_number != arguments.try_number:
        _stale(f"started for try {arguments.try_number}, but the task is on try {spec.try_number}")
    environ = dict(os.environ)
    secrets_file = environ.pop(SECRETS_FILE_VARIABLE, None)
    if secrets_file:
        try:
            environ.update(secrets_from_file(secrets_file))
        except ValueError as error:
            print(f"flowui-task: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    outcome = run_task(spec, environ=environ, echo=sys.stderr)
    print(json.dumps(outcome.as_dict()), flush=True)
    raise SystemExit(0 if outcome.status == "success" else 1)


# A container or pod that starts after its try ended (a pod the kubelet started late, a Batch
# job left queued) must not touch the run: a later try's outputs or a failed run's directory.
EXIT_STALE_TRY = 3


def _stale(why: str) -> NoReturn:
    print(f"flowui-task: {why}; nothing was run or written", file=sys.stderr)
    raise SystemExit(EXIT_STALE_TRY)


if __name__ == "__main__":
    main()
