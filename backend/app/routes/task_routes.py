from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from app.config import Settings
from app.dependencies.auth_dependencies import CurrentUser, ReadCaller
from app.dependencies.clients import AceClientDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import DatabaseDep, DbSession, ReadConnection
from app.dto.response import SuccessResponse
from app.dto.sync_dto import FetchResult
from app.dto.task import MAX_ID, TaskListQuery, TaskPage
from app.routes.openapi import ACE_CALL_ERRORS, error_responses
from app.services import ace_session_service, sync_service, task_service

router = APIRouter(prefix="/tasks", tags=["tasks"])


@lru_cache(maxsize=4)
def cursor_codec(secret: str) -> task_service.CursorCodec:
    return task_service.CursorCodec(secret)


def json_success(data: Any) -> Response:
    """The success envelope, serialised by orjson straight from the service's mapping (the
    hot read path skips a second validation pass; tests check the body against the model)."""
    body = {"success": True, "message": "OK", "data": data, "error": None}
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get(
    "/{user_id}",
    response_model=SuccessResponse[TaskPage],
    responses=error_responses(401, 404),
)
async def list_user_tasks(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID, description="acehub user id")],
    query: Annotated[TaskListQuery, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    request: Request,
) -> Response:
    """Tasks assigned to the user, not deleted, in the caller's account. Members may ask only
    for themselves; managers and admins for anyone in their account (others are 404)."""
    settings: Settings = request.app.state.settings
    page = await task_service.list_user_tasks(
        connection,
        caller=caller,
        user_id=user_id,
        query=query,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    return json_success(page)


@router.post(
    "/fetch-tasks",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*ACE_CALL_ERRORS),
)
async def fetch_tasks(
    user: CurrentUser,
    session: DbSession,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[FetchResult]:
    """Fetch the tasks the caller can see in ACE (changed since the account's last sync, with
    a safety overlap), their projects and assignees, and store them."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    # No transaction stays open while ACE answers (on SQLite it would hold the write lock):
    # the fetched rows are written in short transactions of their own.
    await session.commit()
    counts = await sync_service.fetch_tasks(
        database=database,
        ace=ace,
        settings=settings,
        creds=sync_service.SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
    )
    return SuccessResponse(
        message="Tasks fetched", data=FetchResult.model_validate({"counts": counts})
    )
