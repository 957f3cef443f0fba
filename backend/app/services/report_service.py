"""Reports over task logs and tasks (`/reports/...`); the steps live in `services/reports/`.

Every report reads only the caller's account; a member's reports cover only their own logs
and tasks. Deleted tasks, projects and users are left out, as in the task list. Sums run
in SQL; downloads stream their rows (`reports.export`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.caller import Caller
from app.config import Settings
from app.connection.database import Database
from app.connection.faults import statement_timeout
from app.dto.report_dto import (
    OverdueReport,
    ProjectProgress,
    ReportFilters,
    TimeReport,
    TimeReportQuery,
    WorkloadReport,
)
from app.errors import ErrorCode
from app.services.reports import export, scope, task_reports, time_report
from app.services.reports.export import Column, Export

MEDIA_TYPES = export.MEDIA_TYPES


def bounded(connection: AsyncConnection, settings: Settings) -> AbstractAsyncContextManager[None]:
    """Every statement of a report runs within REPORT_STATEMENT_TIMEOUT_SECONDS, or the report
    answers REPORT_TIMEOUT (the downloads apply the same bound in `reports.export`)."""
    return statement_timeout(
        connection, settings.report_statement_timeout_seconds, code=ErrorCode.REPORT_TIMEOUT
    )


async def get_time_report(
    connection: AsyncConnection, *, caller: Caller, query: TimeReportQuery, settings: Settings
) -> TimeReport:
    async with bounded(connection, settings):
        return await time_report.get_time_report(
            connection, caller=caller, query=query, settings=settings
        )


def _range_name(report: str, filters: ReportFilters) -> str:
    start = filters.date_from.isoformat() if filters.date_from else "start"
    end = filters.date_to.isoformat() if filters.date_to else "end"
    return f"{report}_{start}_{end}"


def time_export(caller: Caller, query: TimeReportQuery, settings: Settings) -> Export:
    """The grouped rows of the time report as a download (checked before anything streams)."""
    time_report.check_query(query)
    plan = time_report.time_statement(caller, query, settings)
    columns = [Column(query.group), Column(f"{query.group}_label")]
    if query.sub_group is not None:
        columns += [Column(query.sub_group), Column(f"{query.sub_group}_label")]
    columns += [Column("hours", "hours", total=True), Column("entries", "int", total=True)]

    def cells(row: Sequence[Any]) -> list[Any]:
        values: list[Any] = []
        for level, part in zip(plan.levels, plan.split(row), strict=True):
            values += [level.key(part), level.label(part)]
        return [*values, scope.hours(row[-2]), int(row[-1])]

    return Export(_range_name("time-report", query), columns, plan.statement, cells)


async def get_workload(
    connection: AsyncConnection, *, caller: Caller, filters: ReportFilters, settings: Settings
) -> WorkloadReport:
    async with bounded(connection, settings):
        return await task_reports.get_workload(
            connection, caller=caller, filters=filters, settings=settings
        )


def workload_export(caller: Caller, filters: ReportFilters, settings: Settings) -> Export:
    name = _range_name("workload-report", filters)
    return task_reports.workload_export(caller, filters, settings, name)


async def get_overdue(
    connection: AsyncConnection, *, caller: Caller, filters: ReportFilters, settings: Settings
) -> OverdueReport:
    async with bounded(connection, settings):
        return await task_reports.get_overdue(
            connection, caller=caller, filters=filters, settings=settings
        )


def overdue_export(caller: Caller, filters: ReportFilters, settings: Settings) -> Export:
    name = _range_name("overdue-report", filters)
    return task_reports.overdue_export(caller, filters, settings, name)


async def get_project_progress(
    connection: AsyncConnection,
    *,
    caller: Caller,
    project_id: int,
    filters: ReportFilters,
    settings: Settings,
) -> ProjectProgress:
    async with bounded(connection, settings):
        return await task_reports.get_progress(
            connection, caller=caller, project_id=project_id, filters=filters, settings=settings
        )


async def project_progress_export(
    connection: AsyncConnection,
    *,
    caller: Caller,
    project_id: int,
    filters: ReportFilters,
    settings: Settings,
) -> Export:
    name = _range_name(f"project-{project_id}-progress", filters)
    async with bounded(connection, settings):
        return await task_reports.progress_export(
            connection, caller, filters, project_id, settings, name
        )


def stream_export(
    database: Database, report: Export, *, file_format: str, bom: bool
) -> AsyncIterator[bytes]:
    if file_format == "csv":
        return export.csv_chunks(database, report, bom=bom)
    return export.xlsx_chunks(database, report)
