"""Who is calling: the bearer token, the user behind it (re-read per request) and role guards."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select

from app.auth import jwt_handler
from app.config import Settings
from app.dependencies.clients import SettingsDep
from app.dependencies.get_db import DbSession, ReadConnection
from app.dto.response import ErrorCode
from app.errors import AuthenticationError, PermissionDeniedError
from app.models import RoleEnum, User
from app.services.task_service import ReadStatement

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
        raise AuthenticationError(
            "Send an access token: Authorization: Bearer <token>", code=ErrorCode.TOKEN_MISSING
        )
    return jwt_handler.decode_token(credentials.credentials, settings=settings, expected="access")


async def get_token_claims(
    settings: SettingsDep, credentials: BearerCredentials
) -> jwt_handler.TokenClaims:
    return _access_claims(settings, credentials)


TokenClaimsDep = Annotated[jwt_handler.TokenClaims, Depends(get_token_claims)]


def _token_guid(claims: jwt_handler.TokenClaims) -> uuid.UUID:
    try:
        return uuid.UUID(claims.sub)
    except ValueError as exc:
        raise AuthenticationError("The token is not valid") from exc


class _Activity(Protocol):
    @property
    def is_active(self) -> bool: ...

    @property
    def is_disabled(self) -> bool: ...


_ActiveT = TypeVar("_ActiveT", bound=_Activity)


def _check_active(user: _ActiveT | None) -> _ActiveT:
    if user is None:
        raise AuthenticationError("The token's user no longer exists")
    if not user.is_active or user.is_disabled:
        raise AuthenticationError("This account is no longer active", code=ErrorCode.TOKEN_REVOKED)
    return user


async def get_current_user(claims: TokenClaimsDep, session: DbSession) -> User:
    """The signed-in user, loaded fresh: a demotion or deactivation applies at once."""
    guid = _token_guid(claims)
    return _check_active(await session.scalar(select(User).where(User.guid == guid)))


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True, slots=True)
class SignedInCaller:
    """The caller as the read routes need it (a `task_service.Caller`): the columns that
    decide what they may see, re-read on every request like `get_current_user`'s `User`."""

    id: int
    account_id: str
    role: RoleEnum
    is_active: bool
    is_disabled: bool


CALLER_STATEMENT = ReadStatement(
    select(User.id, User.account_id, User.role, User.is_active, User.is_disabled).where(
        User.guid == bindparam("guid")
    )
)
"""The caller by token subject: one Core statement (no ORM entity load); on PostgreSQL it
goes straight to the session connection's driver like the task statements."""


async def get_signed_in_caller(
    request: Request, credentials: BearerCredentials, connection: ReadConnection
) -> SignedInCaller:
    """`get_current_user` for routes that only read: the same token checks and the same
    re-read of the user, on their `ReadConnection`, loading only the columns visibility needs.
    (One dependency instead of a chain: FastAPI's per-dependency cost shows on the hot path.)"""
    settings: Settings = request.app.state.settings
    guid = _token_guid(_access_claims(settings, credentials))
    rows = await CALLER_STATEMENT.rows(connection, {"guid": guid})
    if not rows:
        raise AuthenticationError("The token's user no longer exists")
    user_id, account_id, role, is_active, is_disabled = rows[0]
    caller = SignedInCaller(user_id, account_id, RoleEnum(role), is_active, is_disabled)
    _check_active(caller)
    return caller


ReadCaller = Annotated[SignedInCaller, Depends(get_signed_in_caller)]


def require_roles(*roles: RoleEnum) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only the given roles through (403 `FORBIDDEN` otherwise)."""
    allowed = frozenset(roles)

    async def guard(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise PermissionDeniedError("Your role does not allow this")
        return user

    return guard


AdminUser = Annotated[User, Depends(require_roles(RoleEnum.admin))]
ManagerUser = Annotated[User, Depends(require_roles(RoleEnum.admin, RoleEnum.manager))]
