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

from flowui.workflows.validate import json_pointer

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
    429: "too_many_requests",
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


_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "No valid bearer token.",
    403: "The caller may not do this.",
    404: "No such resource for the caller (a workspace's resources do not exist for non-members).",
    409: "It conflicts with the resource's state.",
    413: "The upload is larger than the server takes.",
    415: "The body is not of a type the operation takes.",
    422: "The request is invalid: each detail says where (a JSON pointer) and why.",
    429: "Too many failed sign-ins: the message and Retry-After say how long to wait.",
    502: "A service the server relies on (Airflow, a bucket) failed.",
    503: "A service the operation needs is not available here (Airflow, the sandbox).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses, each with the one error body."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


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
        ErrorDetail(
            where=json_pointer(*item.get("loc", ())), message=str(item.get("msg", "invalid"))
        )
        for item in error.errors()
    ]
    count = len(details)
    message = f"the request is invalid ({count} problem{'s' if count != 1 else ''})"
    return _response(422, "invalid", message, details)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _CODES.get(error.status_code, "error")
    headers = dict(error.headers) if error.headers else None
    message = str(error.detail)
    if error.status_code == 405 and headers and headers.get("Allow"):
        message = f"{request.method} is not allowed on {request.url.path}: use {headers['Allow']}"
    return _response(error.status_code, code, message, [], headers)


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
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(ValueError, _unstorable_value)
    app.add_exception_handler(Exception, _unexpected_error)
