"""The ACE client's errors: `app.errors.AceError` subclasses, one per `ErrorCode` it can raise.

Messages are written here, never copied from a request: no password, GUID or form field
ever reaches a message. ACE's own `ERRORDESCRIPTION` is not shown either (it is localised
and undocumented); its `ERRORNUMBER` is kept on the exception for logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.dto.response import ErrorCode
from app.errors import AceError


class AceCallError(AceError):
    """A failed ACE call, with what is safe to log about it."""

    def __init__(
        self,
        message: str,
        *,
        fct: str | None = None,
        upstream_status: int | None = None,
        error_number: int | None = None,
        code: ErrorCode | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, headers=headers)
        self.fct = fct
        self.upstream_status = upstream_status
        self.error_number = error_number


class AceUnavailableError(AceCallError):
    """Unreachable, refused, DNS failure, persistent 5xx or the breaker is open (503)."""

    code = ErrorCode.ACE_UNAVAILABLE


class AceThrottledError(AceUnavailableError):
    """ACE asked us to slow down (429, or 503 with `Retry-After`); carries `Retry-After`."""

    def __init__(self, message: str, *, retry_after: int, fct: str | None = None) -> None:
        seconds = max(1, retry_after)
        super().__init__(message, fct=fct, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class AceCircuitOpenError(AceUnavailableError):
    """The circuit breaker is open: the call failed fast without touching the network."""

    def __init__(self, message: str, *, retry_after: int, fct: str | None = None) -> None:
        seconds = max(1, retry_after)
        super().__init__(message, fct=fct, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class AceTimeoutError(AceCallError):
    """ACE was too slow: read timeout or the call's overall deadline (504)."""

    code = ErrorCode.ACE_TIMEOUT


class AceBadResponseError(AceCallError):
    """ACE answered something unusable: HTML, bad JSON, wrong shape, oversize, 3xx, 4xx (502)."""

    code = ErrorCode.ACE_BAD_RESPONSE


class AceRequestRefusedError(AceBadResponseError):
    """ACE answered `status: fail` to a call that is not about the session (e.g. bad filter)."""


class AceWriteRefusedError(AceRequestRefusedError):
    """ACE answered `status: fail` to a write (unknown task, closed period, hours out of
    range, no right to act for that user): nothing was written. Its `error_number` is ACE's,
    kept for logs; ACE publishes no list of them, so none decides anything."""


class AceSessionExpiredError(AceCallError):
    """The GUID is no longer valid; the caller must sign in to ACE again (401)."""

    code = ErrorCode.ACE_SESSION_EXPIRED


class AceLoginRefusedError(AceCallError):
    """`login` answered `fail`: wrong username or password (401)."""

    code = ErrorCode.INVALID_CREDENTIALS


class AceUnknownAccountError(AceLoginRefusedError):
    """The ACE account id does not exist (401)."""

    code = ErrorCode.INVALID_ACCOUNT_ID


class AceAccountInactiveError(AceLoginRefusedError):
    """The user exists but is inactive or denied access (403)."""

    code = ErrorCode.ACCOUNT_INACTIVE
