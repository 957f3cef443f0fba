from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.dependencies.auth_dependencies import CurrentUser
from app.dependencies.clients import SettingsDep
from app.dependencies.get_db import DbSession
from app.dto.project_dto import ProjectListQuery, ProjectPage, ProjectRead
from app.dto.response import SuccessResponse
from app.dto.task import MAX_ID
from app.routes.openapi import error_responses
from app.routes.task_routes import cursor_codec
from app.services import project_service

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=SuccessResponse[ProjectPage], responses=error_responses(401))
async def list_projects(
    query: Annotated[ProjectListQuery, Query()],
    caller: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
) -> SuccessResponse[ProjectPage]:
    """Not-deleted projects of the caller's account with task counts by status type; a member
    sees only the projects in which tasks are assigned to them."""
    page = await project_service.list_projects(
        session,
        caller=caller,
        query=query,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    return SuccessResponse(data=page)


@router.get(
    "/{project_id}",
    response_model=SuccessResponse[ProjectRead],
    responses=error_responses(401, 404),
)
async def get_project(
    project_id: Annotated[int, Path(ge=1, le=MAX_ID, description="acehub project id")],
    caller: CurrentUser,
    session: DbSession,
) -> SuccessResponse[ProjectRead]:
    """One visible project with its task counts (404 when missing or not visible)."""
    project = await project_service.get_project(session, caller=caller, project_id=project_id)
    return SuccessResponse(data=project)
