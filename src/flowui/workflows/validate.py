"""Validating a workflow document: its shape, then its tasks against the operators' schemas.

Every problem is found in one pass and reported with an RFC 6901 pointer into the document and a
sentence that says what is wrong and how to fix it (docs/architecture.md, "The workflow document").
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from croniter import croniter
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType, best_match
from jsonschema.exceptions import ValidationError as SchemaViolation
from pydantic import BaseModel, TypeAdapter, ValidationError
from referencing.exceptions import Unresolvable

from flowui.workflows.catalog import CatalogOperator, OperatorCatalog
from flowui.workflows.spec import (
    SCHEDULE_PRESETS,
    BindingInput,
    CronSchedule,
    InputSource,
    LiteralInput,
    OnceSchedule,
    OperatorReference,
    ParameterInput,
    Schedule,
    Workflow,
)

INPUT_FORMS = '{"value": ...}, {"from": task, "output": field} or {"param": name}'
TASK_ID_RULE = (
    "task id must start with a letter and contain only letters, digits, '_' and '-'"
    " (at most 100 characters)"
)
SCHEDULE_TYPES = ("none", "cron", "preset", "once")

Loc = Sequence[str | int]


@dataclass(frozen=True)
class WorkflowError:
    """One problem of a workflow document: where (a JSON pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '(document)'}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


def json_pointer(*parts: str | int) -> str:
    """An RFC 6901 pointer: '~' and '/' inside a key are escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _pointer_order(error: WorkflowError) -> tuple[list[tuple[int, int, str]], str]:
    # Array indices compare as numbers, so /tasks/10 comes after /tasks/9.
    parts = error.pointer.split("/")[1:]
    # Only ASCII digits: str.isdigit() also takes '¹', which int() refuses.
    key = [
        (0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part) for part in parts
    ]
    return key, error.message


def parse_workflow(
    document: Any, catalog: OperatorCatalog
) -> tuple[Workflow | None, list[WorkflowError]]:
    """The workflow model if the document has no problem at all, and every problem found."""
    errors: list[WorkflowError] = []
    workflow: Workflow | None = None
    try:
        workflow = Workflow.model_validate(document)
    except ValidationError as error:
        errors.extend(_shape_errors(document, error))
    if isinstance(document, dict):
        errors.extend(_WorkflowChecker(document, catalog).check())
    found = sorted(set(errors), key=_pointer_order)
    return (workflow if not found else None), found


def validate_workflow(document: Any, catalog: OperatorCatalog) -> list[WorkflowError]:
    """Every problem of a raw workflow document (parsed JSON), sorted by pointer."""
    return parse_workflow(document, catalog)[1]


# --- shape errors (pydantic) ---------------------------------------------------------------


def _shape_errors(document: Any, error: ValidationError) -> list[WorkflowError]:
    found = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if len(loc) >= 5 and loc[0] == "tasks" and loc[2] == "inputs":
            # Errors of each union member (LiteralInput, BindingInput...): one message instead.
            found.append(_malformed_input(document, loc[1], loc[3]))
        else:
            found.append(_shape_error(loc, item))
    return found


def _malformed_input(document: Any, task_index: Any, name: Any) -> WorkflowError:
    raw = _dig(document, "tasks", task_index, "inputs", name)
    return WorkflowError(
        json_pointer("tasks", task_index, "inputs", name),
        f"input {_show(name)} {_input_problem(raw)}: an input is {INPUT_FORMS}",
    )


def _input_problem(raw: Any) -> str:
    if not isinstance(raw, dict):
        return f"is {_show(raw)}, not an object"
    if not raw:
        return "is empty"
    kinds = [key for key in ("value", "from", "param") if key in raw]
    if len(kinds) > 1:
        return "mixes " + " and ".join(f'"{kind}"' for kind in kinds)
    keys = {"value": {"value"}, "from": {"from", "output"}, "param": {"param"}}
    kind = kinds[0] if kinds else "from" if "output" in raw else None
    unknown = sorted(set(raw) - keys[kind]) if kind else sorted(raw)
    if unknown:
        return f"has unknown key {_show(unknown[0])}"
    assert kind is not None
    missing = sorted(keys[kind] - set(raw))
    if missing:
        return f'lacks "{missing[0]}"'
    not_text = sorted(key for key in keys[kind] - {"value"} if not isinstance(raw[key], str))
    if not_text:
        return f'gives "{not_text[0]}" as {_show(raw[not_text[0]])}, not a string'
    return "is malformed"


def _shape_error(loc: tuple[str | int, ...], item: Any) -> WorkflowError:
    kind = item["type"]
    # The discriminated schedule puts its tag ("cron"...) in loc; the document has no such key.
    clean = (loc[0], *loc[2:]) if len(loc) >= 2 and loc[0] == "schedule" else loc
    name = _field_label(clean)
    if kind == "missing":
        return WorkflowError(
            json_pointer(*clean[:-1]), f"missing required field {_show(clean[-1])}"
        )
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(loc[:-1]))
        hint = f" (allowed here: {allowed})" if allowed else ""
        return WorkflowError(json_pointer(*clean), f"unknown field {_show(clean[-1])}{hint}")
    if kind == "string_pattern_mismatch" and len(clean) == 3 and clean[::2] == ("tasks", "id"):
        message = f"{_show(item['input'])} is not a valid task id: a {TASK_ID_RULE}"
    elif kind == "too_short" and clean == ("tasks",):
        message = "a workflow needs at least one task: add one to tasks"
    elif kind == "union_tag_invalid":
        message = f"schedule type {_show(item['ctx']['tag'])} is unknown: use {_or(SCHEDULE_TYPES)}"
    elif kind == "union_tag_not_found":
        message = f'schedule needs a "type": {_or(SCHEDULE_TYPES)}'
    elif kind == "list_type":
        message = f"{name} must be a list"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"{name} must be a JSON object" if name else "a workflow must be a JSON object"
    else:
        detail = str(item["msg"]).removeprefix("Value error, ")
        message = f"{name}: {detail}" if name else detail
    return WorkflowError(json_pointer(*clean), message)


def _field_label(loc: Loc) -> str:
    if not loc:
        return ""
    last = loc[-1]
    if isinstance(last, int) and len(loc) > 1:
        return f"{loc[-2]}[{last}]"
    return str(last)


def _allowed_fields(loc: Loc) -> list[str]:
    """The keys the spec allows at `loc` (pydantic's loc, with union tags)."""
    model: type[BaseModel] = Workflow
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        models = _models_in(info.annotation) if info else []
        if len(models) > 1:  # a discriminated union: the next part is the tag
            tag = parts.pop(0) if parts else None
            models = [candidate for candidate in models if _tag_of(candidate) == tag]
        if len(models) != 1:
            return []
        model = models[0]
    return [info.alias or name for name, info in model.model_fields.items()]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _tag_of(model: type[BaseModel]) -> Any:
    info = model.model_fields.get("type")
    values = get_args(info.annotation) if info else ()
    return values[0] if values else None


# --- checks against the operators ----------------------------------------------------------

_OPERATOR_REFERENCE = TypeAdapter(OperatorReference)
_INPUT_SOURCE: TypeAdapter[InputSource] = TypeAdapter(InputSource)
_SCHEDULE: TypeAdapter[Any] = TypeAdapter(Schedule)
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_META_SCHEMA = Draft202012Validator(Draft202012Validator.META_SCHEMA)


@dataclass
class _Task:
    """What could be read of one task, even when other parts of it are malformed."""

    index: int
    id: str | None
    reference: OperatorReference | None
    input_names: list[str]
    sources: dict[str, InputSource]
    depends_on: list[tuple[int, str]]
    operator: CatalogOperator | None = None
    upstream: set[int] = field(default_factory=set)


def _parsed(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None  # reported by the shape check


def _read_task(index: int, raw: dict[str, Any]) -> _Task:
    task_id = raw.get("id")
    inputs = raw.get("inputs")
    inputs = inputs if isinstance(inputs, dict) else {}
    sources = {
        name: source
        for name, value in inputs.items()
        if (source := _parsed(_INPUT_SOURCE, value)) is not None
    }
    depends_on = raw.get("depends_on")
    return _Task(
        index=index,
        id=task_id if isinstance(task_id, str) else None,
        reference=_parsed(_OPERATOR_REFERENCE, raw.get("operator")),
        input_names=[name for name in inputs if isinstance(name, str)],
        sources=sources,
        depends_on=[
            (position, upstream)
            for position, upstream in enumerate(depends_on if isinstance(depends_on, list) else [])
            if isinstance(upstream, str)
        ],
    )


class _WorkflowChecker:
    """The checks that need more than the document's shape; each part is checked if readable."""

    def __init__(self, document: dict[str, Any], catalog: OperatorCatalog) -> None:
        self.document = document
        self.catalog = catalog
        self.errors: list[WorkflowError] = []
        raw_tasks = document.get("tasks")
        self.tasks = [
            _read_task(index, raw)
            for index, raw in enumerate(raw_tasks if isinstance(raw_tasks, list) else [])
            if isinstance(raw, dict)
        ]
        self.first_index: dict[str, int] = {}
        for task in self.tasks:
            if task.id is not None:
                self.first_index.setdefault(task.id, task.index)
        self.by_index = {task.index: task for task in self.tasks}
        raw_parameters = document.get("parameters", {"type": "object", "properties": {}})
        self.parameters = raw_parameters if isinstance(raw_parameters, dict) else None
        self.parameter_schema_errors = (
            list(_META_SCHEMA.iter_errors(self.parameters)) if self.parameters is not None else []
        )

    def add(self, pointer: str, message: str) -> None:
        self.errors.append(WorkflowError(pointer, message))

    def check(self) -> list[WorkflowError]:
        for task in self.tasks:
            self._check_id(task)
            task.operator = self._find_operator(task)
        for task in self.tasks:
            self._check_inputs(task)
            self._check_depends_on(task)
        self._check_cycles()
        self._check_parameters()
        self._check_dates()
        self._check_schedule()
        return self.errors

    # tasks

    def _check_id(self, task: _Task) -> None:
        if task.id is None:
            return
        first = self.first_index[task.id]
        if first != task.index:
            self.add(
                json_pointer("tasks", task.index, "id"),
                f"task id {_show(task.id)} is already used by /tasks/{first}:"
                " give each task its own id",
            )

    def _find_operator(self, task: _Task) -> CatalogOperator | None:
        reference = task.reference
        if reference is None:
            return None
        found = self.catalog.find(reference.repository, reference.name, reference.version)
        if found is not None:
            return found
        pointer = json_pointer("tasks", task.index, "operator")
        repositories = self.catalog.repositories()
        names = self.catalog.names(reference.repository)
        if reference.repository not in repositories:
            hint = _suggest(reference.repository, repositories, "known repositories")
            self.add(
                f"{pointer}/repository",
                f"unknown operators repository {_show(reference.repository)}"
                + (hint or " (no operators repository is imported yet: import one first)"),
            )
        elif reference.name not in names:
            self.add(
                f"{pointer}/name",
                f"repository {_show(reference.repository)} has no operator {_show(reference.name)}"
                + _suggest(reference.name, names, "its operators"),
            )
        else:
            versions = self.catalog.versions(reference.repository, reference.name)
            self.add(
                f"{pointer}/version",
                f"{reference.name} of repository {_show(reference.repository)} has no version"
                f" {_show(reference.version)} (known versions: {', '.join(versions)})",
            )
        return None

    def _check_inputs(self, task: _Task) -> None:
        operator = task.operator
        schema = operator.input_schema if operator else {}
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        defs = schema.get("$defs")
        if operator is not None:
            for name in schema.get("required") or []:
                declared = properties.get(name)
                has_default = isinstance(declared, dict) and "default" in declared
                if name not in task.input_names and not has_default:
                    # Points at the missing member so that editors show it on the input's field.
                    self.add(
                        json_pointer("tasks", task.index, "inputs", name),
                        f"input {_show(name)} of {operator.name} is required:"
                        " give it a value, a binding or a parameter",
                    )
        for name in task.input_names:
            known = operator is None or name in properties
            if not known:
                assert operator is not None
                self.add(
                    json_pointer("tasks", task.index, "inputs", name),
                    f"{operator.name} has no input {_show(name)}"
                    + _suggest(name, list(properties), "its inputs"),
                )
            source = task.sources.get(name)
            input_schema = properties.get(name) if operator is not None and known else None
            if isinstance(source, BindingInput):
                self._check_binding(task, name, source, input_schema, defs)
            elif isinstance(source, ParameterInput):
                self._check_parameter_input(task, name, source, input_schema, defs)
            elif isinstance(source, LiteralInput) and input_schema is not None:
                problem = _value_problem(defs, input_schema, name, source.value)
                if problem:
                    path, message = problem
                    self.add(
                        json_pointer("tasks", task.index, "inputs", name, "value", *path),
                        message,
                    )

    def _check_binding(
        self,
        task: _Task,
        name: str,
        binding: BindingInput,
        input_schema: Any,
        input_defs: Any,
    ) -> None:
        pointer = json_pointer("tasks", task.index, "inputs", name)
        source = binding.from_task
        # Ids resolve to their first task, so a duplicate id is not mistaken for itself.
        upstream_index = self.first_index.get(source)
        if upstream_index == task.index:
            self.add(
                f"{pointer}/from",
                "binding: a task cannot take an input from its own output:"
                " bind it to an upstream task",
            )
            return
        if upstream_index is None:
            self.add(
                f"{pointer}/from",
                f"binding: there is no task {_show(source)}"
                + _suggest(source, list(self.first_index), "tasks"),
            )
            return
        task.upstream.add(upstream_index)
        upstream = self.by_index[upstream_index].operator
        if upstream is None:
            return  # its operator is reported as unknown
        output_schema = upstream.output_schema or {}
        outputs = output_schema.get("properties")
        outputs = outputs if isinstance(outputs, dict) else {}
        if binding.output not in outputs:
            listing = f"its outputs: {', '.join(outputs)}" if outputs else "it has no outputs"
            self.add(
                f"{pointer}/output",
                f"binding: task {_show(source)} has no output {_show(binding.output)} ({listing})",
            )
            return
        if input_schema is None:
            return
        output_types = _alternatives(outputs[binding.output], output_schema.get("$defs"))
        input_types = _alternatives(input_schema, input_defs)
        if not _fits(output_types, input_types, output_schema.get("$defs"), input_defs):
            self.add(
                pointer,
                f"binding: output {_show(binding.output)} of task {_show(source)} is"
                f" {_label(output_types, output_schema.get('$defs'))}, but input"
                f" {_show(name)} takes {_label(input_types, input_defs)}",
            )

    def _check_parameter_input(
        self,
        task: _Task,
        name: str,
        parameter: ParameterInput,
        input_schema: Any,
        input_defs: Any,
    ) -> None:
        if self.parameters is None:
            return  # parameters itself is reported as malformed
        pointer = json_pointer("tasks", task.index, "inputs", name)
        properties = self.parameters.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        if parameter.param not in properties:
            hint = _suggest(parameter.param, list(properties), "defined")
            self.add(
                f"{pointer}/param",
                f"parameter {_show(parameter.param)} is not defined: add it to the workflow's"
                " parameters" + (hint or " (none is defined yet)"),
            )
            return
        if input_schema is None or self.parameter_schema_errors:
            return
        defs = self.parameters.get("$defs")
        parameter_types = _alternatives(properties[parameter.param], defs)
        input_types = _alternatives(input_schema, input_defs)
        if not _fits(parameter_types, input_types, defs, input_defs):
            self.add(
                pointer,
                f"parameter {_show(parameter.param)} is {_label(parameter_types, defs)}, but input"
                f" {_show(name)} takes {_label(input_types, input_defs)}",
            )

    def _check_depends_on(self, task: _Task) -> None:
        for position, upstream in task.depends_on:
            pointer = json_pointer("tasks", task.index, "depends_on", position)
            if self.first_index.get(upstream) == task.index:
                self.add(pointer, "depends_on: a task cannot depend on itself")
            elif upstream not in self.first_index:
                self.add(
                    pointer,
                    f"depends_on: there is no task {_show(upstream)}"
                    + _suggest(upstream, list(self.first_index), "tasks"),
                )
            else:
                task.upstream.add(self.first_index[upstream])

    def _check_cycles(self) -> None:
        downstream: dict[int, list[int]] = {task.index: [] for task in self.tasks}
        for task in self.tasks:
            for upstream in sorted(task.upstream - {task.index}):
                downstream[upstream].append(task.index)
        reach = {start: _reachable(start, downstream) for start in downstream}
        in_cycle: set[int] = set()
        for start in sorted(downstream):
            if start in in_cycle or start not in reach[start]:
                continue
            component = {node for node in reach[start] if start in reach[node]}
            in_cycle |= component
            path = _shortest_cycle(start, downstream, component)
            names = " -> ".join(self.by_index[node].id or f"/tasks/{node}" for node in path)
            self.add(
                json_pointer("tasks", start),
                f"cycle: {names}: these tasks wait on each other;"
                " remove a binding or a depends_on entry to break the loop",
            )

    # parameters

    def _check_parameters(self) -> None:
        if "parameters" not in self.document or self.parameters is None:
            return
        parameters = self.parameters
        meta_errors = self.parameter_schema_errors
        if meta_errors:
            error = best_match(meta_errors)
            self.add(
                json_pointer("parameters", *error.absolute_path),
                f"parameters is not a valid JSON Schema: {_describe(error)}",
            )
        if parameters.get("type") != "object":
            self.add(
                "/parameters/type" if "type" in parameters else "/parameters",
                'parameters must be a JSON Schema of "type": "object"'
                " whose properties are the run parameters",
            )
        properties = parameters.get("properties")
        if not isinstance(properties, dict):
            return
        for name, schema in properties.items():
            pointer = json_pointer("parameters", "properties", name)
            if not (name.isidentifier() and name.isascii()):
                self.add(
                    pointer,
                    f"parameter name {_show(name)} is not an identifier: use letters, digits and"
                    " '_', not starting with a digit",
                )
            if meta_errors or not isinstance(schema, dict) or "default" not in schema:
                continue
            problem = _value_problem(parameters.get("$defs"), schema, name, schema["default"])
            if problem:
                path, message = problem
                self.add(
                    json_pointer("parameters", "properties", name, "default", *path),
                    f"default of {message}",
                )

    # schedule and dates

    def _check_dates(self) -> None:
        dates: dict[str, datetime] = {}
        for key in ("start_date", "end_date"):
            value = self.document.get(key)
            parsed = _parsed(_DATETIME, value) if value is not None else None
            if parsed is None:
                continue
            if _is_naive(parsed):
                self.add(json_pointer(key), _naive_message(key, parsed))
            else:
                dates[key] = parsed
        if len(dates) == 2 and dates["end_date"] < dates["start_date"]:
            self.add(
                "/end_date",
                f"end_date {dates['end_date'].isoformat()} is before start_date"
                f" {dates['start_date'].isoformat()}: move it later or remove it",
            )

    def _check_schedule(self) -> None:
        if "schedule" not in self.document:
            return
        schedule = _parsed(_SCHEDULE, self.document["schedule"])
        if isinstance(schedule, CronSchedule):
            problem = cron_expression_problem(schedule.expression)
            if problem:
                self.add(
                    "/schedule/expression",
                    f"invalid cron expression {_show(schedule.expression)}: {problem}",
                )
        elif isinstance(schedule, OnceSchedule) and _is_naive(schedule.at):
            self.add("/schedule/at", _naive_message("at", schedule.at))


def _is_naive(value: datetime) -> bool:
    return value.tzinfo is None or value.utcoffset() is None


def _naive_message(key: str, value: datetime) -> str:
    shown = value.isoformat()
    return (
        f"{key} {shown} has no timezone: write it with one,"
        f" e.g. {shown}+00:00 for UTC (a date without one means a different time on each machine)"
    )


def _reachable(start: int, downstream: dict[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(downstream[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(downstream[node])
    return seen


def _shortest_cycle(start: int, downstream: dict[int, list[int]], within: set[int]) -> list[int]:
    """start -> ... -> start, by breadth-first search inside one strongly connected component."""
    parent: dict[int, int] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in downstream[node]:
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child in within and child not in parent:
                parent[child] = node
                queue.append(child)
    return [start, start]  # not reached: start is in a cycle


# --- values against JSON Schemas -----------------------------------------------------------


def _value_problem(
    defs: Any, property_schema: Any, name: str, value: Any
) -> tuple[list[str | int], str] | None:
    """The most relevant problem of `value` against one property schema, if any.

    The property is checked as part of an object that carries the root's `$defs`, so `$ref`s
    of pydantic schemas resolve.
    """
    schema: dict[str, Any] = {"type": "object", "properties": {name: property_schema}}
    if isinstance(defs, dict):
        schema["$defs"] = defs
    try:
        errors = list(Draft202012Validator(schema).iter_errors({name: value}))
    except (SchemaError, UnknownType, Unresolvable) as broken:
        return [], f"{name}: cannot be checked: its JSON Schema is invalid ({broken})"
    if not errors:
        return None
    error = best_match(errors)
    path = list(error.absolute_path)[1:]
    where = name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return path, f"{where}: {_describe(error)}"


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _describe(error: SchemaViolation) -> str:
    """jsonschema's error in plain words, values written as JSON."""
    value = _show(error.instance)
    rule, expected = error.validator, error.validator_value
    if rule in ("anyOf", "oneOf") and error.context:
        if all(sub.validator == "type" and not sub.relative_path for sub in error.context):
            types = [t for sub in error.context for t in _as_list(sub.validator_value)]
            return f"{value} is not {_type_words(types)}"
        return _describe(best_match(error.context))
    if rule == "type":
        return f"{value} is not {_type_words(_as_list(expected))}"
    if rule == "enum":
        return f"{value} is not one of {', '.join(_show(option) for option in expected)}"
    if rule == "const":
        return f"{value} is not {_show(expected)}"
    if rule == "minimum":
        return f"{value} is less than the minimum of {expected}"
    if rule == "maximum":
        return f"{value} is greater than the maximum of {expected}"
    if rule == "exclusiveMinimum":
        return f"{value} must be greater than {expected}"
    if rule == "exclusiveMaximum":
        return f"{value} must be less than {expected}"
    if rule == "multipleOf":
        return f"{value} is not a multiple of {expected}"
    if rule == "minLength":
        return f"{value} is too short: it needs at least {_count(expected, 'character')}"
    if rule == "maxLength":
        return f"{value} is too long: it may have at most {_count(expected, 'character')}"
    if rule == "pattern":
        return f"{value} does not match the pattern {expected}"
    if rule == "minItems":
        return f"{value} is too short: it needs at least {_count(expected, 'item')}"
    if rule == "maxItems":
        return f"{value} is too long: it may have at most {_count(expected, 'item')}"
    if rule == "uniqueItems":
        return f"{value} has repeated items"
    if rule == "required" and isinstance(error.instance, dict):
        missing = [key for key in expected if key not in error.instance]
        return f"missing required key {_show(missing[0])}" if missing else error.message
    if rule == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [key for key in error.instance if key not in known]
        return f"unknown key {_show(extra[0])}" if extra else error.message
    return error.message


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _type_words(types: list[Any]) -> str:
    words = list(dict.fromkeys(_TYPE_WORDS.get(str(name), str(name)) for name in types))
    return " or ".join(words)


def _count(amount: Any, noun: str) -> str:
    return f"{amount} {noun}" + ("" if amount == 1 else "s")


# --- type compatibility of a binding ---------------------------------------------------------

_Alternatives = list[tuple[str, dict[str, Any]]] | None  # None: any type


def _alternatives(schema: Any, defs: Any, depth: int = 0) -> _Alternatives:
    """The JSON types a schema allows, each with its (resolved) schema; None if unconstrained."""
    if not isinstance(schema, dict) or depth > 32:
        return None
    if isinstance(schema.get("$ref"), str):
        return _alternatives(_resolve_ref(schema["$ref"], defs), defs, depth + 1)
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list):
            found: list[tuple[str, dict[str, Any]]] = []
            for option in options:
                resolved = _alternatives(option, defs, depth + 1)
                if resolved is None:
                    return None
                found.extend(resolved)
            return found
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return _alternatives(all_of[0], defs, depth + 1)
    declared = schema.get("type")
    if isinstance(declared, str):
        return [(declared, schema)]
    if isinstance(declared, list):
        return [(name, schema) for name in declared if isinstance(name, str)]
    values = schema.get("enum") if isinstance(schema.get("enum"), list) else None
    if values is None and "const" in schema:
        values = [schema["const"]]
    if values:
        return [(name, schema) for name in dict.fromkeys(_json_type(value) for value in values)]
    return None


def _resolve_ref(reference: str, defs: Any) -> Any:
    prefix = "#/$defs/"
    if not reference.startswith(prefix) or not isinstance(defs, dict):
        return None  # an unknown reference: treat as unconstrained
    name = reference[len(prefix) :].replace("~1", "/").replace("~0", "~")
    return defs.get(name)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fits(source: _Alternatives, target: _Alternatives, source_defs: Any, target_defs: Any) -> bool:
    """Whether every value of the source types is of a target type (integer fits number)."""
    if source is None or target is None:
        return True
    # An optional output (X or null) may still feed an X input: the run checks the actual value.
    typed = [option for option in source if option[0] != "null"] or source
    return all(
        any(_fits_one(option, candidate, source_defs, target_defs) for candidate in target)
        for option in typed
    )


def _fits_one(
    source: tuple[str, dict[str, Any]],
    target: tuple[str, dict[str, Any]],
    source_defs: Any,
    target_defs: Any,
) -> bool:
    (source_type, source_schema), (target_type, target_schema) = source, target
    if source_type == target_type == "array":
        return _fits(
            _alternatives(source_schema.get("items"), source_defs),
            _alternatives(target_schema.get("items"), target_defs),
            source_defs,
            target_defs,
        )
    return source_type == target_type or (source_type, target_type) == ("integer", "number")


def _label(types: _Alternatives, defs: Any) -> str:
    if types is None:
        return "any"
    names: list[str] = []
    for name, schema in types:
        if name == "array":
            items = _label(_alternatives(schema.get("items"), defs), defs)
            if items != "any":
                name = f"array of ({items})" if " or " in items else f"array of {items}"
        if name not in names:
            names.append(name)
    return " or ".join(names)


# --- cron ------------------------------------------------------------------------------------

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_WEEKDAYS = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),  # 0 and 7 are both Sunday
)
_CRON_FORM = 'minute hour day-of-month month day-of-week, e.g. "*/15 * * * *"'


def cron_expression_problem(expression: str) -> str | None:
    """What is wrong with a 5-field cron expression, or None if it is valid.

    One grammar: croniter's, which Airflow schedules with (and the server's next run is
    computed with) decides; the fields are only looked at to say where it went wrong.
    """
    text = expression.strip()
    if text.startswith("@"):
        preset = text[1:]
        if preset in SCHEDULE_PRESETS:
            return f'use {{"type": "preset", "preset": "{preset}"}} for {text}'
        return f"it needs 5 fields: {_CRON_FORM}"
    fields = text.split()
    if len(fields) != 5:
        return f"it has {_count(len(fields), 'field')}; it needs 5: {_CRON_FORM}"
    if croniter.is_valid(text):
        return None
    for value, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in value.split(","):
            problem = _cron_item_problem(item, low, high, names)
            if problem:
                return f"{label} {problem}"
    return f"Airflow's cron grammar does not read it: {_CRON_FORM}"


def _cron_item_problem(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    if not item:
        return "has an empty list item"
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        return f'step "/{step}" in "{item}" must be a whole number of at least 1'
    if base == "*":
        return None
    first, dash, last = base.partition("-")
    for text in (first, last) if dash else (first,):
        number = names.get(text.lower()) if names else None
        if number is None and text.isdigit():
            number = int(text)
        if number is None:
            name_hint = f" or a name ({next(iter(names))}-{list(names)[-1]})" if names else ""
            return f'"{text}" in "{item}" is not a number{name_hint}'
        if not low <= number <= high:
            return f"{text} is out of range {low}-{high}"
    return None


# --- words -----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as JSON, shortened: messages quote what the user wrote."""
    if isinstance(value, str) and len(value) > 60:
        return json.dumps(value[:55] + "...", ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _or(options: Sequence[str]) -> str:
    quoted = [f'"{option}"' for option in options]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _suggest(word: str, known: list[str], what: str) -> str:
    """' (did you mean "x"?)' for close names, else ' (what: a, b)'; '' if nothing is known."""
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(_show(name) for name in close) + "?)"
    return f" ({what}: {', '.join(known)})" if known else ""


def _dig(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data
