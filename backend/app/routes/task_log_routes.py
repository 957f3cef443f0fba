"""Task logs: `POST`/`GET /tasks/{task_id}/logs`, `GET /task-logs`, `PATCH` and
`DELETE /task-logs/{log_id}` (rules and the write-back to ACE: `services.task_log_service`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from app.config import Settings
from app.dependencies.auth_dependencies import CurrentUser, ReadCaller, release_caller_check
from app.dependencies.clients import AceClientDep, DatabaseDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import ReadConnection
from app.dto.response import SuccessResponse
from app.dto.task import MAX_ID
from app.dto.task_log_dto import (
    TaskLogCreate,
    TaskLogFilters,
    TaskLogListQuery,
    TaskLogPage,
    TaskLogRead,
    TaskLogUpdate,
)
from app.routes.openapi import ACE_CALL_ERRORS, error_responses
from app.services import task_log_service
from app.services.pagination import cursor_codec

router = APIRouter(tags=["task logs"])

TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="acehub task id")]
LogId = Annotated[int, Path(ge=1, le=MAX_ID, description="task log id")]


@router.post(
    "/tasks/{task_id}/logs",
    status_code=status.HTTP_201_CREATED,
    response_model=SuccessResponse[TaskLogRead],
    responses=error_responses(*ACE_CALL_ERRORS, 404),
    dependencies=[Depends(release_caller_check)],
)
async def create_task_log(
    task_id: TaskId,
    body: TaskLogCreate,
    user: CurrentUser,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[TaskLogRead]:
    """Log time (`kind: time`: date_worked, hours, comment) or a note (`kind: note`:
    comment) of yours on a task you can see. An ACE user's time goes to ACE first."""
    log = await task_log_service.create_log(
        database, ace=ace, cipher=cipher, settings=settings, user=user, task_id=task_id, body=body
    )
    return SuccessResponse(message="Task log created", data=log)


@router.get(
    "/tasks/{task_id}/logs",
    response_model=SuccessResponse[TaskLogPage],
    responses=error_responses(401, 404),
)
async def list_task_logs(
    task_id: TaskId,
    query: Annotated[TaskLogFilters, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    request: Request,
) -> SuccessResponse[TaskLogPage]:
    """The logs of one task: members see their own, managers and admins everyone's."""
    settings: Settings = request.app.state.settings
    page = await task_log_service.list_logs(
        connection,
        caller=caller,
        query=query,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
        task_id=task_id,
    )
    return SuccessResponse(data=TaskLogPage.model_validate(page))


@router.get(
    "/task-logs",
    response_model=SuccessResponse[TaskLogPage],
    responses=error_responses(401),
)
async def list_logs(
    query: Annotated[TaskLogListQuery, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    request: Request,
) -> SuccessResponse[TaskLogPage]:
    """Logs of the account, filtered: members see their own, managers and admins everyone's."""
    settings: Settings = request.app.state.settings
    page = await task_log_service.list_logs(
        connection,
        caller=caller,
        query=query,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    return SuccessResponse(data=TaskLogPage.model_validate(page))


@router.patch(
    "/task-logs/{log_id}",
    response_model=SuccessResponse[TaskLogRead],
    responses=error_responses(*ACE_CALL_ERRORS, 404, 409),
    dependencies=[Depends(release_caller_check)],
)
async def update_task_log(
    log_id: LogId,
    change: TaskLogUpdate,
    user: CurrentUser,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[TaskLogRead]:
    """Change a log's hours, day or comment; an ACE time entry changes in ACE first."""
    log = await task_log_service.update_log(
        database, ace=ace, cipher=cipher, settings=settings, user=user, log_id=log_id, change=change
    )
    return SuccessResponse(message="Task log changed", data=log)


@router.delete(
    "/task-logs/{log_id}",
    response_model=SuccessResponse[None],
    responses=error_responses(*ACE_CALL_ERRORS, 404, 409),
    dependencies=[Depends(release_caller_check)],
)
async def delete_task_log(
    log_id: LogId,
    user: CurrentUser,
    database: DatabaseDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[None]:
    """Delete a log; an ACE time entry is deleted in ACE first."""
    await task_log_service.delete_log(database, ace=ace, cipher=cipher, user=user, log_id=log_id)
    return SuccessResponse(message="Task log deleted", data=None)
