"""Token sessions: issuing, rotating and revoking refresh tokens; local sign-in.

Each sign-in route makes one call here or in `user_services`: `login_local` (`POST
/auth/login`) and `user_services.login_with_ace` (`POST /user/login`) run the sign-in under
the rate limits (`guarded_sign_in`), then start a login session (`issue_session`).

A login starts a *family* of refresh tokens. Each refresh rotates: the presented token is
marked replaced and a successor is issued with the family's original expiry. Presenting a
token that was already rotated means it leaked: the whole family is revoked (RFC 9700 §4.14).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import jwt_handler
from app.auth.rate_limiter import AuthRateLimiter
from app.auth.security import token_digest, verify_password
from app.config import Settings
from app.connection.database import rows_affected
from app.dto.auth_dto import TokenPair
from app.dto.user_dto import LoginData
from app.errors import AppError, ErrorCode
from app.models import AceSession, AuthSource, RefreshToken, User
from app.models.base import utcnow

# Sign-in failures that count against the rate limits (not outages, not our own refusals).
_COUNTED_FAILURES = frozenset(
    {ErrorCode.INVALID_CREDENTIALS, ErrorCode.INVALID_ACCOUNT_ID, ErrorCode.ACCOUNT_INACTIVE}
)

log = logging.getLogger(__name__)

_SignedIn = TypeVar("_SignedIn")


async def guarded_sign_in(
    *,
    limiter: AuthRateLimiter,
    account_id: str,
    username: str,
    client_ip: str,
    sign_in: Callable[[], Awaitable[_SignedIn]],
) -> _SignedIn:
    """Run `sign_in` unless the failure budget is spent (then 429 without calling it), count
    its refusals against the budget, and remember the address of a success as known-good."""
    async with limiter.login_attempt(account_id=account_id, username=username, client_ip=client_ip):
        try:
            signed_in = await sign_in()
        except AppError as error:
            if error.code in _COUNTED_FAILURES:
                await limiter.record_login_failure(
                    account_id=account_id, username=username, client_ip=client_ip
                )
                log.info(
                    "sign-in refused", extra={"error_code": error.code, "client_ip": client_ip}
                )
            raise
        await limiter.record_login_success(
            account_id=account_id, username=username, client_ip=client_ip
        )
        return signed_in


async def login_local(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: AuthRateLimiter,
    account_id: str,
    username: str,
    password: str,
    client_ip: str,
) -> LoginData:
    """`POST /auth/login`: a local account's guarded sign-in, then a new login session."""
    user = await guarded_sign_in(
        limiter=limiter,
        account_id=account_id,
        username=username,
        client_ip=client_ip,
        sign_in=lambda: authenticate_local(
            session, account_id=account_id, username=username, password=password
        ),
    )
    tokens = await issue_session(session, settings=settings, user=user)
    return login_data(user, tokens)


def login_data(user: User, tokens: TokenPair) -> LoginData:
    return LoginData(
        guid=user.guid,
        user_id=user.id,
        ace_user_id=user.ace_user_id,
        username=user.username,
        account_id=user.account_id,
        role=user.role,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


async def issue_session(session: AsyncSession, *, settings: Settings, user: User) -> TokenPair:
    """Start a new login session (refresh token family) for `user`."""
    refresh = jwt_handler.create_refresh_token(
        settings=settings, sub=str(user.guid), role=user.role.value
    )
    return await _store_pair(
        session, settings=settings, user=user, family_id=uuid.uuid4(), refresh=refresh
    )


async def _store_pair(
    session: AsyncSession,
    *,
    settings: Settings,
    user: User,
    family_id: uuid.UUID,
    refresh: jwt_handler.IssuedToken,
) -> TokenPair:
    """Record `refresh` in its family and pair it with a fresh access token."""
    access = jwt_handler.create_access_token(
        settings=settings, sub=str(user.guid), role=user.role.value, sid=str(family_id)
    )
    session.add(
        RefreshToken(
            jti_hash=token_digest(refresh.jti),
            user_id=user.id,
            family_id=family_id,
            issued_at=utcnow(),
            expires_at=refresh.expires_at,
        )
    )
    await session.flush()
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=settings.access_token_expire_minutes * 60,
    )


async def refresh(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: AuthRateLimiter,
    client_ip: str,
    refresh_token: str,
) -> TokenPair:
    """Rotate `refresh_token`; the new access token carries the role stored now. Every
    attempt counts against the address's refresh limit (429 before anything is read).

    Reuse of a rotated token revokes the whole family, except a reuse within
    `REFRESH_REUSE_GRACE_SECONDS` of its rotation whose successor is still unused: that is a
    client racing itself (two tabs refreshing at once), answered 401 without the revocation.
    """
    await limiter.hit_refresh(client_ip=client_ip)
    claims = jwt_handler.decode_token(refresh_token, settings=settings, expected="refresh")
    digest = token_digest(claims.jti)
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.jti_hash == digest))
    if stored is None:
        raise AppError("This refresh token is not known", code=ErrorCode.TOKEN_INVALID)
    if stored.revoked_at is not None:
        if stored.replaced_by is not None:
            if await _lost_a_race(session, stored, settings):
                # Most likely two tabs of one client; logged, since a thief who refreshed
                # first would look the same.
                log.warning(
                    "rotated refresh token reused within the grace window",
                    extra={"event": "refresh_token_race", "user_id": stored.user_id},
                )
            else:
                await _revoke_family(session, stored.family_id)
                # The one place a service commits: the revocation must hold although this
                # request fails (and its unit of work would otherwise roll back).
                await session.commit()
                log.warning(
                    "refresh token replayed; session family revoked",
                    extra={"event": "refresh_token_reuse", "user_id": stored.user_id},
                )
        raise AppError("This refresh token was revoked", code=ErrorCode.TOKEN_REVOKED)
    if stored.expires_at <= utcnow():
        raise AppError("The refresh token has expired", code=ErrorCode.TOKEN_EXPIRED)

    user = await session.get(User, stored.user_id)
    if user is None or str(user.guid) != claims.sub:
        raise AppError("This refresh token is not valid", code=ErrorCode.TOKEN_INVALID)
    if not user.is_active or user.is_disabled:
        raise AppError("This account is no longer active", code=ErrorCode.TOKEN_REVOKED)

    # Claim the rotation atomically: of two concurrent refreshes exactly one updates the row.
    successor = jwt_handler.create_refresh_token(
        settings=settings, sub=claims.sub, role=user.role.value, expires_at=stored.expires_at
    )
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == stored.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), replaced_by=token_digest(successor.jti))
    )
    if rows_affected(claimed) != 1:
        raise AppError("This refresh token was revoked", code=ErrorCode.TOKEN_REVOKED)
    return await _store_pair(
        session, settings=settings, user=user, family_id=stored.family_id, refresh=successor
    )


async def _lost_a_race(session: AsyncSession, stored: RefreshToken, settings: Settings) -> bool:
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds)
    if stored.revoked_at is None or utcnow() - stored.revoked_at > grace:
        return False
    successor = await session.scalar(
        select(RefreshToken).where(RefreshToken.jti_hash == stored.replaced_by)
    )
    return successor is not None and successor.revoked_at is None


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return rows_affected(result)


async def logout(session: AsyncSession, *, user: User, session_id: str) -> int:
    """Revoke the login session the access token belongs to. When it was the user's last live
    session, the stored ACE session goes too (no sync runs on a signed-out user's behalf)."""
    try:
        family_id = uuid.UUID(session_id)
    except ValueError as exc:
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID) from exc
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.family_id == family_id,
            RefreshToken.user_id == user.id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    live = await session.scalar(
        select(RefreshToken.id)
        .where(
            RefreshToken.user_id == user.id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
        .limit(1)
    )
    if live is None:
        await session.execute(delete(AceSession).where(AceSession.user_id == user.id))
    return rows_affected(result)


async def revoke_user_sessions(session: AsyncSession, *, user_id: int) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return rows_affected(result)


async def authenticate_local(
    session: AsyncSession, *, account_id: str, username: str, password: str
) -> User:
    """A local account's sign-in; unknown user and wrong password fail alike, in equal time."""
    user = await session.scalar(
        select(User).where(
            User.account_id == account_id,
            User.username == username,
            User.auth_source == AuthSource.local,
        )
    )
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise AppError(
            "The account, username or password is incorrect", code=ErrorCode.INVALID_CREDENTIALS
        )
    if not user.is_active or user.is_disabled:
        raise AppError("This account is not active", code=ErrorCode.ACCOUNT_INACTIVE)
    user.last_login_at = utcnow()
    await session.flush()
    return user
