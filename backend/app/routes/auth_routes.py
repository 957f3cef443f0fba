from __future__ import annotations

from fastapi import APIRouter

from app.dependencies.auth_dependencies import CurrentUser, TokenClaimsDep
from app.dependencies.client_ip import ClientIp
from app.dependencies.clients import RateLimiterDep, SettingsDep
from app.dependencies.get_db import UnitOfWork
from app.dto.auth_dto import LogoutResult, RefreshRequest, TokenPair
from app.dto.response import SuccessResponse
from app.dto.user_dto import LoginData, UserRead, UserRequest
from app.routes.openapi import REFRESH_LINKS, SIGN_IN_LINKS, error_responses, with_links
from app.services import auth_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=SuccessResponse[LoginData],
    responses=with_links(error_responses(401, 403, 429), SIGN_IN_LINKS),
)
async def login(
    body: UserRequest,
    session: UnitOfWork,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    client_ip: ClientIp,
) -> SuccessResponse[LoginData]:
    """Sign in with a local acehub account (made with `acehub create-admin`)."""
    data = await auth_service.login_local(
        session,
        settings=settings,
        limiter=limiter,
        account_id=body.account_id,
        username=body.username,
        password=body.password,
        client_ip=client_ip,
    )
    return SuccessResponse(message="Signed in", data=data)


@router.patch(
    "/refresh",
    response_model=SuccessResponse[TokenPair],
    responses=with_links(error_responses(401, 429), REFRESH_LINKS),
)
async def refresh(
    body: RefreshRequest,
    session: UnitOfWork,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    client_ip: ClientIp,
) -> SuccessResponse[TokenPair]:
    """Trade a refresh token for a new access token and a new refresh token (the old one
    stops working; replaying it revokes the whole session)."""
    tokens = await auth_service.refresh(
        session,
        settings=settings,
        limiter=limiter,
        client_ip=client_ip,
        refresh_token=body.refresh_token,
    )
    return SuccessResponse(message="Tokens refreshed", data=tokens)


@router.post(
    "/logout", response_model=SuccessResponse[LogoutResult], responses=error_responses(401)
)
async def logout(
    user: CurrentUser, claims: TokenClaimsDep, session: UnitOfWork
) -> SuccessResponse[LogoutResult]:
    """End this login session: its refresh tokens stop working."""
    assert claims.sid is not None
    revoked = await auth_service.logout(session, user=user, session_id=claims.sid)
    return SuccessResponse(message="Signed out", data=LogoutResult(revoked_sessions=revoked))


@router.get("/me", response_model=SuccessResponse[UserRead], responses=error_responses(401))
async def me(user: CurrentUser) -> SuccessResponse[UserRead]:
    """The signed-in user."""
    return SuccessResponse(data=UserRead.model_validate(user))
