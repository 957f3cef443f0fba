"""Who is calling: the bearer token, the user behind it (re-read per request) and role guards.

Two shapes of the caller, by what the route does: `CurrentUser`, the whole `User` loaded in
the request's unit of work, for routes that write; and `ReadCaller`, a `Caller` (the columns
visibility depends on) read on the route's `ReadConnection`, for routes that only read.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select

from app.auth import jwt_handler
from app.auth.caller import Caller, SessionKey, check_active, session_live
from app.config import Settings
from app.connection.read_statement import ReadStatement
from app.dependencies.clients import SettingsDep
from app.dependencies.get_db import ReadConnection, UnitOfWork
from app.errors import AppError, ErrorCode
from app.models import RoleEnum, User

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="The `access_token` from `POST /user/login` or `POST /auth/login`.",
)


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _access_claims(
    settings: Settings, credentials: HTTPAuthorizationCredentials | None
) -> jwt_handler.TokenClaims:
    if credentials is None or not credentials.credentials:
        raise AppError(
            "Send an access token: Authorization: Bearer <token>", code=ErrorCode.TOKEN_MISSING
        )
    return jwt_handler.decode_token(credentials.credentials, settings=settings, expected="access")


async def get_token_claims(
    settings: SettingsDep, credentials: BearerCredentials
) -> jwt_handler.TokenClaims:
    return _access_claims(settings, credentials)


TokenClaimsDep = Annotated[jwt_handler.TokenClaims, Depends(get_token_claims)]


def _token_ids(claims: jwt_handler.TokenClaims) -> SessionKey:
    """The user's guid and the login session (refresh token family) an access token names."""
    try:
        return SessionKey(uuid.UUID(claims.sub), uuid.UUID(claims.sid or ""))
    except ValueError as exc:
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID) from exc


async def get_current_user(claims: TokenClaimsDep, session: UnitOfWork) -> User:
    """The signed-in user, loaded fresh with whether their session is still live: a demotion,
    a deactivation or a logout applies at once."""
    key = _token_ids(claims)
    row = (
        await session.execute(
            select(User, session_live()).where(User.guid == key.guid), {"sid": key.sid}
        )
    ).first()
    user, live = (row[0], bool(row[1])) if row else (None, False)
    return check_active(user, session_live=live)


CurrentUser = Annotated[User, Depends(get_current_user)]
"""The signed-in user, in the request's unit of work: for routes that write."""


async def release_caller_check(_user: CurrentUser, session: UnitOfWork) -> None:
    """For a route whose slow work (reading a large body, calling ACE) must not hold a
    transaction: the caller check (`CurrentUser`) ran in the request's unit of work, and this
    ends that transaction and gives its connection back (on SQLite, the write lock) before the
    route runs. The session stays usable: its next statement begins a new transaction, which
    `get_db` commits as usual; the `User` stays readable (detached, its columns loaded).
    Declared in the route's `dependencies=[...]`."""
    await session.close()


CALLER_STATEMENT = ReadStatement(
    select(
        User.id, User.account_id, User.role, User.is_active, User.is_disabled, session_live()
    ).where(User.guid == bindparam("guid"))
)
"""The caller by token subject, and whether the token's session is live: one Core statement
(no ORM entity load); on PostgreSQL it goes straight to the read connection's driver like
the task statements."""


async def get_read_caller(
    request: Request, credentials: BearerCredentials, connection: ReadConnection
) -> Caller:
    """`get_current_user` for routes that only read: the same token checks and the same
    re-read of the user, on their `ReadConnection`, loading only the columns visibility needs.
    (One dependency instead of a chain: FastAPI's per-dependency cost shows on the hot path.)"""
    settings: Settings = request.app.state.settings
    key = _token_ids(_access_claims(settings, credentials))
    rows = await CALLER_STATEMENT.rows(connection, {"guid": key.guid, "sid": key.sid})
    if not rows:
        raise AppError("The token's user no longer exists", code=ErrorCode.TOKEN_INVALID)
    user_id, account_id, role, is_active, is_disabled, live = rows[0]
    caller = Caller(user_id, account_id, RoleEnum(role), is_active, is_disabled)
    return check_active(caller, session_live=bool(live))


ReadCaller = Annotated[Caller, Depends(get_read_caller)]
"""The signed-in caller, read on the route's `ReadConnection`: for routes that only read."""


async def get_session_key(request: Request, credentials: BearerCredentials) -> SessionKey:
    """The verified access token's user and session, for a route whose own statement re-reads
    the caller (with every check `get_read_caller` makes) in the same round trip as its data:
    the signature, expiry and type are checked here, the rest by that statement."""
    settings: Settings = request.app.state.settings
    return _token_ids(_access_claims(settings, credentials))


SessionKeyDep = Annotated[SessionKey, Depends(get_session_key)]


def require_roles(*roles: RoleEnum) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only the given roles through (403 `FORBIDDEN` otherwise)."""
    allowed = frozenset(roles)

    async def guard(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise AppError("Your role does not allow this", code=ErrorCode.FORBIDDEN)
        return user

    return guard


AdminUser = Annotated[User, Depends(require_roles(RoleEnum.admin))]
ManagerUser = Annotated[User, Depends(require_roles(RoleEnum.admin, RoleEnum.manager))]
