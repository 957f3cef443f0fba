"""Read statements built once and run many times, straight on the driver on PostgreSQL.

The hot read paths (the caller lookup of the read routes, a page of tasks and its assignees)
send their SQL straight to the asyncpg connection beneath SQLAlchemy's, compiled once per
statement and set of list lengths. Everything else goes through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.connection.faults import is_unavailable
from app.errors import AppError, ErrorCode

__all__ = ["ReadStatement"]


class ReadStatement:
    """A read statement built once and run many times.

    On SQLite it runs through SQLAlchemy. On PostgreSQL its SQL, compiled once per set of list
    lengths, goes straight to the asyncpg driver of the given connection: the same SQL on
    the same connection, without SQLAlchemy's per-execution work (its cost on the task page is
    in docs/benchmarks.md). Values need no conversion there: they are
    ints, strings, str enums, dates and aware datetimes, which asyncpg encodes as they are.
    A lost connection becomes `DB_UNAVAILABLE`, as it does through SQLAlchemy.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        # list lengths → (SQL, where each $n comes from: (parameter, index in its list or -1
        # for the whole value, or None and a constant the statement carries))
        self._asyncpg: dict[tuple[int, ...], tuple[str, list[tuple[str | None, int, Any]]]] = {}

    async def rows(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        if connection.dialect.name != "postgresql":
            return (await connection.execute(self.statement, params)).all()
        sql, args = self.bound(connection, params)
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        try:
            rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *args)
        except Exception as exc:
            # SQLAlchemy's handlers see none of the driver's errors here: a connection gone,
            # refused or left unusable (a backend terminated while it sat in the pool) is
            # discarded and answers DB_UNAVAILABLE; anything else is raised as it is.
            if not is_unavailable(exc):
                raise
            await _invalidate(connection, raw, exc)
            raise AppError(
                "The database is unavailable; try again shortly",
                code=ErrorCode.DB_UNAVAILABLE,
                headers={"Retry-After": "5"},
            ) from exc
        return rows

    def bound(self, connection: AsyncConnection, params: dict[str, Any]) -> tuple[str, list[Any]]:
        """The SQL the driver runs for `params` (PostgreSQL), and its positional arguments."""
        sql, sources = self._asyncpg_sql(connection, params)
        args = [
            constant if name is None else params[name] if index < 0 else params[name][index]
            for name, index, constant in sources
        ]
        return sql, args

    def _asyncpg_sql(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> tuple[str, list[tuple[str | None, int, Any]]]:
        lengths = tuple(len(value) for value in params.values() if isinstance(value, list))
        if lengths not in self._asyncpg:
            # Compile with placeholders standing for the request's values, so each position
            # tells where its value comes from; other positions hold the statement's constants.
            slots = {
                name: [_Slot(name, index) for index in range(len(value))]
                if isinstance(value, list)
                else _Slot(name, -1)
                for name, value in params.items()
            }
            compiled = self.statement.compile(dialect=connection.dialect)
            state = compiled.construct_expanded_state(slots)
            assert state.positiontup is not None
            sources: list[tuple[str | None, int, Any]] = []
            for position in state.positiontup:
                value = state.parameters[position]
                if isinstance(value, _Slot):
                    sources.append((value.name, value.index, None))
                else:
                    sources.append((None, -1, value))
            self._asyncpg[lengths] = (state.statement, sources)
        return self._asyncpg[lengths]


async def _invalidate(connection: AsyncConnection, raw: Any, exc: BaseException) -> None:
    """What SQLAlchemy does on a disconnect error it sees itself: mark every connection the
    pool opened before this one as stale (recycled at its next checkout) and discard this
    one, so a database restart costs a worker one failed request, not one per pooled
    connection.

    SQLAlchemy has no public call for the first half; this is the one it makes itself
    (`Connection._handle_dbapi_exception`)."""
    pool = getattr(connection.sync_engine, "pool", None)
    if pool is not None:
        pool._invalidate(raw, exc, _checkin=False)
    if not connection.invalidated:
        await connection.invalidate(exc)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Stands for the request's value `name` (item `index` of it when >= 0) while compiling."""

    name: str
    index: int
