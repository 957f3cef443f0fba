from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app.config import Settings
from app.dependencies.auth_dependencies import CurrentUser, SessionKeyDep, release_caller_check
from app.dependencies.clients import AceClientDep, DatabaseDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import ReadConnection
from app.dto.response import SuccessResponse
from app.dto.sync_dto import FetchResult
from app.dto.task import MAX_ID, TaskChanged, TaskListQuery, TaskPage, TaskUpdate
from app.routes.openapi import ACE_CALL_ERRORS, error_responses
from app.services import task_change_service, task_service
from app.services.pagination import cursor_codec

router = APIRouter(prefix="/tasks", tags=["tasks"])


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
    session: SessionKeyDep,
    connection: ReadConnection,
    request: Request,
) -> Response:
    """Tasks assigned to the user, not deleted, in the caller's account. Members may ask only
    for themselves; managers and admins for anyone in their account (others are 404)."""
    settings: Settings = request.app.state.settings
    page = await task_service.list_user_tasks(
        connection,
        session=session,
        user_id=user_id,
        query=query,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    return json_success(page)


@router.post(
    "/fetch-tasks",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*ACE_CALL_ERRORS),
    dependencies=[Depends(release_caller_check)],
)
async def fetch_tasks(
    user: CurrentUser,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[FetchResult]:
    """Fetch the tasks the caller can see in ACE (changed since the account's last sync, with
    a safety overlap), their projects and assignees, and store them."""
    counts = await task_service.fetch_from_ace(
        database, ace=ace, settings=settings, cipher=cipher, user=user
    )
    return SuccessResponse(
        message="Tasks fetched", data=FetchResult.model_validate({"counts": counts})
    )


@router.patch(
    "/{task_id}",
    response_model=SuccessResponse[TaskChanged],
    responses=error_responses(*ACE_CALL_ERRORS, 404),
    dependencies=[Depends(release_caller_check)],
)
async def update_task(
    task_id: Annotated[int, Path(ge=1, le=MAX_ID, description="acehub task id")],
    change: TaskUpdate,
    user: CurrentUser,
    database: DatabaseDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[TaskChanged]:
    """Change a task's status (by name, or the first status of a `status_type`), percent
    done (0-100) or add a comment, in ACE with your ACE session, then in acehub, recorded as
    a `status_change` log. Members may change the tasks they are assignee or reviewer of;
    managers and admins any task of their account (others are 404). Nothing is stored when
    ACE refuses or does not answer in time; local accounts get 403."""
    changed = await task_change_service.update_task(
        database, ace=ace, cipher=cipher, user=user, task_id=task_id, change=change
    )
    return SuccessResponse(message="Task changed", data=changed)
