"""What the web dashboard shows, assembled from the services the JSON API answers with (the
same scoping, the same numbers): the caller's tasks, their time by day or week and project,
and, for managers and admins, the projects' progress, the workload, the overdue list and the
latest sync job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.caller import Caller, SessionKey
from app.config import Settings
from app.dto.dashboard_dto import DashboardQuery
from app.dto.project_dto import ProjectListQuery
from app.dto.report_dto import (
    OverdueReport,
    ProjectProgress,
    ReportFilters,
    TimeReport,
    WorkloadReport,
)
from app.dto.sync_dto import SyncJobRead
from app.models import RoleEnum
from app.services import project_service, report_service, task_service
from app.services.pagination import SYNCED_THROUGH_STATEMENT, CursorCodec
from app.services.reports.export import Export
from app.services.sync import jobs
from app.services.task_logs.rules import today_in

PROJECTS_SHOWN = 12


@dataclass(frozen=True)
class Team:
    """What managers and admins see beside their own work."""

    progress: list[ProjectProgress]
    projects_total: int
    workload: WorkloadReport
    overdue: OverdueReport
    latest_job: SyncJobRead | None


@dataclass(frozen=True)
class Overview:
    today: date
    time_range: tuple[date, date]
    tasks: dict[str, Any]
    projects: list[tuple[int, str]]
    time: TimeReport
    team: Team | None
    synced_through: datetime | None


def is_manager(caller: Caller) -> bool:
    return caller.role in (RoleEnum.manager, RoleEnum.admin)


async def overview(
    connection: AsyncConnection,
    *,
    caller: Caller,
    session: SessionKey,
    query: DashboardQuery,
    settings: Settings,
    cursors: CursorCodec,
) -> Overview:
    """The dashboard of `caller` (the task table is always the caller's own work)."""
    today = today_in(settings)
    tasks = await task_service.list_user_tasks(
        connection,
        session=session,
        user_id=caller.id,
        query=query.task_query(),
        cursors=cursors,
    )
    time = await report_service.get_time_report(
        connection, caller=caller, query=query.time_query(today), settings=settings
    )
    projects = await project_service.list_projects(
        connection, caller=caller, query=ProjectListQuery(limit=100), cursors=cursors
    )
    team = (
        await _team(connection, caller, settings, cursors, query.time_range(today))
        if is_manager(caller)
        else None
    )
    return Overview(
        today=today,
        time_range=query.time_range(today),
        tasks=tasks,
        projects=[(project.id, project.name) for project in projects.items],
        time=time,
        team=team,
        synced_through=await connection.scalar(
            SYNCED_THROUGH_STATEMENT, {"account_id": caller.account_id}
        ),
    )


async def _team(
    connection: AsyncConnection,
    caller: Caller,
    settings: Settings,
    cursors: CursorCodec,
    time_range: tuple[date, date],
) -> Team:
    start, end = time_range
    filters = ReportFilters(date_from=start, date_to=end)
    listed = await project_service.list_projects(
        connection, caller=caller, query=ProjectListQuery(limit=PROJECTS_SHOWN), cursors=cursors
    )
    progress = [
        await report_service.get_project_progress(
            connection, caller=caller, project_id=project.id, filters=filters, settings=settings
        )
        for project in listed.items
    ]
    workload = await report_service.get_workload(
        connection, caller=caller, filters=filters, settings=settings
    )
    overdue = await report_service.get_overdue(
        connection, caller=caller, filters=ReportFilters(), settings=settings
    )
    async with AsyncSession(bind=connection) as session:
        latest = await jobs.list_jobs(session, account_id=caller.account_id, limit=1)
    return Team(
        progress=progress,
        projects_total=listed.total,
        workload=workload,
        overdue=overdue,
        latest_job=SyncJobRead.model_validate(latest[0]) if latest else None,
    )


async def my_tasks(
    connection: AsyncConnection,
    *,
    caller: Caller,
    session: SessionKey,
    query: DashboardQuery,
    settings: Settings,
    cursors: CursorCodec,
) -> tuple[dict[str, Any], date]:
    """The task table alone (the partial refresh of its filters) and today."""
    tasks = await task_service.list_user_tasks(
        connection,
        session=session,
        user_id=caller.id,
        query=query.task_query(),
        cursors=cursors,
    )
    return tasks, today_in(settings)


def time_export(
    caller: Caller, query: DashboardQuery, settings: Settings, file_format: str
) -> Export:
    """The time section's numbers as a download: `GET /reports/time`'s export."""
    report_query = query.time_query(today_in(settings), format=file_format)
    return report_service.time_export(caller, report_query, settings)
