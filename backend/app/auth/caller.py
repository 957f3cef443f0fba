"""The caller as the read routes see it: the columns of the signed-in user that decide what
they may see, and the checks every request repeats on them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, bindparam, exists

from app.errors import AppError, ErrorCode
from app.models import RefreshToken, RoleEnum, User


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in user's id, account, role and active/disabled flags, re-read on every
    request (`dependencies.auth_dependencies.ReadCaller`), like the whole `User` the routes
    that write load (`CurrentUser`)."""

    id: int
    account_id: str
    role: RoleEnum
    is_active: bool
    is_disabled: bool


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Who a verified access token names: the user's guid and the login session (`sid`, the
    refresh token family). A route that checks the caller inside its own statement takes
    this instead of a `Caller` (`GET /tasks/{user_id}`)."""

    guid: uuid.UUID
    sid: uuid.UUID


def session_live() -> ColumnElement[bool]:
    """The token's login session (`sid`) still has a token that is not revoked: logout,
    a replayed refresh token or an admin's revocation end it, and its access tokens with it.
    Correlated to the enclosing statement's `users` row."""
    return (
        exists()
        .where(
            RefreshToken.family_id == bindparam("sid"),
            RefreshToken.user_id == User.id,
            RefreshToken.revoked_at.is_(None),
        )
        .label("session_live")
    )


class _Activity(Protocol):
    @property
    def is_active(self) -> bool: ...

    @property
    def is_disabled(self) -> bool: ...


_ActiveT = TypeVar("_ActiveT", bound=_Activity)


def check_active(user: _ActiveT | None, *, session_live: bool) -> _ActiveT:
    """The caller as re-read for this request, or the 401 that ends the request: gone
    (`TOKEN_INVALID`), deactivated or disabled, or signed out (`TOKEN_REVOKED`)."""
    if user is None:
        raise AppError("The token's user no longer exists", code=ErrorCode.TOKEN_INVALID)
    if not user.is_active or user.is_disabled:
        raise AppError("This account is no longer active", code=ErrorCode.TOKEN_REVOKED)
    if not session_live:
        raise AppError("This session was signed out", code=ErrorCode.TOKEN_REVOKED)
    return user
