"""What every report may read: the caller's account, for members only their own rows, and no
deleted task, project or user (as in the task list); and the shared filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement

from app.auth.caller import Caller
from app.config import Settings
from app.dto.report_dto import ReportFilters
from app.models import Project, RoleEnum, Task, TaskLog, TaskLogKind, User
from app.services.pagination import param_error

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def today(settings: Settings) -> date:
    """Today in the account's time zone (`REPORT_TIMEZONE`)."""
    return datetime.now(UTC).astimezone(ZoneInfo(settings.report_timezone)).date()


def week_start(settings: Settings) -> int:
    """The first day of a week, 0 Monday .. 6 Sunday (`REPORT_WEEK_START`)."""
    return WEEKDAYS.index(settings.report_week_start)


def bucket_start(day: date, unit: str, first_weekday: int) -> date:
    """The first day of the day, week or month `day` falls in (as the SQL buckets do)."""
    if unit == "week":
        return day - timedelta(days=(day.weekday() - first_weekday) % 7)
    if unit == "month":
        return day.replace(day=1)
    return day


def check_range(filters: ReportFilters) -> None:
    if (
        filters.date_from is not None
        and filters.date_to is not None
        and filters.date_from > filters.date_to
    ):
        raise param_error("date_to must not be before date_from", "date_to")


def task_conditions(caller: Caller, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Visible, not-deleted tasks of not-deleted projects, with the task-level filters."""
    conditions: list[ColumnElement[bool]] = [
        Task.account_id == caller.account_id,
        Task.deleted_at.is_(None),
        Project.id == Task.project_id,
        Project.account_id == caller.account_id,
        Project.deleted_at.is_(None),
    ]
    if filters.project_id:
        conditions.append(Task.project_id.in_(filters.project_id))
    if filters.task_id:
        conditions.append(Task.id.in_(filters.task_id))
    if filters.status_type:
        conditions.append(Task.status_type.in_(filters.status_type))
    return conditions


def user_conditions(caller: Caller, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Not-deleted users of the caller's account; a member is only themself."""
    conditions: list[ColumnElement[bool]] = [
        User.account_id == caller.account_id,
        User.deleted_at.is_(None),
    ]
    if caller.role is RoleEnum.member:
        conditions.append(User.id == caller.id)
    if filters.user_id:
        conditions.append(User.id.in_(filters.user_id))
    return conditions


def time_log_conditions(caller: Caller, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Time logs the caller may see, matching the filters (joins tasks, projects, users)."""
    conditions: list[ColumnElement[bool]] = [
        TaskLog.account_id == caller.account_id,
        TaskLog.kind == TaskLogKind.time,
        TaskLog.hours.is_not(None),
        Task.id == TaskLog.task_id,
        User.id == TaskLog.user_id,
        *task_conditions(caller, filters),
        *user_conditions(caller, filters),
    ]
    if filters.date_from is not None:
        conditions.append(TaskLog.date_worked >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(TaskLog.date_worked <= filters.date_to)
    return conditions


def user_label(username: str, first_name: str | None, last_name: str | None) -> str:
    name = " ".join(part for part in (first_name, last_name) if part)
    return name or username


def ratio(logged: float, estimated: float | None) -> float | None:
    return None if not estimated else round(logged / estimated, 4)


def hours(value: Any) -> float:
    return round(float(value or 0), 6)
