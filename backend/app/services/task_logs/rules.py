"""The rules of a task log, each a 422 naming its field (see `app.services.task_log_service`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.dto.task_log_dto import MAX_DAY_HOURS, TaskLogCreate, TaskLogUpdate
from app.errors import AppError, ErrorCode
from app.models import TaskLog, TaskLogKind, User

# Float sums of hours: 8.1 + 15.9 must still fit in one day.
_HOURS_EPSILON = 1e-9


def today_in(settings: Settings) -> date:
    """Today in the account's time zone (`REPORT_TIMEZONE`)."""
    return datetime.now(ZoneInfo(settings.report_timezone)).date()


def body_error(field: str, message: str) -> AppError:
    """A 422 naming one body field, shaped like FastAPI's own validation errors."""
    return AppError(
        f"The request is not valid: check body.{field}",
        code=ErrorCode.VALIDATION_ERROR,
        data=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


def check_date(day: date, settings: Settings) -> None:
    latest = today_in(settings) + timedelta(days=settings.log_future_days)
    if day > latest:
        raise body_error("date_worked", f"must not be later than {latest.isoformat()}")


def check_create(body: TaskLogCreate) -> None:
    if body.kind is TaskLogKind.status_change:
        raise body_error(
            "kind", "status_change logs are recorded when a task's status changes: use time or note"
        )
    if body.kind is TaskLogKind.time:
        if body.date_worked is None:
            raise body_error("date_worked", "a time log needs the day worked")
        if body.hours is None:
            raise body_error("hours", "a time log needs hours")
    else:
        if body.hours is not None:
            raise body_error("hours", "a note has no hours")
        if body.comment is None:
            raise body_error("comment", "a note needs a comment")


def check_change(log: TaskLog, change: TaskLogUpdate) -> None:
    if log.kind is TaskLogKind.status_change:
        raise AppError(
            "A status_change log is a record of the task's history and cannot be changed",
            code=ErrorCode.CONFLICT,
        )
    if log.kind is TaskLogKind.note:
        for field in ("hours", "date_worked"):
            if field in change.model_fields_set:
                raise body_error(field, "a note has only a comment")


async def check_day_total(
    session: AsyncSession,
    *,
    user_id: int,
    day: date,
    hours: float,
    excluding: int | None = None,
) -> None:
    """At most 24 hours of one user on one day: the user's row is locked first (PostgreSQL),
    so two writes for the same user are counted one after the other."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    conditions: list[ColumnElement[bool]] = [
        TaskLog.user_id == user_id,
        TaskLog.kind == TaskLogKind.time,
        TaskLog.date_worked == day,
    ]
    if excluding is not None:
        conditions.append(TaskLog.id != excluding)
    logged = await session.scalar(
        select(func.coalesce(func.sum(TaskLog.hours), 0.0)).where(*conditions)
    )
    total = float(logged or 0.0) + hours
    if total > MAX_DAY_HOURS + _HOURS_EPSILON:
        raise body_error(
            "hours",
            f"the time logged on {day.isoformat()} would total {total:g} hours; "
            f"a day has at most {MAX_DAY_HOURS:g}",
        )
