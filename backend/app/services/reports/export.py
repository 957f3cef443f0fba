"""CSV and XLSX downloads of a report, written while its rows stream from the database.

Rows come from `Database.engine` in partitions (a server-side cursor on PostgreSQL), so
memory does not grow with the number of rows:
- CSV is UTF-8 (optionally with a BOM), a header row, then one chunk of bytes per partition.
  Text cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`,
  a tab or a carriage return) are prefixed with `'`.
- XLSX is written by XlsxWriter in `constant_memory` mode (each row is flushed to a temporary
  file as it is written), with number-formatted cells and a totals row, then sent in chunks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import xlsxwriter
from sqlalchemy import Select

from app.connection.database import Database
from app.connection.faults import statement_timeout
from app.errors import ErrorCode

CellKind = Literal["text", "int", "hours", "date"]
PARTITION_ROWS = 1000
FILE_CHUNK_BYTES = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    kind: CellKind = "text"
    total: bool = False  # summed into the totals row


@dataclass(frozen=True, slots=True)
class Export:
    """What a download holds: its columns, the statement whose rows it lists and how a row
    becomes cells."""

    name: str
    columns: Sequence[Column]
    statement: Select[Any]
    cells: Callable[[Sequence[Any]], Sequence[Any]]

    def filename(self, extension: str) -> str:
        return f"{self.name}.{extension}"


def escape_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, made literal with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return escape_cell(value) if isinstance(value, str) else value


async def _partitions(database: Database, export: Export) -> AsyncIterator[list[Sequence[Any]]]:
    # In a transaction (the server-side cursor needs one), so the bound is SET LOCAL and
    # ends with it. It bounds each statement: the cursor's declaration and every fetch.
    seconds = database.settings.report_statement_timeout_seconds
    async with (
        database.engine.connect() as connection,
        statement_timeout(connection, seconds, code=ErrorCode.REPORT_TIMEOUT),
    ):
        result = await connection.stream(
            export.statement.execution_options(yield_per=PARTITION_ROWS)
        )
        async for partition in result.partitions(PARTITION_ROWS):
            yield [export.cells(row) for row in partition]


class _Totals:
    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        self.sums = [0.0] * len(columns)

    def add(self, cells: Sequence[Any]) -> None:
        for index, column in enumerate(self.columns):
            if column.total and cells[index] is not None:
                self.sums[index] += float(cells[index])

    def row(self) -> list[Any]:
        row: list[Any] = []
        for index, column in enumerate(self.columns):
            if column.total:
                value = self.sums[index]
                row.append(int(value) if column.kind == "int" else round(value, 6))
            else:
                row.append("Total" if index == 0 else None)
        return row


async def csv_chunks(database: Database, export: Export, *, bom: bool) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    totals = _Totals(export.columns)
    writer.writerow([column.title for column in export.columns])
    # The header goes out with the first rows, so nothing is sent before the query answers
    # (a failure there still gets its own status; see routes/downloads.py).
    header = ("\ufeff" if bom else "") + buffer.getvalue()
    async for partition in _partitions(database, export):
        buffer.seek(0)
        buffer.truncate()
        for cells in partition:
            totals.add(cells)
            writer.writerow([_text(cell) for cell in cells])
        yield (header + buffer.getvalue()).encode("utf-8")
        header = ""
    buffer.seek(0)
    buffer.truncate()
    writer.writerow([_text(cell) for cell in totals.row()])
    yield (header + buffer.getvalue()).encode("utf-8")


async def xlsx_chunks(database: Database, export: Export) -> AsyncIterator[bytes]:
    with tempfile.TemporaryFile() as file:
        workbook = xlsxwriter.Workbook(file, {"constant_memory": True})
        sheet = workbook.add_worksheet(export.name[:31])
        bold = workbook.add_format({"bold": True})
        numbers = {"hours": "0.00", "int": "0", "date": "yyyy-mm-dd"}
        formats = {
            kind: workbook.add_format({"num_format": shape}) for kind, shape in numbers.items()
        }
        total_formats = {
            kind: workbook.add_format({"num_format": shape, "bold": True})
            for kind, shape in numbers.items()
        }
        for index, column in enumerate(export.columns):
            sheet.write_string(0, index, column.title, bold)
            sheet.set_column(index, index, 14 if column.kind != "text" else 24)
        totals = _Totals(export.columns)
        row_number = 1

        def write(cells: Sequence[Any], *, total: bool = False) -> None:
            kinds = total_formats if total else formats
            text_format = bold if total else None
            for index, (column, value) in enumerate(zip(export.columns, cells, strict=True)):
                if value is None:
                    continue
                if column.kind in {"hours", "int"} and isinstance(value, int | float):
                    sheet.write_number(row_number, index, value, kinds[column.kind])
                elif column.kind == "date" and isinstance(value, date):
                    sheet.write_datetime(row_number, index, value, kinds["date"])
                else:
                    # write_string: text stays text, never a formula.
                    sheet.write_string(row_number, index, str(value), text_format)

        async for partition in _partitions(database, export):
            for cells in partition:
                totals.add(cells)
                write(cells)
                row_number += 1
        write(totals.row(), total=True)
        await asyncio.to_thread(workbook.close)
        file.seek(0)
        while chunk := file.read(FILE_CHUNK_BYTES):
            yield chunk
