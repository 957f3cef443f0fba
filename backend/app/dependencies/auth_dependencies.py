"""Who is calling: the bearer token, the user behind it (re-read per request) and role guards."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from app.auth import jwt_handler
from app.dependencies.clients import SettingsDep
from app.dependencies.get_db import DbSession
from app.dto.response import ErrorCode
from app.errors import AuthenticationError, PermissionDeniedError
from app.models import RoleEnum, User

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="The `access_token` from `POST /user/login` or `POST /auth/login`.",
)


async def get_token_claims(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> jwt_handler.TokenClaims:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError(
            "Send an access token: Authorization: Bearer <token>", code=ErrorCode.TOKEN_MISSING
        )
    return jwt_handler.decode_token(credentials.credentials, settings=settings, expected="access")


TokenClaimsDep = Annotated[jwt_handler.TokenClaims, Depends(get_token_claims)]


async def get_current_user(claims: TokenClaimsDep, session: DbSession) -> User:
    """The signed-in user, loaded fresh: a demotion or deactivation applies at once."""
    try:
        guid = uuid.UUID(claims.sub)
    except ValueError as exc:
        raise AuthenticationError("The token is not valid") from exc
    user = await session.scalar(select(User).where(User.guid == guid))
    if user is None:
        raise AuthenticationError("The token's user no longer exists")
    if not user.is_active or user.is_disabled:
        raise AuthenticationError("This account is no longer active", code=ErrorCode.TOKEN_REVOKED)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


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
