"""A report export as an HTTP download (shared by the report routes and the dashboard)."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from app.connection.database import Database
from app.services import report_service
from app.services.reports.export import Export


def download(
    database: Database, report: Export, *, file_format: str, bom: bool
) -> StreamingResponse:
    """The export streamed (its rows are read as they are sent), named for the report and
    its range."""
    return StreamingResponse(
        report_service.stream_export(database, report, file_format=file_format, bom=bom),
        media_type=report_service.MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{report.filename(file_format)}"'},
    )
