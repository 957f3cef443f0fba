"""A report export as an HTTP download (shared by the report routes and the dashboard)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.connection.database import Database
from app.services import report_service
from app.services.reports.export import Export


class _Download(StreamingResponse):
    """A stream whose first chunk is produced before the status line is sent: the export's
    query runs (and may fail with its own status: a timeout, the database gone) while an
    error can still be answered. A failure later, mid-stream, can only cut the download."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = aiter(self.body_iterator)
        first = await anext(chunks, None)

        async def body() -> AsyncIterator[str | bytes | memoryview]:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk

        self.body_iterator = body()
        await super().__call__(scope, receive, send)


def download(
    database: Database, report: Export, *, file_format: str, bom: bool
) -> StreamingResponse:
    """The export streamed (its rows are read as they are sent), named for the report and
    its range."""
    return _Download(
        report_service.stream_export(database, report, file_format=file_format, bom=bom),
        media_type=report_service.MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{report.filename(file_format)}"'},
    )
