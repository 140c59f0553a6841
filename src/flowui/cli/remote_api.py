"""A FlowUI platform's REST API as the `flowui` command reaches it: the sign-in kept per server
(one 0600 file each), and requests whose failures name the server and the cause."""

from __future__ import annotations

import json
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    import httpx

__all__ = ["CredentialStore", "PlatformClient", "RemoteError", "ServerLogin", "server_url"]

_WORKSPACE_NOT_FOUND = re.compile(r"workspace (\d+) not found")


class RemoteError(Exception):
    """A request to a platform failed; the message names the server and the cause."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.status = status
        self.details = details or []


class ServerLogin(BaseModel):
    """What `flowui login` keeps of one platform."""

    url: str
    token: str
    email: str


def server_url(text: str) -> str:
    """`text` as the URL a platform is known by: a scheme (https:// unless given), no trailing
    slash, no query."""
    text = text.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text}: not an http:// or https:// URL of a FlowUI platform")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class CredentialStore:
    """`servers/<host>_<port>.json` under `directory` (one platform's login each, mode 0600,
    in a 0700 folder) and `current_server.json`, naming the one the last login selected."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers = directory / "servers"
        self.current_file = directory / "current_server.json"

    def path(self, url: str) -> Path:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return self.servers / f"{parts.hostname}_{port}.json"

    def save(self, login: ServerLogin) -> Path:
        """Keep `login` (replacing that server's former one) and select its server."""
        path = self.path(login.url)
        self.servers.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)
        self.servers.chmod(0o700)
        _write_private(path, login.model_dump_json(indent=2) + "\n")
        _write_private(self.current_file, json.dumps({"url": login.url}) + "\n")
        return path

    def load(self, url: str) -> ServerLogin | None:
        path = self.path(url)
        try:
            return ServerLogin.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as error:
            raise RemoteError(
                f"{path}: unreadable login of {url} ({type(error).__name__})",
                hint=f"run `flowui logout {url}` and `flowui login {url}` again",
            ) from None

    def remove(self, url: str) -> Path | None:
        """Forget the login of `url` (and unselect it); the file removed, if there was one."""
        path = self.path(url)
        if self.current() == url:
            self.current_file.unlink(missing_ok=True)
        if not path.exists():
            return None
        path.unlink()
        return path

    def current(self) -> str | None:
        """The server the last login selected, if it is still logged in."""
        try:
            url = json.loads(self.current_file.read_text(encoding="utf-8"))["url"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return url if isinstance(url, str) and self.path(url).exists() else None


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only from the first byte."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class PlatformClient:
    """Requests to one platform with a bearer token; every failure is a `RemoteError`."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        import httpx

        self.url = url
        self._http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "flowui-cli"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise self._answer_error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs).json()

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (a download)."""
        with self._transport_errors(), self._http.stream("GET", path) as response:
            if response.is_error:
                response.read()
                raise self._answer_error(response)
            yield response

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        import httpx

        try:
            yield
        except httpx.ConnectError as error:
            failure = _tls_failure(error)
            if isinstance(failure, ssl.SSLCertVerificationError):
                raise RemoteError(
                    f"{self.url}: the server's certificate failed the check "
                    f"({failure.verify_message or failure})",
                    hint="give its CA with SSL_CERT_FILE, or check the URL's host name",
                ) from None
            if failure is not None:
                raise RemoteError(
                    f"{self.url}: the TLS handshake failed ({failure})",
                    hint="does the server speak https? give http:// if it does not",
                ) from None
            raise RemoteError(
                f"{self.url} is unreachable: {error or 'connection failed'}",
                hint="check the URL, and that the platform runs and this machine reaches it",
            ) from None
        except httpx.TimeoutException as error:
            raise RemoteError(
                f"{self.url} is unreachable: no answer in time ({type(error).__name__})",
                hint="check the URL, and that the platform runs and this machine reaches it",
            ) from None
        except httpx.TransportError as error:
            raise RemoteError(f"{self.url}: the connection failed: {error}") from None

    def _answer_error(self, response: httpx.Response) -> RemoteError:
        status = response.status_code
        try:
            error = response.json()["error"]
            message, details = str(error["message"]), list(error.get("details") or [])
        except (ValueError, KeyError, TypeError):
            text = " ".join(response.text.split())[:200]
            return RemoteError(f"{self.url} answered {status}: {text or response.reason_phrase}")
        if status == 401:
            return RemoteError(
                f"{self.url} refused the token: it is expired or revoked ({message})",
                hint=f"run `flowui login {self.url}` again",
                status=status,
            )
        found = _WORKSPACE_NOT_FOUND.fullmatch(message)
        if status == 404 and found:
            return RemoteError(
                f"no such workspace {found.group(1)} on {self.url}",
                hint="leave out --workspace for your first workspace, or give one of yours",
                status=status,
            )
        return RemoteError(f"{self.url}: {message}", status=status, details=details)


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a failed connection, if one is."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None
