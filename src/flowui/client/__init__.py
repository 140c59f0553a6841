"""Helper clients that operators of the original FlowUI SDK import: `s3_client.S3Client` and
`github_rest_client.GithubRestClient`, and where they read their settings.

The clients run inside a task and wrap the operator environment's own packages (boto3, PyGithub):
importing this package needs neither, and nothing of FlowUI's platform side imports it.
"""

from __future__ import annotations

import os

from flowui.runtime.secrets import SECRETS_FILE_VARIABLE, secrets_from_file

__all__ = ["ClientConfigurationError", "task_setting"]


class ClientConfigurationError(RuntimeError):
    """A helper client lacks a setting it needs; the message names it and where to set it."""


def task_setting(name: str) -> str | None:
    """The value of `name` for this task: its environment variable, else the entry of the secrets
    file that the container runtimes mount (FLOWUI_SECRETS_FILE). None when unset or empty."""
    value = os.environ.get(name)
    if value:
        return value
    secrets_file = os.environ.get(SECRETS_FILE_VARIABLE)
    if not secrets_file:
        return None
    try:
        return secrets_from_file(secrets_file).get(name) or None
    except ValueError as error:
        raise ClientConfigurationError(f"cannot read {name}: {error}") from None
