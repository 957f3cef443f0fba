"""Creating, changing and deleting task logs, through ACE for an ACE user's time (see
`app.services.task_log_service` for the rules and the write-back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app.ace.errors import AceError
from app.ace.port import AceApi
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.connection.upsert import upsert_columns
from app.dto.task_log_dto import TaskLogCreate, TaskLogRead, TaskLogUpdate
from app.errors import AppError, ErrorCode
from app.models import TaskLog, TaskLogKind, TaskLogSource, User, table_of
from app.models.base import utcnow
from app.services import ace_session_service
from app.services.task_logs.ace_lines import (
    DAYS_PER_WEEK,
    AceTarget,
    line_hours,
    new_line_after_timeout,
    read_back,
    same_hours,
    week_start_of,
)
from app.services.task_logs.reads import read
from app.services.task_logs.rules import (
    body_error,
    check_change,
    check_create,
    check_date,
    check_day_total,
    today_in,
)
from app.services.task_logs.scope import (
    NO_SUCH_LOG,
    guid_for_log,
    is_ace_entry,
    visible_log,
    visible_task,
    writes_to_ace,
)


async def create_log(
    database: Database,
    *,
    ace: AceApi,
    cipher: GuidCipher,
    settings: Settings,
    user: User,
    task_id: int,
    body: TaskLogCreate,
) -> TaskLogRead:
    """A new log of `user` on the task (see the module docstring)."""
    check_create(body)
    day = body.date_worked or today_in(settings)
    check_date(day, settings)
    is_time = body.kind is TaskLogKind.time
    if not (is_time and writes_to_ace(user, settings)):
        async with unit_of_work(database) as session:
            task, _ = await visible_task(session, user, task_id)
            if is_time and body.hours is not None:
                await check_day_total(session, user_id=user.id, day=day, hours=body.hours)
            log = TaskLog(
                account_id=user.account_id,
                task_id=task.id,
                user_id=user.id,
                kind=body.kind,
                date_worked=day,
                hours=body.hours,
                comment=body.comment,
                source=TaskLogSource.local,
            )
            session.add(log)
            await session.flush()
            return read(log)

    hours = float(body.hours or 0.0)
    async with unit_of_work(database) as session:
        task, ace_project_id = await visible_task(session, user, task_id)
        await check_day_total(session, user_id=user.id, day=day, hours=hours)
        guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    week_start = week_start_of(day)
    week = [0.0] * DAYS_PER_WEEK
    week[(day - week_start).days] = hours
    try:
        line_id: int | None = await ace.save_work_item(
            guid,
            week_start=week_start,
            hours=week,
            task_id=task.ace_task_id,
            project_id=ace_project_id,
            comments=body.comment,
        )
    except AceError as exc:
        if exc.code is not ErrorCode.ACE_TIMEOUT:
            raise
        line_id = await new_line_after_timeout(
            database,
            ace,
            guid=guid,
            account_id=user.account_id,
            ace_user_id=int(user.ace_user_id or 0),
            ace_task_id=task.ace_task_id,
            day=day,
            hours=hours,
            comment=body.comment,
        )
        if line_id is None:
            raise
    async with unit_of_work(database) as session:
        # Keyed like the sync's time entries, in one statement: a sync that mirrored the
        # line meanwhile is updated, never a duplicate key.
        now = utcnow()
        key: dict[str, list[Any]] = {
            "account_id": [user.account_id],
            "ace_timesheet_line_id": [line_id],
            "date_worked": [day],
        }
        await upsert_columns(
            session,
            table_of(TaskLog),
            {
                **key,
                "task_id": [task.id],
                "user_id": [user.id],
                "kind": [TaskLogKind.time],
                "source": [TaskLogSource.ace],
                "hours": [hours],
                "comment": [body.comment],
                "created_at": [now],
                "updated_at": [now],
            },
            keys=tuple(key),
            update=("task_id", "user_id", "source", "hours", "comment"),
            touch=("updated_at",),
        )
        mirrored = await session.scalar(
            select(TaskLog)
            .where(
                TaskLog.account_id == user.account_id,
                TaskLog.ace_timesheet_line_id == line_id,
                TaskLog.date_worked == day,
            )
            .execution_options(populate_existing=True)
        )
        assert mirrored is not None
        return read(mirrored)


async def update_log(
    database: Database,
    *,
    ace: AceApi,
    cipher: GuidCipher,
    settings: Settings,
    user: User,
    log_id: int,
    change: TaskLogUpdate,
) -> TaskLogRead:
    """Change a log's hours, day or comment (see the module docstring)."""
    fields = change.model_fields_set
    async with unit_of_work(database) as session:
        log, task, ace_project_id = await visible_log(session, user, log_id)
        check_change(log, change)
        day = change.date_worked if change.date_worked is not None else log.date_worked
        hours = change.hours if change.hours is not None else log.hours
        if "date_worked" in fields:
            check_date(day, settings)
        if not is_ace_entry(log):
            if log.kind is TaskLogKind.time and hours is not None:
                await check_day_total(
                    session, user_id=log.user_id, day=day, hours=hours, excluding=log.id
                )
            log.date_worked, log.hours = day, hours
            if "comment" in fields:
                log.comment = change.comment
            await session.flush()
            return read(log)
        if day != log.date_worked:
            raise body_error(
                "date_worked",
                "an ACE time entry cannot move to another day: delete it and log the new day",
            )
        if "comment" in fields and change.comment is None:
            raise body_error(
                "comment", "ACE keeps an entry's comment unless a new one is given: send a text"
            )
        if hours is not None and "hours" in fields:
            await check_day_total(
                session, user_id=log.user_id, day=day, hours=hours, excluding=log.id
            )
        target = AceTarget(
            log_id=log.id,
            guid=await guid_for_log(session, cipher=cipher, user=user, log=log),
            line_id=int(log.ace_timesheet_line_id or 0),
            day=log.date_worked,
            ace_task_id=task.ace_task_id,
            ace_project_id=ace_project_id,
        )
    new_hours = float(hours or 0.0)
    comment = change.comment if "comment" in fields else None
    week_start = week_start_of(target.day)
    entries = await ace.get_time_line(
        target.guid, timesheet_line_id=target.line_id, week_start=week_start
    )
    mine = next((e for e in entries if e.date_worked == target.day), None)
    if mine is None:
        raise AppError(
            "This time entry is no longer in ACE; the next sync removes it here too",
            code=ErrorCode.CONFLICT,
        )
    week = line_hours(entries, week_start)
    week[(target.day - week_start).days] = new_hours
    try:
        await ace.save_work_item(
            target.guid,
            week_start=week_start,
            hours=week,
            task_id=mine.task_id or target.ace_task_id,
            project_id=mine.project_id or target.ace_project_id,
            comments=comment,
            timesheet_line_id=target.line_id,
        )
    except AceError as exc:
        if exc.code is not ErrorCode.ACE_TIMEOUT:
            raise
        after = await read_back(ace, target, week_start)
        now = next((e for e in after or [] if e.date_worked == target.day), None)
        applied = (
            now is not None
            and same_hours(now.total_hours, new_hours)
            and ("comment" not in fields or (now.comment or None) == (comment or None))
        )
        if not applied:
            raise
    async with unit_of_work(database) as session:
        stored = await session.get(TaskLog, target.log_id, with_for_update=True)
        if stored is None:  # removed meanwhile; ACE has the change, the next sync mirrors it
            raise AppError(NO_SUCH_LOG, code=ErrorCode.NOT_FOUND)
        stored.hours = new_hours
        if "comment" in fields:
            # ACE keeps one comment per weekly line: its other days show it too.
            await session.execute(
                update(TaskLog)
                .where(
                    TaskLog.account_id == stored.account_id,
                    TaskLog.ace_timesheet_line_id == target.line_id,
                    TaskLog.id != stored.id,
                )
                .values(comment=comment)
            )
            stored.comment = comment
        await session.flush()
        return read(stored)


async def delete_log(
    database: Database,
    *,
    ace: AceApi,
    cipher: GuidCipher,
    user: User,
    log_id: int,
) -> None:
    """Delete a log (see the module docstring)."""
    async with unit_of_work(database) as session:
        log, task, ace_project_id = await visible_log(session, user, log_id)
        if log.kind is TaskLogKind.status_change:
            raise AppError(
                "A status_change log is a record of the task's history and cannot be deleted",
                code=ErrorCode.CONFLICT,
            )
        if not is_ace_entry(log):
            await session.delete(log)
            return
        target = AceTarget(
            log_id=log.id,
            guid=await guid_for_log(session, cipher=cipher, user=user, log=log),
            line_id=int(log.ace_timesheet_line_id or 0),
            day=log.date_worked,
            ace_task_id=task.ace_task_id,
            ace_project_id=ace_project_id,
        )
    week_start = week_start_of(target.day)
    entries = await ace.get_time_line(
        target.guid, timesheet_line_id=target.line_id, week_start=week_start
    )
    mine = next((e for e in entries if e.date_worked == target.day), None)
    others = [e for e in entries if e.date_worked != target.day and e.total_hours > 0]
    try:
        if mine is None:
            pass  # ACE no longer has the day: only the mirror is left to remove
        elif not others:
            await ace.delete_work_item(target.guid, timesheet_line_id=target.line_id)
        else:
            week = line_hours(entries, week_start)
            week[(target.day - week_start).days] = 0.0
            await ace.save_work_item(
                target.guid,
                week_start=week_start,
                hours=week,
                task_id=mine.task_id or target.ace_task_id,
                project_id=mine.project_id or target.ace_project_id,
                timesheet_line_id=target.line_id,
            )
    except AceError as exc:
        if exc.code is not ErrorCode.ACE_TIMEOUT:
            raise
        after = await read_back(ace, target, week_start)
        if after is None or any(e.date_worked == target.day for e in after):
            raise
    async with unit_of_work(database) as session:
        stored = await session.get(TaskLog, target.log_id)
        if stored is not None:
            await session.delete(stored)
