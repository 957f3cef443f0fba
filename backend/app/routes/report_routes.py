"""Reports (`/reports/...`): JSON in the envelope, or a CSV / XLSX download (`format=`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from app.dependencies.auth_dependencies import ReadCaller
from app.dependencies.clients import DatabaseDep, SettingsDep
from app.dependencies.get_db import ReadConnection
from app.dto.report_dto import (
    OverdueReport,
    ProjectProgress,
    ReportFilters,
    TimeReport,
    TimeReportQuery,
    WorkloadReport,
)
from app.dto.response import SuccessResponse
from app.dto.task import MAX_ID
from app.routes.downloads import download
from app.routes.openapi import error_responses
from app.services import report_service
from app.services.reports.export import Export

router = APIRouter(prefix="/reports", tags=["reports"])

_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media_type: {} for media_type in report_service.MEDIA_TYPES.values()},
        "description": "JSON, or with format=csv|xlsx a download",
    }
}


def _download(database: DatabaseDep, report: Export, filters: ReportFilters) -> StreamingResponse:
    return download(database, report, file_format=filters.format, bom=filters.bom)


@router.get(
    "/time",
    response_model=SuccessResponse[TimeReport],
    responses={**error_responses(401, 504), **_DOWNLOADS},
)
async def get_time_report(
    query: Annotated[TimeReportQuery, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
) -> SuccessResponse[TimeReport] | StreamingResponse:
    """Hours logged, by `group` and optional `sub_group`, with totals at every level."""
    if query.format != "json":
        report = report_service.time_export(caller, query, settings)
        return _download(database, report, query)
    data = await report_service.get_time_report(
        connection, caller=caller, query=query, settings=settings
    )
    return SuccessResponse(data=data)


@router.get(
    "/workload",
    response_model=SuccessResponse[WorkloadReport],
    responses={**error_responses(401, 504), **_DOWNLOADS},
)
async def get_workload(
    filters: Annotated[ReportFilters, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
) -> SuccessResponse[WorkloadReport] | StreamingResponse:
    """Per user: open assigned tasks, remaining estimate, hours logged in the range, overdue."""
    if filters.format != "json":
        return _download(
            database, report_service.workload_export(caller, filters, settings), filters
        )
    data = await report_service.get_workload(
        connection, caller=caller, filters=filters, settings=settings
    )
    return SuccessResponse(data=data)


@router.get(
    "/overdue",
    response_model=SuccessResponse[OverdueReport],
    responses={**error_responses(401, 504), **_DOWNLOADS},
)
async def get_overdue(
    filters: Annotated[ReportFilters, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
) -> SuccessResponse[OverdueReport] | StreamingResponse:
    """Open tasks past their expected end, by project and assignee, with the days overdue."""
    if filters.format != "json":
        return _download(
            database, report_service.overdue_export(caller, filters, settings), filters
        )
    data = await report_service.get_overdue(
        connection, caller=caller, filters=filters, settings=settings
    )
    return SuccessResponse(data=data)


@router.get(
    "/projects/{project_id}/progress",
    response_model=SuccessResponse[ProjectProgress],
    responses={**error_responses(401, 404, 504), **_DOWNLOADS},
)
async def get_project_progress(
    project_id: Annotated[int, Path(ge=1, le=MAX_ID, description="acehub project id")],
    filters: Annotated[ReportFilters, Query()],
    caller: ReadCaller,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
) -> SuccessResponse[ProjectProgress] | StreamingResponse:
    """Tasks by status type, percent done, estimate against logged hours, overdue tasks and
    hours per week of one visible project (404 when missing or not visible)."""
    if filters.format != "json":
        report = await report_service.project_progress_export(
            connection, caller=caller, project_id=project_id, filters=filters, settings=settings
        )
        return _download(database, report, filters)
    data = await report_service.get_project_progress(
        connection, caller=caller, project_id=project_id, filters=filters, settings=settings
    )
    return SuccessResponse(data=data)
