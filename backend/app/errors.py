"""The application's one error hierarchy. Services raise these; one set of handlers renders them.

Nothing here imports the web framework, so services and clients can raise them freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.dto.response import ErrorCode

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
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "Payload Too Large"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported Media Type"),
    ErrorCode.VALIDATION_ERROR: (422, "Validation Error"),
    ErrorCode.RATE_LIMITED: (429, "Too Many Requests"),
    ErrorCode.ACE_BAD_RESPONSE: (502, "Bad Response From ACE"),
    ErrorCode.ACE_UNAVAILABLE: (503, "ACE Unavailable"),
    ErrorCode.ACE_TIMEOUT: (504, "ACE Timeout"),
    ErrorCode.DB_UNAVAILABLE: (503, "Database Unavailable"),
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

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
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


class AuthenticationError(AppError):
    code = ErrorCode.TOKEN_INVALID


class PermissionDeniedError(AppError):
    code = ErrorCode.FORBIDDEN


class NotFoundError(AppError):
    code = ErrorCode.NOT_FOUND


class ConflictError(AppError):
    code = ErrorCode.CONFLICT


class ValidationFailed(AppError):
    """Business-level validation of a payload (e.g. a batch referencing missing rows)."""

    code = ErrorCode.VALIDATION_ERROR


class RateLimitedError(AppError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class DatabaseUnavailableError(AppError):
    code = ErrorCode.DB_UNAVAILABLE


class AceError(AppError):
    """Base of every failure talking to AceProject."""

    code = ErrorCode.ACE_UNAVAILABLE
