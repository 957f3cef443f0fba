"""The ACE client's errors: `AceError` for every failure, its `code` saying which one.

Two classes, because two things are not a code (see `app.errors`): `AceError` is any ACE
failure, whatever its code, so the client's retries and breaker handle ACE's failures and
never a local one, and it carries what is safe to log; `AceRequestRefusedError` is ACE's
`status: fail` to a request that is not about the session (a bad filter, a list refused to
a normal user, a refused write): it shares ACE_BAD_RESPONSE with unusable answers, but a
caller may skip it where an unusable answer must fail.

Messages are written here and in the client, never copied from a request: no password, GUID
or form field ever reaches a message. ACE's own `ERRORDESCRIPTION` is not shown either (it is
localised and undocumented); its `ERRORNUMBER` is kept on the exception for logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.errors import AppError, ErrorCode


class AceError(AppError):
    """A failed ACE call, with what is safe to log about it."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        fct: str | None = None,
        upstream_status: int | None = None,
        error_number: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, headers=headers)
        self.fct = fct
        self.upstream_status = upstream_status
        self.error_number = error_number


class AceRequestRefusedError(AceError):
    """ACE answered `status: fail` to a call that is not about the session: nothing was
    done (for a write, nothing was written). Its `error_number` is ACE's, kept for logs; ACE
    publishes no list of them, so none decides anything."""

    def __init__(
        self, message: str, *, fct: str | None = None, error_number: int | None = None
    ) -> None:
        super().__init__(
            message, code=ErrorCode.ACE_BAD_RESPONSE, fct=fct, error_number=error_number
        )
