"""One JSON error shape for every failure: `{"error": {"status", "code", "message", "details"}}`.

Each detail names where the problem is (a JSON pointer into the request, such as
`/body/tasks/0/inputs/x`, or `/query/limit`) and what it is.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    502: "airflow_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    where: str
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    """What every error response holds."""

    error: ErrorBody


class ApiError(Exception):
    """An error the client can act on; raised anywhere, answered in the one shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.code = code or _CODES.get(status, "error")
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def pointer(location: tuple[Any, ...] | list[Any]) -> str:
    """A JSON pointer (RFC 6901) for a location such as ("body", "tasks", 0, "id")."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def _response(
    status: int,
    code: str,
    message: str,
    details: list[ErrorDetail],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(status=status, code=code, message=message, details=details)
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _response(error.status, error.code, error.message, error.details, error.headers)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        ErrorDetail(where=pointer(item.get("loc", ())), message=str(item.get("msg", "invalid")))
        for item in error.errors()
    ]
    count = len(details)
    message = f"the request is invalid ({count} problem{'s' if count != 1 else ''})"
    return _response(422, "invalid", message, details)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _CODES.get(error.status_code, "error")
    headers = dict(error.headers) if error.headers else None
    return _response(error.status_code, code, str(error.detail), [], headers)


# How psycopg2 refuses text with a NUL character (PostgreSQL cannot store one).
_NUL_REFUSED = "cannot contain NUL (0x00) characters"


async def _unstorable_value(request: Request, error: Exception) -> JSONResponse:
    # A value the database refuses (text with NUL on PostgreSQL, too long for its column):
    # the request's fault, though no route checked for it. Any other ValueError is a bug.
    if not isinstance(error, DataError) and _NUL_REFUSED not in str(error):
        return await _unexpected_error(request, error)
    log.info("database refused a value: %s", error)
    message = "a value cannot be stored: text must not contain NUL characters, nor exceed its limit"
    return _response(422, "invalid", message, [])


async def _unexpected_error(_request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=error)
    return _response(500, "internal_error", "internal error; the server log has the details", [])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(ValueError, _unstorable_value)
    app.add_exception_handler(Exception, _unexpected_error)
