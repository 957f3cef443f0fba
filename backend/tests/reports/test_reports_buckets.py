"""`connection.buckets` on both databases: every day of two years against Python's calendar,
for every week start, and `floor_` on both signs."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import Date, Float, literal, select, union_all

from app.connection.buckets import date_bucket, floor_
from app.connection.database import Database


async def test_buckets_match_the_calendar(database: Database) -> None:
    days = [date(2026, 1, 1) + timedelta(days=offset) for offset in range(730)]
    async with database.engine.connect() as connection:
        for week_start, start in itertools.product(range(7), range(0, len(days), 100)):
            chunk = days[start : start + 100]  # SQLite caps a compound SELECT at 500 terms
            source = union_all(
                *(select(literal(day, Date).label("day")) for day in chunk)
            ).subquery()
            statement = select(
                source.c.day,
                date_bucket(source.c.day, "day", week_start),
                date_bucket(source.c.day, "week", week_start),
                date_bucket(source.c.day, "month", week_start),
            ).order_by(source.c.day)
            rows = (await connection.execute(statement)).all()
            assert len(rows) == len(chunk)
            for worked, as_day, as_week, as_month in rows:
                worked = worked if isinstance(worked, date) else date.fromisoformat(worked)
                assert as_day == worked
                assert as_week.weekday() == week_start
                assert 0 <= (worked - as_week).days < 7
                assert as_month == worked.replace(day=1)


@pytest.mark.parametrize(
    ("value", "floored"), [(2.0, 2), (2.5, 2), (2.999, 2), (0.0, 0), (-0.5, -1), (-2.0, -2)]
)
async def test_floor(database: Database, value: float, floored: int) -> None:
    async with database.engine.connect() as connection:
        result = await connection.scalar(select(floor_(literal(value, Float))))
    assert result is not None
    assert float(result) == floored
