"""`ReadStatement` on PostgreSQL: parameters mapped to the driver's positions, and a lost
connection reported as `DB_UNAVAILABLE` (no database needed: the driver is a stand-in)."""

from __future__ import annotations

import re
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import AppError, ErrorCode
from app.models import StatusType
from app.services import task_service
from app.services.task_service import TaskQueryShape


class _Driver:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        self.calls.append((sql, args))
        if self.error is not None:
            raise self.error
        return [(1, "row")]


class _Raw:
    def __init__(self, driver: _Driver) -> None:
        self.driver_connection = driver


class _Pool:
    def __init__(self) -> None:
        self.invalidated: list[Any] = []

    def _invalidate(self, connection: Any, exception: Any, _checkin: bool = True) -> None:
        self.invalidated.append(connection)


class _Engine:
    def __init__(self) -> None:
        self.pool = _Pool()


class _Connection:
    def __init__(self, driver: _Driver) -> None:
        self.dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
        self._raw = _Raw(driver)
        self.sync_engine = _Engine()
        self.invalidated = False

    async def get_raw_connection(self) -> _Raw:
        return self._raw

    async def invalidate(self, exception: BaseException | None = None) -> None:
        self.invalidated = True


def _connection(driver: _Driver) -> AsyncConnection:
    return cast(AsyncConnection, _Connection(driver))


async def test_list_items_and_constants_reach_their_positions() -> None:
    driver = _Driver()
    shape = TaskQueryShape(status_type=True, overdue=False)
    params: dict[str, Any] = {
        "guid": "caller-guid",
        "sid": "session-id",
        "user_id": 7,
        "limit": 51,
        "offset": 0,
        "status_type": [StatusType.waiting, StatusType.completed],
        "today": "2026-11-27",
    }

    rows = await task_service.page_statement(shape).rows(_connection(driver), params)

    assert rows == [(1, "row")]
    sql, args = driver.calls[0]
    assert "$1" in sql
    assert args.count(7) == 1  # one parameter, however often the SQL uses it
    assert list(args).count("caller-guid") == 1
    # the filter's list, and the constant of the overdue rule (`status_type = 'completed'`)
    assert args.count(StatusType.waiting) == 1
    assert args.count(StatusType.completed) == 2
    assert 51 in args
    assert len(args) == len(set(re.findall(r"\$\d+", sql)))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        ConnectionResetError("reset by peer"),
    ],
)
async def test_a_lost_connection_is_db_unavailable(error: Exception) -> None:
    statement = task_service.page_statement(TaskQueryShape(status_type=True))
    connection = _Connection(_Driver(error))
    params = {"guid": "g", "sid": "s", "user_id": 1, "limit": 51, "offset": 0}
    with pytest.raises(AppError) as caught:
        await statement.rows(
            cast(AsyncConnection, connection), {**params, "status_type": [StatusType.waiting]}
        )
    assert caught.value.code is ErrorCode.DB_UNAVAILABLE
    # As SQLAlchemy does on a disconnect: the connection is discarded and the pool's older
    # connections are marked stale, so the next request gets a live one.
    assert connection.invalidated
    assert connection.sync_engine.pool.invalidated == [connection._raw]
