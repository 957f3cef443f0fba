"""The application's one error type, `AppError`, and its one table: an HTTP status per code.

Raise `AppError(message, code=ErrorCode.X)`; the status and title follow from `ERROR_STATUS`,
never from a class, and a caller that must react to one failure tests `.code`. A subclass
exists only where a code cannot say it: the ACE door's `AceError` (any ACE failure whatever
its code, what the client's retries and breaker handle) and `AceRequestRefusedError` (ACE
understood and refused; it shares ACE_BAD_RESPONSE with unusable answers, but callers skip it).

Nothing here imports the web framework, so services and clients can raise them freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_ACCOUNT_ID = "INVALID_ACCOUNT_ID"
    ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_WRONG_TYPE = "TOKEN_WRONG_TYPE"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    ACE_SESSION_EXPIRED = "ACE_SESSION_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    CSRF_FAILED = "CSRF_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    ACE_BAD_RESPONSE = "ACE_BAD_RESPONSE"
    ACE_UNAVAILABLE = "ACE_UNAVAILABLE"
    ACE_TIMEOUT = "ACE_TIMEOUT"
    DB_UNAVAILABLE = "DB_UNAVAILABLE"
    REPORT_TIMEOUT = "REPORT_TIMEOUT"
    REDIS_UNAVAILABLE = "REDIS_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# HTTP status and short title per code (the README's error table).
ERROR_STATUS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.INVALID_CREDENTIALS: (401, "Invalid Credentials"),
    ErrorCode.INVALID_ACCOUNT_ID: (401, "Invalid Account"),
    ErrorCode.ACCOUNT_INACTIVE: (403, "Account Inactive"),
    ErrorCode.TOKEN_MISSING: (401, "Token Missing"),
    ErrorCode.TOKEN_INVALID: (401, "Token Invalid"),
    ErrorCode.TOKEN_EXPIRED: (401, "Token Expired"),
    ErrorCode.TOKEN_WRONG_TYPE: (401, "Wrong Token Type"),
    ErrorCode.TOKEN_REVOKED: (401, "Token Revoked"),
    ErrorCode.ACE_SESSION_EXPIRED: (401, "ACE Session Expired"),
    ErrorCode.FORBIDDEN: (403, "Forbidden"),
    ErrorCode.NOT_FOUND: (404, "Not Found"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "Method Not Allowed"),
    ErrorCode.CONFLICT: (409, "Conflict"),
    ErrorCode.CSRF_FAILED: (403, "CSRF Check Failed"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "Payload Too Large"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported Media Type"),
    ErrorCode.VALIDATION_ERROR: (422, "Validation Error"),
    ErrorCode.RATE_LIMITED: (429, "Too Many Requests"),
    ErrorCode.ACE_BAD_RESPONSE: (502, "Bad Response From ACE"),
    ErrorCode.ACE_UNAVAILABLE: (503, "ACE Unavailable"),
    ErrorCode.ACE_TIMEOUT: (504, "ACE Timeout"),
    ErrorCode.DB_UNAVAILABLE: (503, "Database Unavailable"),
    ErrorCode.REPORT_TIMEOUT: (504, "Report Timeout"),
    ErrorCode.REDIS_UNAVAILABLE: (503, "Redis Unavailable"),
    ErrorCode.INTERNAL_ERROR: (500, "Internal Error"),
}

_TOKEN_CODES = frozenset(
    {
        ErrorCode.TOKEN_MISSING,
        ErrorCode.TOKEN_INVALID,
        ErrorCode.TOKEN_EXPIRED,
        ErrorCode.TOKEN_WRONG_TYPE,
        ErrorCode.TOKEN_REVOKED,
    }
)


class AppError(Exception):
    """An error with a stable `ErrorCode`; its HTTP status follows from the code."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.headers: dict[str, str] = dict(headers or {})
        if self.code in _TOKEN_CODES:
            self.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')

    @property
    def status_code(self) -> int:
        return ERROR_STATUS[self.code][0]

    @property
    def title(self) -> str:
        return ERROR_STATUS[self.code][1]


def retry_after_header(seconds: int) -> dict[str, str]:
    """The `Retry-After` header of an error that asks the caller to come back later."""
    return {"Retry-After": str(max(1, seconds))}
