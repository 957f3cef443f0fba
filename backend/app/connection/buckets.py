"""Date buckets and rounding for the reports, in SQL, one spelling per database.

Each expression is a SQLAlchemy element compiled per dialect (`@compiles`), so the reports
build one statement and each database gets its own SQL:

- `date_bucket(column, unit, week_start)`: the first day of the day, week or month a date
  falls in, as a date. SQLite stores dates as ISO text and uses `date()`/`strftime()`;
  PostgreSQL uses date arithmetic and `date_trunc`.
- `floor_(value)`: the largest integer not above a number. PostgreSQL has `floor`; SQLite
  (without its optional math functions) truncates with `CAST` and corrects negatives.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

BucketUnit = Literal["day", "week", "month"]


class _DateBucket(FunctionElement[Any]):
    type = Date()
    inherit_cache = True
    name = "date_bucket"
    # The unit and the week start are part of the SQL text, so they are part of the cache key.
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("unit", InternalTraversal.dp_string),
        ("week_start", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, column: Any, unit: BucketUnit, week_start: int) -> None:
        # Never user text: a literal of a closed set and an int 0-6.
        self.unit = unit
        self.week_start = int(week_start) % 7
        super().__init__(column)


class _Floor(FunctionElement[Any]):
    type = Float()
    inherit_cache = True
    name = "floor"


def date_bucket(column: Any, unit: BucketUnit, week_start: int) -> Any:
    """The first day of the `unit` that `column` (a date) falls in; weeks start on
    `week_start` (0 Monday .. 6 Sunday)."""
    return _DateBucket(column, unit, week_start)


def floor_(value: ColumnElement[Any]) -> Any:
    """The largest integer not above `value`, as a number."""
    return _Floor(value)


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(_DateBucket, "sqlite")
def _date_bucket_sqlite(element: _DateBucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = _argument(element, compiler, **kw)
    if element.unit == "day":
        return f"date({column})"
    if element.unit == "month":
        return f"strftime('%Y-%m-01', {column})"
    # %w: 0 Sunday .. 6 Saturday; days since the week's start = (w + 6 - start) mod 7.
    shift = 13 - element.week_start
    return (
        f"date({column}, '-' || ((CAST(strftime('%w', {column}) AS INTEGER) + {shift}) % 7)"
        " || ' days')"
    )


@compiles(_DateBucket, "postgresql")
def _date_bucket_postgresql(element: _DateBucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = _argument(element, compiler, **kw)
    if element.unit == "day":
        return f"CAST({column} AS DATE)"
    if element.unit == "month":
        # Truncated as a plain timestamp: a date taken as timestamptz would go through the
        # session's time zone for nothing (and cost a conversion per row).
        return f"CAST(date_trunc('month', CAST({column} AS TIMESTAMP)) AS DATE)"
    # isodow: 1 Monday .. 7 Sunday; days since the week's start = (isodow - 1 - start) mod 7.
    shift = 6 - element.week_start
    return (
        f"(CAST({column} AS DATE) - CAST((CAST(EXTRACT(ISODOW FROM {column}) AS INTEGER)"
        f" + {shift}) % 7 AS INTEGER))"
    )


@compiles(_Floor, "sqlite")
def _floor_sqlite(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    value = _argument(element, compiler, **kw)
    return f"(CAST({value} AS INTEGER) - (({value}) < CAST({value} AS INTEGER)))"


@compiles(_Floor, "postgresql")
def _floor_postgresql(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"floor({_argument(element, compiler, **kw)})"
