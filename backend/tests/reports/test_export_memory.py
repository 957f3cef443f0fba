"""Downloads stream: the peak of Python's allocations while a CSV or XLSX time-report export is
consumed does not grow with its rows (N rows against 10 x N), on both databases.

The export is `group=task&sub_group=day` over logs that never share a task and a day, so it
has one row per log. Each format is consumed once untraced first: imports, statement caches
and the like are start-up costs, not per-row ones. The bound is tight on purpose: the file
itself is 23 (XLSX) to 58 (CSV) bytes a row, so holding it whole would add 0.4-1 MiB over
the 9 x N more rows, above the allowance, while the streamed peak moves by < 0.1 MiB.
"""

from __future__ import annotations

import tempfile
import tracemalloc
import zipfile
from collections.abc import AsyncIterator
from datetime import date, timedelta

from sqlalchemy import func, insert, select

from app.auth.caller import Caller
from app.config import Settings
from app.connection.database import Database
from app.dto.report_dto import TimeReportQuery
from app.models import RoleEnum, Task, TaskLog, TaskLogKind, TaskLogSource
from app.services import report_service
from app.services.reports.export import PARTITION_ROWS
from tests.factories import create_user
from tests.tasks.seeding import add_project

# Two full partitions of the export (`PARTITION_ROWS`): the working set of a stream is one
# partition being written and the next being fetched, so a smaller N would not reach it.
N = 2 * PARTITION_ROWS
TASKS = N // 2
PER_TASK = 20  # TASKS * PER_TASK = 10 x N logs
STEP = 30  # days between a task's logs; one task never has two logs on a day
START = date(2025, 1, 5)
# What the peak may move by between two streams whatever their rows (measured between N and
# 10 x N rows: +30 to +70 KiB).
SLACK_BYTES = 192 * 1024
WARM_UP_ROWS = TASKS


async def _world(database: Database) -> Caller:
    boss = await create_user(database, username="boss", role=RoleEnum.manager)
    project = await add_project(database, name="Big")
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(Task),
            [
                {
                    "account_id": "acme",
                    "ace_task_id": 10_000 + i,
                    "project_id": project.id,
                    "title": f"Task {i}: a title of an ordinary length",
                    "estimated_hours": 8.0,
                }
                for i in range(TASKS)
            ],
        )
        first = int(await conn.scalar(select(func.min(Task.id))) or 0)
        await conn.execute(
            insert(TaskLog),
            [
                {
                    "account_id": "acme",
                    "task_id": first + t,
                    "user_id": boss.id,
                    "kind": TaskLogKind.time,
                    "date_worked": START + timedelta(days=k * STEP + t % STEP),
                    "hours": 0.25 * (1 + (t + k) % 16),
                    "source": TaskLogSource.local,
                }
                for k in range(PER_TASK)
                for t in range(TASKS)
            ],
        )
    return Caller(boss.id, "acme", RoleEnum.manager, True, False)


def _query(file_format: str, rows: int) -> TimeReportQuery:
    """The per-log export of the first `rows` logs (whole rounds of one log per task)."""
    last = START + timedelta(days=(rows // TASKS) * STEP - 1)
    return TimeReportQuery.model_validate(
        {
            "group": "task",
            "sub_group": "day",
            "date_from": START.isoformat(),
            "date_to": last.isoformat(),
            "format": file_format,
        }
    )


def _stream(
    database: Database, caller: Caller, settings: Settings, file_format: str, rows: int
) -> AsyncIterator[bytes]:
    query = _query(file_format, rows)
    export = report_service.time_export(caller, query, settings)
    return report_service.stream_export(database, export, file_format=file_format, bom=False)


def _xlsx_rows(path: str) -> int:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").count(b"<row ")


async def _consume(chunks: AsyncIterator[bytes], file_format: str) -> tuple[int, int]:
    """The peak of traced allocations above the start (bytes) and the rows the file holds
    besides its header and totals rows. Chunks go to a file, not to memory."""
    with tempfile.NamedTemporaryFile(suffix=f".{file_format}") as sink:
        lines = 0
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            async for chunk in chunks:
                lines += chunk.count(b"\r\n")
                sink.write(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        sink.flush()
        rows = lines if file_format == "csv" else _xlsx_rows(sink.name)
    return peak - start, rows - 2


async def test_export_memory_does_not_grow_with_rows(
    database: Database, settings: Settings
) -> None:
    caller = await _world(database)
    for file_format in ("csv", "xlsx"):
        await _consume(_stream(database, caller, settings, file_format, WARM_UP_ROWS), file_format)
        peaks: dict[int, int] = {}
        for rows in (N, 10 * N):
            peak, written = await _consume(
                _stream(database, caller, settings, file_format, rows), file_format
            )
            assert written == rows
            peaks[rows] = peak

        assert peaks[10 * N] < peaks[N] + SLACK_BYTES, (
            f"{file_format}: peak {peaks[N]:,} B at {N:,} rows, {peaks[10 * N]:,} B at {10 * N:,}"
        )
