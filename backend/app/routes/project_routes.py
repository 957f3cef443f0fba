from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.dependencies.auth_dependencies import CurrentUser, ReadCaller, release_caller_check
from app.dependencies.clients import AceClientDep, DatabaseDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import ReadConnection
from app.dto.project_dto import ProjectListQuery, ProjectPage, ProjectRead
from app.dto.response import SuccessResponse
from app.dto.sync_dto import FetchResult
from app.dto.task import MAX_ID
from app.routes.openapi import ACE_CALL_ERRORS, error_responses
from app.services import project_service
from app.services.pagination import cursor_codec

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=SuccessResponse[ProjectPage], responses=error_responses(401))
async def list_projects(
    query: Annotated[ProjectListQuery, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    settings: SettingsDep,
) -> SuccessResponse[ProjectPage]:
    """Not-deleted projects of the caller's account with task counts by status type; a member
    sees only the projects in which tasks are assigned to them."""
    page = await project_service.list_projects(
        connection,
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
    caller: ReadCaller,
    connection: ReadConnection,
) -> SuccessResponse[ProjectRead]:
    """One visible project with its task counts (404 when missing or not visible)."""
    project = await project_service.get_project(connection, caller=caller, project_id=project_id)
    return SuccessResponse(data=project)


@router.post(
    "/fetch-projects",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*ACE_CALL_ERRORS),
    dependencies=[Depends(release_caller_check)],
)
async def fetch_projects(
    user: CurrentUser, database: DatabaseDep, ace: AceClientDep, cipher: GuidCipherDep
) -> SuccessResponse[FetchResult]:
    """Fetch the projects the caller can see in ACE (with the caller's ACE session) and store
    them; `counts` says how many were inserted, updated and unchanged."""
    counts = await project_service.fetch_from_ace(database, ace=ace, cipher=cipher, user=user)
    return SuccessResponse(
        message="Projects fetched", data=FetchResult.model_validate({"counts": counts})
    )
