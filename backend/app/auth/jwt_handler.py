"""acehub's own JWTs (PyJWT): short-lived access tokens and rotating refresh tokens.

Claims (all required): `sub` (the user's guid), `role`, `type` (`access` | `refresh`), `jti`,
`iat`, `exp`, `iss`, `aud`; access tokens also carry `sid`, the login session (the refresh
token family). The algorithm is pinned on decode, and each token type has its own audience,
so a token of one type can never pass as the other (RFC 8725 §3.12).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from app.config import Settings
from app.errors import AppError, ErrorCode

TokenType = Literal["access", "refresh"]
LEEWAY_SECONDS = 10
_REQUIRED = ["sub", "role", "type", "jti", "iat", "exp", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    role: str
    type: TokenType
    jti: str
    issued_at: datetime
    expires_at: datetime
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def _audience(settings: Settings, token_type: TokenType) -> str:
    return settings.jwt_audience if token_type == "access" else f"{settings.jwt_audience}:refresh"


def _encode(
    *,
    settings: Settings,
    token_type: TokenType,
    sub: str,
    role: str,
    lifetime: timedelta,
    sid: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    now = datetime.now(UTC)
    jti = uuid.uuid4().hex
    expiry = expires_at or now + lifetime
    claims: dict[str, object] = {
        "sub": sub,
        "role": role,
        "type": token_type,
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(expiry.timestamp()),
        "iss": settings.jwt_issuer,
        "aud": _audience(settings, token_type),
    }
    if sid is not None:
        claims["sid"] = sid
    token = jwt.encode(
        claims,
        settings.secret_key.get_secret_value(),
        algorithm=settings.algorithm,
        headers={"typ": "JWT"},
    )
    return IssuedToken(
        token=token, jti=jti, expires_at=datetime.fromtimestamp(int(expiry.timestamp()), UTC)
    )


def create_access_token(*, settings: Settings, sub: str, role: str, sid: str) -> IssuedToken:
    return _encode(
        settings=settings,
        token_type="access",
        sub=sub,
        role=role,
        sid=sid,
        lifetime=timedelta(minutes=settings.access_token_expire_minutes),
    )


def create_refresh_token(
    *, settings: Settings, sub: str, role: str, expires_at: datetime | None = None
) -> IssuedToken:
    """A refresh token; rotation passes the family's `expires_at`, so a session never
    outlives `REFRESH_TOKEN_EXPIRE_DAYS` from its login however often it is refreshed."""
    return _encode(
        settings=settings,
        token_type="refresh",
        sub=sub,
        role=role,
        lifetime=timedelta(days=settings.refresh_token_expire_days),
        expires_at=expires_at,
    )


def decode_token(token: str, *, settings: Settings, expected: TokenType) -> TokenClaims:
    """Verify signature, algorithm, issuer, audience, times and type; raise `AppError` with
    `TOKEN_EXPIRED`, `TOKEN_WRONG_TYPE` or `TOKEN_INVALID` otherwise."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[settings.algorithm],
            audience=[_audience(settings, "access"), _audience(settings, "refresh")],
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": _REQUIRED, "enforce_minimum_key_length": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AppError("The token has expired", code=ErrorCode.TOKEN_EXPIRED) from exc
    except jwt.PyJWTError as exc:
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID) from exc

    token_type = payload.get("type")
    if token_type not in ("access", "refresh") or payload.get("aud") != _audience(
        settings, token_type
    ):
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID)
    if token_type != expected:
        raise AppError(
            f"A {token_type} token was sent where a {expected} token is needed",
            code=ErrorCode.TOKEN_WRONG_TYPE,
        )
    if expected == "access" and not isinstance(payload.get("sid"), str):
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID)
    if not all(isinstance(payload[name], str) for name in ("sub", "role", "jti")):
        raise AppError("The token is not valid", code=ErrorCode.TOKEN_INVALID)
    return TokenClaims(
        sub=payload["sub"],
        role=payload["role"],
        type=token_type,
        jti=payload["jti"],
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        sid=payload.get("sid"),
    )
