"""FlowUI's Airflow operators, one per runtime; each runs `flowui-task` for one task."""

from __future__ import annotations

import importlib

from airflow.sdk import BaseOperator

from flowui.airflow.operators.common import FlowUITask
from flowui.airflow.operators.process import FlowUIOperator

# Imported only for the runtimes a DAG uses: the Kubernetes and AWS clients cost every task
# of every DAG a second to import otherwise.
_RUNTIME_OPERATORS = {
    "docker": ("flowui.airflow.operators.docker", "FlowUIDockerOperator"),
    "kubernetes": ("flowui.airflow.operators.kubernetes", "FlowUIKubernetesOperator"),
    "aws_batch": ("flowui.airflow.operators.batch", "FlowUIBatchOperator"),
}


def operator_class(runtime: str) -> type[BaseOperator]:
    """The operator class of a runtime."""
    if runtime == "process":
        return FlowUIOperator
    module, name = _RUNTIME_OPERATORS[runtime]
    cls: type[BaseOperator] = getattr(importlib.import_module(module), name)
    return cls


__all__ = ["FlowUIOperator", "FlowUITask", "operator_class"]
