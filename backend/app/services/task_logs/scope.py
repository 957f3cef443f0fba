"""Who may see or manage which task and log (else 404), who writes to ACE, and the ACE
session a log is changed with (see `app.services.task_log_service`)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.security import GuidCipher
from app.config import Settings
from app.errors import AppError, ErrorCode
from app.models import (
    AuthSource,
    Project,
    RoleEnum,
    Task,
    TaskAssignee,
    TaskLog,
    TaskLogSource,
    User,
)
from app.services import ace_session_service

NO_SUCH_LOG = "No such task log"


def is_member(role: RoleEnum) -> bool:
    return role is RoleEnum.member


def sees_task(user_id: int) -> ColumnElement[bool]:
    return exists().where(TaskAssignee.task_id == Task.id, TaskAssignee.user_id == user_id)


def live_task(account_id: str) -> list[ColumnElement[bool]]:
    return [
        Task.account_id == account_id,
        Task.deleted_at.is_(None),
        Project.account_id == account_id,
        Project.deleted_at.is_(None),
    ]


async def visible_task(session: AsyncSession, user: User, task_id: int) -> tuple[Task, int]:
    """The task and its project's ACE id, if `user` may log on it; else 404."""
    query = (
        select(Task, Project.ace_project_id)
        .join(Project, Project.id == Task.project_id)
        .where(Task.id == task_id, *live_task(user.account_id))
    )
    if is_member(user.role):
        query = query.where(sees_task(user.id))
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise AppError(f"No task {task_id}", code=ErrorCode.NOT_FOUND)
    return found[0], found[1]


async def visible_log(session: AsyncSession, user: User, log_id: int) -> tuple[TaskLog, Task, int]:
    """The log, its task and its project's ACE id, if `user` may manage it; else 404."""
    query = (
        select(TaskLog, Task, Project.ace_project_id)
        .join(Task, Task.id == TaskLog.task_id)
        .join(Project, Project.id == Task.project_id)
        .where(
            TaskLog.id == log_id,
            TaskLog.account_id == user.account_id,
            *live_task(user.account_id),
        )
    )
    if is_member(user.role):
        query = query.where(TaskLog.user_id == user.id, sees_task(user.id))
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise AppError(NO_SUCH_LOG, code=ErrorCode.NOT_FOUND)
    return found[0], found[1], found[2]


def writes_to_ace(owner: User, settings: Settings) -> bool:
    return (
        settings.ace_write_back
        and owner.auth_source is AuthSource.ace
        and owner.ace_user_id is not None
    )


def is_ace_entry(log: TaskLog) -> bool:
    return log.source is TaskLogSource.ace and log.ace_timesheet_line_id is not None


async def guid_for_log(
    session: AsyncSession, *, cipher: GuidCipher, user: User, log: TaskLog
) -> str:
    """The ACE session to change `log` with: the caller's own when the log is theirs, else
    the owner's stored one (409 when the owner has none)."""
    if log.user_id == user.id:
        return await ace_session_service.guid_for(session, cipher=cipher, user=user)
    owner = await session.get(User, log.user_id)
    try:
        if owner is None:
            raise AppError("no owner", code=ErrorCode.ACE_SESSION_EXPIRED)
        return await ace_session_service.guid_for(session, cipher=cipher, user=owner)
    except AppError as exc:
        if exc.code is not ErrorCode.ACE_SESSION_EXPIRED:
            raise
        raise AppError(
            "This log is an ACE time entry of another user, and acehub holds no ACE session "
            "of theirs to change it with; they can change it themselves, or sign in again",
            code=ErrorCode.CONFLICT,
        ) from None
