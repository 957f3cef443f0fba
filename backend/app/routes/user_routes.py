from __future__ import annotations

from fastapi import APIRouter

from app.dependencies.client_ip import ClientIp
from app.dependencies.clients import AceClientDep, GuidCipherDep, RateLimiterDep, SettingsDep
from app.dependencies.get_db import UnitOfWork
from app.dto.response import SuccessResponse
from app.dto.user_dto import LoginData, UserRequest
from app.routes.openapi import SIGN_IN_LINKS, error_responses, with_links
from app.services import user_services

router = APIRouter(prefix="/user", tags=["auth"])


@router.post(
    "/login",
    response_model=SuccessResponse[LoginData],
    responses=with_links(error_responses(401, 403, 429, 502, 504), SIGN_IN_LINKS),
)
async def login(
    body: UserRequest,
    session: UnitOfWork,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
    limiter: RateLimiterDep,
    client_ip: ClientIp,
) -> SuccessResponse[LoginData]:
    """Sign in with an ACE account id, username and password; returns acehub's tokens."""
    data = await user_services.login_with_ace(
        session,
        settings=settings,
        ace=ace,
        cipher=cipher,
        limiter=limiter,
        account_id=body.account_id,
        username=body.username,
        password=body.password,
        client_ip=client_ip,
    )
    return SuccessResponse(message="Signed in", data=data)
