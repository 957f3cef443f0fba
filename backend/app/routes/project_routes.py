from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.dependencies.auth_dependencies import CurrentUser, ReadCaller
from app.dependencies.clients import AceClientDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import DatabaseDep, DbSession, ReadDbSession
from app.dto.project_dto import ProjectListQuery, ProjectPage, ProjectRead
from app.dto.response import SuccessResponse
from app.dto.sync_dto import FetchResult
from app.dto.task import MAX_ID
from app.routes.openapi import ACE_CALL_ERRORS, error_responses
from app.routes.task_routes import cursor_codec
from app.services import ace_session_service, project_service, sync_service

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=SuccessResponse[ProjectPage], responses=error_responses(401))
async def list_projects(
    query: Annotated[ProjectListQuery, Query()],
    caller: ReadCaller,
    session: ReadDbSession,
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
    caller: ReadCaller,
    session: ReadDbSession,
) -> SuccessResponse[ProjectRead]:
    """One visible project with its task counts (404 when missing or not visible)."""
    project = await project_service.get_project(session, caller=caller, project_id=project_id)
    return SuccessResponse(data=project)


@router.post(
    "/fetch-projects",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*ACE_CALL_ERRORS),
)
async def fetch_projects(
    user: CurrentUser,
    session: DbSession,
    database: DatabaseDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[FetchResult]:
    """Fetch the projects the caller can see in ACE (with the caller's ACE session) and store
    them; `counts` says how many were inserted, updated and unchanged."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    # No transaction stays open while ACE answers (on SQLite it would hold the write lock):
    # the fetched rows are written in short transactions of their own.
    await session.commit()
    counts = await sync_service.fetch_projects(
        database=database,
        ace=ace,
        creds=sync_service.SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
    )
    return SuccessResponse(
        message="Projects fetched", data=FetchResult.model_validate({"counts": counts})
    )
