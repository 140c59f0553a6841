"""Where a task's secret values come from when it starts (docs/architecture.md, "The TaskSpec").

A source maps the secret names an operator declares (its SecretsModel's fields) to values:
the worker's environment, or the platform server that keeps them encrypted. The values go only
into the task process's environment: never into a DAG file, the TaskSpec, XCom, output.json or
a log line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

# The platform server route that gives a starting task its secrets (server/routers/secrets.py).
INTERNAL_SECRETS_PATH = "/api/internal/secrets"
# In a container, secrets come in a file (JSON object, name -> value) mounted read-only and
# named by this variable: a container's environment is part of its inspectable configuration.
SECRETS_FILE_VARIABLE = "FLOWUI_SECRETS_FILE"


def secrets_from_file(path: str) -> dict[str, str]:
    """The secrets of a secrets file; raises ValueError saying what is wrong (never a value)."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read the secrets file {path}: {error.strerror}") from None
    except ValueError:
        raise ValueError(f"the secrets file {path} is not JSON") from None
    if not isinstance(values, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in values.items()
    ):
        raise ValueError(f"the secrets file {path} is not an object of strings")
    return values


class SecretsSource(Protocol):
    def values(self, names: Iterable[str]) -> dict[str, str]:
        """The values of those of `names` that are set; unset names are left out."""
        ...


class EnvironmentSecrets:
    """Secrets from the worker's environment, each under its own name (or with a prefix)."""

    def __init__(self, environ: Mapping[str, str] | None = None, prefix: str = "") -> None:
        self._environ = os.environ if environ is None else environ
        self._prefix = prefix

    def values(self, names: Iterable[str]) -> dict[str, str]:
        found = {}
        for name in names:
            value = self._environ.get(self._prefix + name)
            if value:
                found[name] = value
        return found


class SecretsUnavailable(Exception):
    """The secrets of a task could not be fetched; the message never holds a value or token."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the internal token to wherever it points.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ServerSecrets:
    """Secrets from the platform server's internal route, for one repository of a workspace.

    Used in Airflow's workers, which must not import the server: stdlib HTTP only. `url` is the
    server's base URL, `token` the platform's internal token (from the worker's environment,
    never from a DAG file).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        workspace_id: int,
        repository: str,
        timeout: float = 10.0,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the FlowUI server URL must be http:// or https://, not {url!r}")
        self._endpoint = url.rstrip("/") + INTERNAL_SECRETS_PATH
        self._token = token
        self._workspace_id = workspace_id
        self._repository = repository
        self._timeout = timeout
        # No proxies from the environment either: the token goes to the server and nowhere else.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())

    def values(self, names: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        body = {"workspace_id": self._workspace_id, "repository": self._repository, "names": wanted}
        request = urllib.request.Request(
            self._endpoint,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise self._unavailable(f"it answered {error.code} {_error_message(error)}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {self._timeout:g} s"
            raise self._unavailable(f"it did not answer ({reason})") from None
        except ValueError:
            raise self._unavailable("its answer is not JSON") from None
        values = answer.get("values") if isinstance(answer, dict) else None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise self._unavailable("its answer has no values object")
        return {name: values[name] for name in wanted if name in values}

    def _unavailable(self, reason: str) -> SecretsUnavailable:
        return SecretsUnavailable(
            f"could not fetch the secrets of repository {self._repository!r} "
            f"(workspace {self._workspace_id}) from the FlowUI server at {self._endpoint}: {reason}"
        )


def _error_message(error: urllib.error.HTTPError) -> str:
    """The message of the server's error shape (which never holds a value), if it has one."""
    try:
        message = json.loads(error.read())["error"]["message"]
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)
    return str(message)
