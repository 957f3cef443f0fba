"""One set of handlers: every error leaves the API as an `ErrorResponse` with its status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.connection.faults import is_unavailable
from app.dto.response import ErrorResponse
from app.errors import ERROR_STATUS, AppError, ErrorCode
from app.request_context import REQUEST_ID_HEADER, current_request_id, request_id_var

log = logging.getLogger("acehub.errors")

_HTTP_STATUS_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    401: ErrorCode.TOKEN_MISSING,
    403: ErrorCode.FORBIDDEN,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(
    code: ErrorCode,
    message: str,
    *,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    status_code: int | None = None,
) -> JSONResponse:
    status, title = ERROR_STATUS[code]
    body = ErrorResponse(error=title, error_code=code, message=message, data=data)
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code or status, headers=dict(headers or {})
    )


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        log.warning("request failed: %s", exc.code, extra={"error_code": exc.code})
    return error_response(exc.code, exc.message, data=exc.data, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in item["loc"]) for item in problems[:5])
    return error_response(
        ErrorCode.VALIDATION_ERROR, f"The request is not valid: check {fields}", data=problems
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, AppError):
        # FastAPI wraps errors raised while reading the body (e.g. our body cap) in a 400.
        return await _app_error(request, exc.__cause__)
    code = _HTTP_STATUS_CODES.get(exc.status_code)
    status_code: int | None = exc.status_code
    if code is None:
        code = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR
        # FastAPI's 400 for a body it cannot decode (e.g. not UTF-8) is a validation error:
        # answered with that code's status, 422, like a body that is not JSON.
        status_code = None if code is ErrorCode.VALIDATION_ERROR else exc.status_code
    messages = {
        ErrorCode.NOT_FOUND: "No such resource",
        ErrorCode.METHOD_NOT_ALLOWED: "This method is not allowed on this resource",
    }
    message = messages.get(code) or str(exc.detail)
    return error_response(code, message, headers=exc.headers, status_code=status_code)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", type(exc).__name__)
    return error_response(
        ErrorCode.DB_UNAVAILABLE,
        "The database is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    log.info("integrity error: %s", type(getattr(exc, "orig", exc)).__name__)
    return error_response(ErrorCode.CONFLICT, "The change clashes with data already stored")


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # This handler runs outside the request-id middleware, so restore the id for the log.
    request_id = current_request_id() or request.scope.get("state", {}).get("request_id", "-")
    token = request_id_var.set(request_id)
    try:
        log.error("unhandled error", exc_info=exc)
    finally:
        request_id_var.reset(token)
    return error_response(
        ErrorCode.INTERNAL_ERROR,
        f"An unexpected error occurred; quote request id {request_id} when reporting it",
        data={"request_id": request_id},
        headers={REQUEST_ID_HEADER: request_id},
    )


def is_connection_error(exc: BaseException) -> bool:
    """True when a database error means the server is unreachable, not that SQL was wrong
    (the classification lives with the database door: `connection.faults`)."""
    return is_unavailable(exc)


async def _any_error(request: Request, exc: Exception) -> JSONResponse:
    # A driver's own error can escape SQLAlchemy's wrapping (a refused or timed-out connect
    # raises the driver's error as it is): still a 503, not a 500.
    if is_connection_error(exc):
        return await _database_unavailable(request, exc)
    return await _unhandled(request, exc)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_connection_error(exc):
        return await _database_unavailable(request, exc)
    if isinstance(exc, sa_exc.IntegrityError):
        return await _integrity_error(request, exc)
    return await _unhandled(request, exc)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(Exception, _any_error)
