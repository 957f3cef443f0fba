"""The task reports: workload per user, overdue tasks, one project's progress.

"Open" is not completed (an untyped status counts as open); "overdue" is open with an
expected end before today in `REPORT_TIMEZONE`. Each report is one or a few grouped
statements; the statement behind a download is the one the JSON lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.caller import Caller
from app.config import Settings
from app.connection.buckets import date_bucket
from app.dto.report_dto import (
    OverdueReport,
    OverdueTask,
    ProjectProgress,
    ReportFilters,
    WeekHours,
    WorkloadReport,
    WorkloadRow,
)
from app.errors import AppError, ErrorCode
from app.models import Project, RoleEnum, StatusType, Task, TaskAssignee, TaskLog, TaskLogKind, User
from app.services.reports import scope
from app.services.reports.export import Column, Export

NO_SUCH_PROJECT = "No such project in this account"


def _open() -> ColumnElement[bool]:
    return or_(Task.status_type.is_(None), Task.status_type != StatusType.completed)


def _overdue(today: date) -> ColumnElement[bool]:
    return and_(Task.expected_end.is_not(None), Task.expected_end < today, _open())


def _positive(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((value > 0, value), else_=0.0)


def _logged_per_task(caller: Caller) -> Any:
    """Hours logged on each task of the account, by anyone, ever (for remaining estimates)."""
    return (
        select(TaskLog.task_id.label("task_id"), func.sum(TaskLog.hours).label("logged"))
        .where(TaskLog.account_id == caller.account_id, TaskLog.kind == TaskLogKind.time)
        .group_by(TaskLog.task_id)
        .subquery("logged_per_task")
    )


# --- workload -------------------------------------------------------------------------------


def workload_statement(caller: Caller, filters: ReportFilters, today: date) -> Select[Any]:
    logged = _logged_per_task(caller)
    remaining = _positive(
        func.coalesce(Task.estimated_hours, 0.0) - func.coalesce(logged.c.logged, 0.0)
    )
    tasks = (
        select(
            TaskAssignee.user_id.label("user_id"),
            func.count().label("open_tasks"),
            func.sum(remaining).label("remaining_hours"),
            func.sum(case((_overdue(today), 1), else_=0)).label("overdue_tasks"),
        )
        .select_from(TaskAssignee)
        .join(Task, Task.id == TaskAssignee.task_id)
        .join(Project, Project.id == Task.project_id)
        .outerjoin(logged, logged.c.task_id == Task.id)
        .where(
            TaskAssignee.is_assignee.is_(true()), _open(), *scope.task_conditions(caller, filters)
        )
        .group_by(TaskAssignee.user_id)
        .subquery("open_work")
    )
    hours = (
        select(TaskLog.user_id.label("user_id"), func.sum(TaskLog.hours).label("hours_logged"))
        .select_from(TaskLog, Task, Project, User)
        .where(*scope.time_log_conditions(caller, filters))
        .group_by(TaskLog.user_id)
        .subquery("logged_hours")
    )
    columns: tuple[Any, ...] = (
        User.id,
        User.username,
        User.first_name,
        User.last_name,
        func.coalesce(tasks.c.open_tasks, 0),
        func.coalesce(tasks.c.remaining_hours, 0.0),
        func.coalesce(hours.c.hours_logged, 0.0),
        func.coalesce(tasks.c.overdue_tasks, 0),
    )
    return (
        select(*columns)
        .outerjoin(tasks, tasks.c.user_id == User.id)
        .outerjoin(hours, hours.c.user_id == User.id)
        .where(
            *scope.user_conditions(caller, filters),
            or_(tasks.c.user_id.is_not(None), hours.c.user_id.is_not(None)),
        )
        .order_by(User.username, User.id)
    )


def _workload_row(row: Sequence[Any]) -> WorkloadRow:
    return WorkloadRow(
        user_id=int(row[0]),
        label=scope.user_label(row[1], row[2], row[3]),
        open_tasks=int(row[4]),
        remaining_hours=scope.hours(row[5]),
        hours_logged=scope.hours(row[6]),
        overdue_tasks=int(row[7]),
    )


async def get_workload(
    connection: AsyncConnection, *, caller: Caller, filters: ReportFilters, settings: Settings
) -> WorkloadReport:
    scope.check_range(filters)
    today = scope.today(settings)
    rows = (await connection.execute(workload_statement(caller, filters, today))).all()
    return WorkloadReport(
        date_from=filters.date_from,
        date_to=filters.date_to,
        today=today,
        users=[_workload_row(row) for row in rows],
    )


def workload_export(
    caller: Caller, filters: ReportFilters, settings: Settings, name: str
) -> Export:
    scope.check_range(filters)
    statement = workload_statement(caller, filters, scope.today(settings))
    columns = [
        Column("user_id", "int"),
        Column("user"),
        Column("open_tasks", "int", total=True),
        Column("remaining_hours", "hours", total=True),
        Column("hours_logged", "hours", total=True),
        Column("overdue_tasks", "int", total=True),
    ]

    def cells(row: Sequence[Any]) -> list[Any]:
        item = _workload_row(row)
        return [
            item.user_id,
            item.label,
            item.open_tasks,
            item.remaining_hours,
            item.hours_logged,
            item.overdue_tasks,
        ]

    return Export(name, columns, statement, cells)


# --- overdue ----------------------------------------------------------------------------------


def _visible_tasks(caller: Caller, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """The task filters, and for a member (or a `user_id` filter) the tasks assigned to them."""
    conditions = scope.task_conditions(caller, filters)
    users: list[ColumnElement[bool]] = []
    if caller.role is RoleEnum.member:
        users.append(TaskAssignee.user_id == caller.id)
    if filters.user_id:
        users.append(TaskAssignee.user_id.in_(filters.user_id))
    if users:
        conditions.append(exists().where(TaskAssignee.task_id == Task.id, *users))
    return conditions


def overdue_statement(caller: Caller, filters: ReportFilters, today: date) -> Select[Any]:
    conditions = [*_visible_tasks(caller, filters), _overdue(today)]
    if filters.date_from is not None:
        conditions.append(Task.expected_end >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(Task.expected_end <= filters.date_to)
    assignee = (
        select(
            TaskAssignee.task_id,
            User.id.label("user_id"),
            User.username,
            User.first_name,
            User.last_name,
        )
        .join(User, User.id == TaskAssignee.user_id)
        .where(
            TaskAssignee.is_assignee.is_(true()),
            User.account_id == caller.account_id,
            User.deleted_at.is_(None),
        )
        .subquery("assignee")
    )
    return (
        select(
            Task.id,
            Task.title,
            Task.project_id,
            Project.name,
            Task.expected_end,
            Task.status_type,
            assignee.c.user_id,
            assignee.c.username,
            assignee.c.first_name,
            assignee.c.last_name,
        )
        .select_from(Task, Project)
        .outerjoin(assignee, assignee.c.task_id == Task.id)
        .where(*conditions)
        .order_by(Project.name, Task.project_id, Task.expected_end, Task.id, assignee.c.username)
    )


async def get_overdue(
    connection: AsyncConnection, *, caller: Caller, filters: ReportFilters, settings: Settings
) -> OverdueReport:
    scope.check_range(filters)
    today = scope.today(settings)
    rows = (await connection.execute(overdue_statement(caller, filters, today))).all()
    tasks: dict[int, OverdueTask] = {}
    for row in rows:
        task = tasks.get(row[0])
        if task is None:
            task = tasks[row[0]] = OverdueTask(
                task_id=row[0],
                title=row[1],
                project_id=row[2],
                project_name=row[3],
                expected_end=row[4],
                days_overdue=(today - row[4]).days,
                status_type=row[5],
                assignees=[],
            )
        if row[6] is not None:
            task.assignees.append(scope.user_label(row[7], row[8], row[9]))
    return OverdueReport(today=today, total=len(tasks), tasks=list(tasks.values()))


def overdue_export(caller: Caller, filters: ReportFilters, settings: Settings, name: str) -> Export:
    """One row per overdue task and assignee (a task without one has an empty assignee)."""
    scope.check_range(filters)
    today = scope.today(settings)
    columns = [
        Column("project"),
        Column("assignee"),
        Column("task_id", "int"),
        Column("task"),
        Column("status_type"),
        Column("expected_end", "date"),
        Column("days_overdue", "int"),
    ]

    def cells(row: Sequence[Any]) -> list[Any]:
        assignee = None if row[6] is None else scope.user_label(row[7], row[8], row[9])
        status = None if row[5] is None else str(row[5])
        return [row[3], assignee, row[0], row[1], status, row[4], (today - row[4]).days]

    return Export(name, columns, overdue_statement(caller, filters, today), cells)


# --- project progress -----------------------------------------------------------------------


async def check_project(connection: AsyncConnection, caller: Caller, project_id: int) -> str:
    """The project's name, or 404 when it is missing, deleted or not visible to the caller."""
    statement = select(Project.name).where(
        Project.id == project_id,
        Project.account_id == caller.account_id,
        Project.deleted_at.is_(None),
    )
    if caller.role is RoleEnum.member:
        statement = statement.where(
            exists().where(
                TaskAssignee.user_id == caller.id,
                Task.id == TaskAssignee.task_id,
                Task.project_id == Project.id,
                Task.deleted_at.is_(None),
            )
        )
    name = await connection.scalar(statement)
    if name is None:
        raise AppError(NO_SUCH_PROJECT, code=ErrorCode.NOT_FOUND)
    return str(name)


def _project_filters(filters: ReportFilters, project_id: int) -> ReportFilters:
    return filters.model_copy(update={"project_id": [project_id]})


def progress_tasks_statement(
    caller: Caller, filters: ReportFilters, project_id: int, today: date
) -> Select[Any]:
    """The project's tasks with their estimates and the hours the caller may see logged on
    them in the range."""
    scoped = _project_filters(filters, project_id)
    logged = (
        select(TaskLog.task_id.label("task_id"), func.sum(TaskLog.hours).label("logged"))
        .select_from(TaskLog, Task, Project, User)
        .where(*scope.time_log_conditions(caller, scoped))
        .group_by(TaskLog.task_id)
        .subquery("logged")
    )
    return (
        select(
            Task.id,
            Task.title,
            Task.status_type,
            Task.estimated_hours,
            func.coalesce(logged.c.logged, 0.0).label("logged"),
            Task.expected_end,
            case((_overdue(today), 1), else_=0).label("overdue"),
        )
        .select_from(Task, Project)
        .outerjoin(logged, logged.c.task_id == Task.id)
        .where(*scope.task_conditions(caller, scoped))
        .order_by(Task.title, Task.id)
    )


async def get_progress(
    connection: AsyncConnection,
    *,
    caller: Caller,
    project_id: int,
    filters: ReportFilters,
    settings: Settings,
) -> ProjectProgress:
    scope.check_range(filters)
    name = await check_project(connection, caller, project_id)
    today = scope.today(settings)
    tasks = progress_tasks_statement(caller, filters, project_id, today).subquery("tasks")
    totals = (
        await connection.execute(
            select(
                func.count(),
                func.sum(case((tasks.c.status_type == StatusType.waiting, 1), else_=0)),
                func.sum(case((tasks.c.status_type == StatusType.in_progress, 1), else_=0)),
                func.sum(case((tasks.c.status_type == StatusType.completed, 1), else_=0)),
                func.sum(tasks.c.estimated_hours),
                func.sum(tasks.c.logged),
                func.sum(tasks.c.overdue),
            )
        )
    ).one()
    total = int(totals[0] or 0)
    counts = {
        "waiting": int(totals[1] or 0),
        "in_progress": int(totals[2] or 0),
        "completed": int(totals[3] or 0),
    }
    counts["none"] = total - sum(counts.values())
    estimated, logged = scope.hours(totals[4]), scope.hours(totals[5])
    weeks = await _hours_per_week(connection, caller, filters, project_id, settings)
    return ProjectProgress(
        project_id=project_id,
        name=name,
        date_from=filters.date_from,
        date_to=filters.date_to,
        tasks_by_status_type=counts,
        total_tasks=total,
        percent_done=None if not total else round(100.0 * counts["completed"] / total, 2),
        estimated_hours=estimated,
        logged_hours=logged,
        ratio=scope.ratio(logged, estimated),
        overdue_tasks=int(totals[6] or 0),
        hours_per_week=weeks,
    )


async def _hours_per_week(
    connection: AsyncConnection,
    caller: Caller,
    filters: ReportFilters,
    project_id: int,
    settings: Settings,
) -> list[WeekHours]:
    first_weekday = scope.week_start(settings)
    week = date_bucket(TaskLog.date_worked, "week", first_weekday)
    statement = (
        select(week, func.sum(TaskLog.hours))
        .select_from(TaskLog, Task, Project, User)
        .where(*scope.time_log_conditions(caller, _project_filters(filters, project_id)))
        .group_by(week)
        .order_by(week)
    )
    found = {row[0]: scope.hours(row[1]) for row in (await connection.execute(statement)).all()}
    if filters.date_from is not None and filters.date_to is not None:
        day = scope.bucket_start(filters.date_from, "week", first_weekday)
        while day <= filters.date_to:
            found.setdefault(day, 0.0)
            day += timedelta(days=7)
    return [WeekHours(week=day, hours=found[day]) for day in sorted(found)]


async def progress_export(
    connection: AsyncConnection,
    caller: Caller,
    filters: ReportFilters,
    project_id: int,
    settings: Settings,
    name: str,
) -> Export:
    """The project's tasks, one row each (checked for visibility before anything streams)."""
    scope.check_range(filters)
    await check_project(connection, caller, project_id)
    today = scope.today(settings)
    columns = [
        Column("task_id", "int"),
        Column("task"),
        Column("status_type"),
        Column("estimated_hours", "hours", total=True),
        Column("logged_hours", "hours", total=True),
        Column("expected_end", "date"),
        Column("overdue", "int", total=True),
    ]

    def cells(row: Sequence[Any]) -> list[Any]:
        status = None if row[2] is None else str(row[2])
        estimate = None if row[3] is None else float(row[3])
        return [row[0], row[1], status, estimate, scope.hours(row[4]), row[5], int(row[6])]

    statement = progress_tasks_statement(caller, filters, project_id, today)
    return Export(name, columns, statement, cells)
