"""FlowUI: reusable Python operators, assembled into workflows, run on Apache Airflow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowui")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
