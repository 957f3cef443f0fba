from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.dependencies.auth_dependencies import AdminUser, require_roles
from app.dependencies.get_db import UnitOfWork
from app.dto.response import SuccessResponse
from app.dto.task import MAX_ID, MAX_OFFSET
from app.dto.user_dto import RoleUpdate, UserList, UserRead
from app.models import RoleEnum
from app.routes.openapi import error_responses
from app.services import user_services

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_roles(RoleEnum.admin))],
    responses=error_responses(401, 403),
)

# Bounded like every id: a larger number cannot be a row, and the database cannot bind it.
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="acehub user id")]


@router.get("/users", response_model=SuccessResponse[UserList])
async def list_users(
    admin: AdminUser,
    session: UnitOfWork,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SuccessResponse[UserList]:
    """The users of the admin's account."""
    users, total = await user_services.list_users(
        session, account_id=admin.account_id, limit=limit, offset=offset
    )
    items = [UserRead.model_validate(user) for user in users]
    return SuccessResponse(data=UserList(items=items, total=total, limit=limit, offset=offset))


@router.patch(
    "/users/{user_id}/role",
    response_model=SuccessResponse[UserRead],
    responses=error_responses(404, 409),
)
async def change_role(
    user_id: UserId, body: RoleUpdate, admin: AdminUser, session: UnitOfWork
) -> SuccessResponse[UserRead]:
    """Set a user's role; it is kept across the user's later ACE logins."""
    user = await user_services.set_role(session, actor=admin, user_id=user_id, role=body.role)
    return SuccessResponse(message="Role changed", data=UserRead.model_validate(user))


@router.post(
    "/users/{user_id}/deactivate",
    response_model=SuccessResponse[UserRead],
    responses=error_responses(404, 409),
)
async def deactivate(
    user_id: UserId, admin: AdminUser, session: UnitOfWork
) -> SuccessResponse[UserRead]:
    """Block a user at once: their tokens stop working and ACE logins are refused."""
    user = await user_services.set_disabled(session, actor=admin, user_id=user_id, disabled=True)
    return SuccessResponse(message="User deactivated", data=UserRead.model_validate(user))


@router.post(
    "/users/{user_id}/reactivate",
    response_model=SuccessResponse[UserRead],
    responses=error_responses(404, 409),
)
async def reactivate(
    user_id: UserId, admin: AdminUser, session: UnitOfWork
) -> SuccessResponse[UserRead]:
    """Lift a deactivation."""
    user = await user_services.set_disabled(session, actor=admin, user_id=user_id, disabled=False)
    return SuccessResponse(message="User reactivated", data=UserRead.model_validate(user))
