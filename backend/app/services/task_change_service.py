"""`PATCH /tasks/{task_id}`: a person changes a task's status, percent done or adds a comment.

ACE is the system of record, so the change goes there first (`savetask`, with the caller's
own ACE session) and acehub stores it only once ACE took it:

- a refusal or an unreachable ACE answers ACE's mapped code and stores nothing;
- a timeout stores nothing either (ACE may or may not have applied it; writes are never
  resent): the next sync or fetch reads the task as ACE has it and logs the move if there was
  one, so the mirror never shows a change ACE does not have;
- once ACE answered, the mirrored task takes the new values and a `status_change` log records
  old → new (with the comment), in one transaction.

Who may: members on tasks they are assignee or reviewer of, managers and admins on any task
of their account; anything else is 404, like a task that does not exist. Local accounts have
no ACE identity to act with: 403.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.dto import AceTaskStatus
from app.ace.port import AceApi
from app.auth.security import GuidCipher
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.dto.task import TaskChanged, TaskUpdate
from app.errors import AppError, ErrorCode
from app.models import (
    AuthSource,
    Project,
    RoleEnum,
    Task,
    TaskAssignee,
    TaskLog,
    TaskLogKind,
    TaskLogSource,
    User,
)
from app.services import ace_session_service


async def update_task(
    database: Database,
    *,
    ace: AceApi,
    cipher: GuidCipher,
    user: User,
    task_id: int,
    change: TaskUpdate,
) -> TaskChanged:
    """Send `change` to ACE, then mirror it and log it (see the module docstring)."""
    if user.auth_source is AuthSource.local:
        raise AppError(
            "Tasks live in ACE, and a local account has no ACE session to change them with; "
            "sign in with your ACE account",
            code=ErrorCode.FORBIDDEN,
        )
    async with unit_of_work(database) as session:
        task, ace_project_id = await _task_for(session, user, task_id)
        guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    chosen: AceTaskStatus | None = None
    if change.status is not None or change.status_type is not None:
        statuses = await ace.get_task_statuses(guid, project_id=ace_project_id)
        chosen = _status_for(statuses, change)
    # No transaction is open while ACE answers (on SQLite one would hold the write lock).
    await ace.save_task(
        guid,
        task_id=task.ace_task_id,
        project_id=ace_project_id,
        status_id=None if chosen is None else chosen.status_id,
        percent_done=change.percent_done,
        comment=change.comment,
    )
    async with unit_of_work(database) as session:
        return await _record(session, task, chosen, change, user)


async def _task_for(session: AsyncSession, user: User, task_id: int) -> tuple[Task, int]:
    """The task and its project's ACE id, if `user` may change it; else 404."""
    query = (
        select(Task, Project.ace_project_id)
        .join(Project, Project.id == Task.project_id)
        .where(
            Task.id == task_id,
            Task.account_id == user.account_id,
            Task.deleted_at.is_(None),
            Project.deleted_at.is_(None),
        )
    )
    if user.role is RoleEnum.member:
        query = query.where(
            exists().where(TaskAssignee.task_id == Task.id, TaskAssignee.user_id == user.id)
        )
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise AppError(f"No task {task_id}", code=ErrorCode.NOT_FOUND)
    return found[0], found[1]


def _status_for(statuses: list[AceTaskStatus], change: TaskUpdate) -> AceTaskStatus:
    """The project's status named by `change.status`, or its first of `change.status_type`."""
    usable = [s for s in statuses if s.status_id is not None and s.name]
    if change.status is not None:
        wanted = change.status.strip().casefold()
        match = next((s for s in usable if s.name and s.name.strip().casefold() == wanted), None)
        field, what = "status", f"no status {change.status!r} in this task's project"
    else:
        match = next((s for s in usable if s.status_type is change.status_type), None)
        field = "status_type"
        what = f"this task's project has no status of type {change.status_type}"
    if match is None:
        names = ", ".join(sorted(str(s.name) for s in usable)) or "none"
        raise AppError(
            f"{what} (its statuses: {names})",
            code=ErrorCode.VALIDATION_ERROR,
            data=[{"loc": ["body", field], "msg": what, "type": "value_error"}],
        )
    return match


async def _record(
    session: AsyncSession,
    task: Task,
    chosen: AceTaskStatus | None,
    change: TaskUpdate,
    user: User,
) -> TaskChanged:
    stored = await session.get(Task, task.id, with_for_update=True)
    if stored is None:  # deleted meanwhile: ACE has the change, the next sync mirrors it
        raise AppError(f"No task {task.id}", code=ErrorCode.NOT_FOUND)
    current = stored.status
    new_status = chosen.name if chosen is not None else current
    # A sync that ran between ACE's answer and now has mirrored (and logged) the move already.
    already_logged = chosen is not None and current == new_status != task.status
    stored.status = new_status
    if chosen is not None:
        stored.status_type = chosen.status_type
    if change.percent_done is not None:
        stored.percent_done = change.percent_done
    log_id: int | None = None
    if not already_logged:
        now = datetime.now(UTC)
        log = TaskLog(
            account_id=stored.account_id,
            task_id=stored.id,
            user_id=user.id,
            kind=TaskLogKind.status_change,
            date_worked=now.date(),
            comment=change.comment,
            old_status=task.status,
            new_status=new_status,
            source=TaskLogSource.ace,
        )
        session.add(log)
        await session.flush()
        log_id = log.id
    return TaskChanged(
        task_id=stored.id,
        ace_task_id=stored.ace_task_id,
        status=stored.status,
        status_type=stored.status_type,
        percent_done=stored.percent_done,
        log_id=log_id,
    )
