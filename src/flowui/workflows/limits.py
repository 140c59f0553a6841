"""What a workspace's workflows may ask for, as its platform administrators set it: the largest
CPU, memory and GPU request of a task, runs at once, the runtimes its tasks may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowui.operators.metadata import cpus_of
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.runtimes import resolved_runtime
from flowui.workflows.spec import Workflow
from flowui.workflows.validate import WorkflowError, json_pointer


@dataclass(frozen=True)
class WorkspaceLimits:
    """Limits of one workspace: CPUs (cores), memory (MiB) and GPUs of one task, runs at once
    (of all its workflows together), and the runtimes its tasks may run in."""

    task_cpus: int
    task_memory_mb: int
    task_gpus: int
    active_runs: int
    runtimes: Sequence[str]


def limit_problems(
    workflow: Workflow, catalog: OperatorCatalog, limits: WorkspaceLimits, *, default_runtime: str
) -> list[WorkflowError]:
    """Every place where `workflow` asks for more than `limits` allow, each at its pointer: a
    task's own resources at the field, an operator's default resources at the task's operator."""
    problems: list[WorkflowError] = []
    if workflow.max_active_runs > limits.active_runs:
        problems.append(
            WorkflowError(
                json_pointer("max_active_runs"),
                f"{workflow.max_active_runs} runs at once is more than this workspace's limit "
                f"of {limits.active_runs}",
            )
        )
    for index, task in enumerate(workflow.tasks):
        runtime = resolved_runtime(task.runtime, default_runtime)
        if runtime not in limits.runtimes:
            problems.append(
                WorkflowError(
                    json_pointer("tasks", index, "runtime"),
                    f"task {task.id} runs in {runtime}, which this workspace may not use: "
                    f"choose one of {', '.join(limits.runtimes) or '(none)'}",
                )
            )
        if task.resources is not None:
            resources: dict[str, Any] = task.resources.model_dump()
            where: tuple[str | int, ...] = ("tasks", index, "resources")
            asks = f"task {task.id} asks for"
        else:
            reference = task.operator
            operator = catalog.find(reference.repository, reference.name, reference.version)
            if operator is None:
                continue  # reported by validation
            resources = operator.metadata.get("container_resources") or {}
            where = ("tasks", index, "operator")
            asks = f"operator {reference.name} {reference.version} (task {task.id}) asks for"
        own = task.resources is not None
        problems += _resource_problems(resources, where, asks, limits, own=own)
    return problems


def _resource_problems(
    resources: dict[str, Any],
    where: tuple[str | int, ...],
    asks: str,
    limits: WorkspaceLimits,
    *,
    own: bool,
) -> list[WorkflowError]:
    """`own`: the task's own resources (a pointer at each field); else its operator's."""
    asked = resources.get("limits") or {}
    checks: tuple[tuple[float, int, str, tuple[str, ...]], ...] = (
        (cpus_of(asked.get("cpu") or 0), limits.task_cpus, "CPUs", ("limits", "cpu")),
        (asked.get("memory") or 0, limits.task_memory_mb, "MiB of memory", ("limits", "memory")),
        (resources.get("gpu") or 0, limits.task_gpus, "GPUs", ("gpu",)),
    )
    problems = []
    for value, most, unit, field in checks:
        if value > most:
            problems.append(
                WorkflowError(
                    json_pointer(*where, *field) if own else json_pointer(*where),
                    f"{asks} {value:g} {unit}, more than this workspace's limit of {most}"
                    + ("" if own else ": give the task resources of its own within it"),
                )
            )
    return problems
