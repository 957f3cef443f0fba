"""The dashboard's session: acehub's own tokens in HttpOnly cookies, and CSRF tokens.

The pages sign in with the same services as `POST /user/login` and `POST /auth/login`, and
keep the access and refresh token in two cookies (HttpOnly, SameSite=Lax, Secure in
production, path `/dashboard`). Each page re-checks the access token exactly like a bearer
request (signature, the user's role and active flag, the session not signed out); an expired
one is refreshed from the refresh token on the way, and the new pair rides on the answer. Any
other refusal sends the browser to the sign-in page.

CSRF: every form that changes something carries a token that is an HMAC of the login
session's id (signed in), or of a random nonce kept in a cookie (the sign-in form); the
server recomputes it. A page of another site can neither read it nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.datastructures import FormData

from app.auth import jwt_handler
from app.auth.caller import Caller, SessionKey
from app.auth.rate_limiter import AuthRateLimiter
from app.config import Settings
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.dependencies.auth_dependencies import get_current_user
from app.dependencies.client_ip import ClientIp
from app.dto.auth_dto import TokenPair
from app.dto.user_dto import LoginData
from app.errors import AppError, ErrorCode
from app.models import User
from app.services import auth_service

PATH = "/dashboard"
LOGIN_PATH = f"{PATH}/login"
ACCESS_COOKIE = "acehub_access"
REFRESH_COOKIE = "acehub_refresh"
LOGIN_NONCE_COOKIE = "acehub_login_nonce"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No usable session: the browser is sent to the sign-in page (see `main.py`)."""


@dataclass(frozen=True)
class PageSession:
    """The signed-in person of one page request."""

    user: User
    session_id: str
    csrf_token: str
    refreshed: TokenPair | None = None

    @property
    def caller(self) -> Caller:
        user = self.user
        return Caller(user.id, user.account_id, user.role, user.is_active, user.is_disabled)

    @property
    def session_key(self) -> SessionKey:
        return SessionKey(self.user.guid, uuid.UUID(self.session_id))


def _mac(settings: Settings, purpose: str, value: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def session_csrf(settings: Settings, session_id: str) -> str:
    return _mac(settings, "csrf", session_id)


def login_csrf(settings: Settings, nonce: str) -> str:
    return _mac(settings, "login-csrf", nonce)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(form: FormData, expected: str) -> None:
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise AppError(
            "The form is out of date or did not come from acehub: reload the page and try again",
            code=ErrorCode.CSRF_FAILED,
        )


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


def set_session_cookies(
    response: Response, settings: Settings, tokens: TokenPair | LoginData
) -> None:
    # Both cookies live as long as the refresh token: an expired access token must still
    # arrive, so that it can be refreshed.
    lifetime = settings.refresh_token_expire_days * 24 * 3600
    _cookie(response, settings, ACCESS_COOKIE, tokens.access_token, lifetime)
    _cookie(response, settings, REFRESH_COOKIE, tokens.refresh_token, lifetime)


def set_login_nonce(response: Response, settings: Settings, nonce: str) -> None:
    _cookie(response, settings, LOGIN_NONCE_COOKIE, nonce, 3600)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(
            name, path=PATH, httponly=True, samesite="lax", secure=settings.is_production
        )


async def _resume(
    database: Database,
    settings: Settings,
    limiter: AuthRateLimiter,
    client_ip: str,
    access: str,
    refresh: str | None,
) -> PageSession:
    refreshed: TokenPair | None = None
    async with unit_of_work(database) as session:
        try:
            claims = jwt_handler.decode_token(access, settings=settings, expected="access")
        except AppError as exc:
            if exc.code is not ErrorCode.TOKEN_EXPIRED or not refresh:
                raise
            refreshed = await auth_service.refresh(
                session,
                settings=settings,
                limiter=limiter,
                client_ip=client_ip,
                refresh_token=refresh,
            )
            claims = jwt_handler.decode_token(
                refreshed.access_token, settings=settings, expected="access"
            )
        user = await get_current_user(claims, session)
    assert claims.sid is not None
    return PageSession(user, claims.sid, session_csrf(settings, claims.sid), refreshed)


async def get_page_session(request: Request, client_ip: ClientIp) -> PageSession:
    """The signed-in person, from the cookies; `SignInRequired` when there is none."""
    access = request.cookies.get(ACCESS_COOKIE)
    if not access:
        raise SignInRequired
    app_state = request.app.state
    try:
        return await _resume(
            app_state.db,
            app_state.settings,
            app_state.rate_limiter,
            client_ip,
            access,
            request.cookies.get(REFRESH_COOKIE),
        )
    except AppError as exc:
        if exc.code is ErrorCode.RATE_LIMITED:
            raise
        raise SignInRequired from exc


SignedIn = Annotated[PageSession, Depends(get_page_session)]
"""The dashboard's caller (like `CurrentUser`, from the session cookies)."""


def carry_session(response: Response, page: PageSession, settings: Settings) -> Response:
    """Put a refreshed token pair on the answer (every page answer goes through this)."""
    if page.refreshed is not None:
        set_session_cookies(response, settings, page.refreshed)
    return response
