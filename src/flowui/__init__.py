"""FlowUI: reusable Python operators, assembled into workflows, run on Apache Airflow."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Looked up on demand: importlib.metadata costs every task process a noticeable start-up.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("flowui")
        except PackageNotFoundError:  # a source tree that is not installed
            return "0.0.0"
    raise AttributeError(f"module 'flowui' has no attribute {name!r}")
