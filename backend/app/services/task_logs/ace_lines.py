"""ACE's weekly time lines: the week of a day, a line's hours, and what ACE holds after a
write timed out (see `app.services.task_log_service`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from app.ace.dto import AceTimeEntry
from app.ace.errors import AceError
from app.ace.port import AceApi
from app.connection.database import Database
from app.models import TaskLog

DAYS_PER_WEEK = 7


def week_start_of(day: date) -> date:
    """The Sunday that starts `day`'s ACE week."""
    return day - timedelta(days=(day.weekday() + 1) % DAYS_PER_WEEK)


def line_hours(entries: list[AceTimeEntry], week_start: date) -> list[float]:
    hours = [0.0] * DAYS_PER_WEEK
    for entry in entries:
        index = (entry.date_worked - week_start).days
        if 0 <= index < DAYS_PER_WEEK:
            hours[index] = entry.total_hours
    return hours


def same_hours(left: float, right: float) -> bool:
    return math.isclose(left, right, abs_tol=1e-6)


@dataclass(frozen=True, slots=True)
class AceTarget:
    """What a write to ACE needs, read in a transaction that is closed before ACE is called."""

    log_id: int
    guid: str
    line_id: int
    day: date
    ace_task_id: int
    ace_project_id: int


async def read_back(ace: AceApi, target: AceTarget, week_start: date) -> list[AceTimeEntry] | None:
    """The line as ACE has it after a timeout; None when ACE cannot tell either."""
    try:
        return await ace.get_time_line(
            target.guid, timesheet_line_id=target.line_id, week_start=week_start
        )
    except AceError:
        return None


async def new_line_after_timeout(
    database: Database,
    ace: AceApi,
    *,
    guid: str,
    account_id: str,
    ace_user_id: int,
    ace_task_id: int,
    day: date,
    hours: float,
    comment: str | None,
) -> int | None:
    """After a create timed out: the line ACE holds for this user, task, day, hours (and
    comment, when one was sent) that acehub does not mirror yet: the one just saved, the
    newest if several; None if there is none."""
    week_start = week_start_of(day)
    candidates: list[int] = []
    try:
        async for page in ace.iter_time_report(
            guid, date_from=week_start, date_to=week_start + timedelta(days=DAYS_PER_WEEK - 1)
        ):
            candidates.extend(
                entry.timesheet_line_id
                for entry in page
                if entry.date_worked == day
                and entry.task_id == ace_task_id
                and entry.creator_user_id == ace_user_id
                and same_hours(entry.total_hours, hours)
                and (comment is None or entry.comment == comment)
            )
    except AceError:
        return None
    if not candidates:
        return None
    async with database.session() as session:
        known = set(
            await session.scalars(
                select(TaskLog.ace_timesheet_line_id).where(
                    TaskLog.account_id == account_id,
                    TaskLog.ace_timesheet_line_id.in_(candidates),
                    TaskLog.date_worked == day,
                )
            )
        )
    fresh = [line_id for line_id in candidates if line_id not in known]
    return max(fresh) if fresh else None
