"""Fresh planner statistics after a large committed write (PostgreSQL `ANALYZE`).

A table loaded by a batch save or a first sync has no statistics (or stale ones) until
autovacuum reaches it, up to a minute or more later; meanwhile the planner guesses, and a
`GET /tasks/{user_id}` page can take a second instead of milliseconds. So whoever committed
many rows calls `refresh_statistics`, which analyzes the tables where the change is a large
share of what the statistics describe.

Bounded: `ANALYZE` reads a fixed-size sample (300 x `default_statistics_target` rows), each
table runs under `ANALYZE_LOCK_TIMEOUT_SECONDS` and `ANALYZE_STATEMENT_TIMEOUT_SECONDS`, and
any failure is logged and swallowed: statistics are an optimisation, the write has committed.

SQLite: nothing is done. Its planner, with no `sqlite_stat1` table (acehub never creates
one), takes every index as selective, which is what these queries want; and an `ANALYZE`
there would take the write lock every other writer queues on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String

from app.config import Settings
from app.connection.database import Database

log = logging.getLogger(__name__)

# Per table: its quoted name, estimated rows (-1: never analyzed) and rows changed since its
# last analyze (as counted by the statistics system, which may lag or already include ours).
_STATE = text(
    """
    SELECT wanted.name, c.oid::regclass::text, c.reltuples,
           coalesce(s.n_mod_since_analyze, 0)
    FROM unnest(:names) AS wanted(name)
    JOIN pg_class c ON c.oid = to_regclass(wanted.name)
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.relkind IN ('r', 'p')
    """
).bindparams(bindparam("names", type_=ARRAY(String())))


@dataclass(frozen=True, slots=True)
class _TableState:
    name: str
    qualified: str
    reltuples: float
    modified_since_analyze: int


async def refresh_statistics(database: Database, changed: Mapping[str, int]) -> list[str]:
    """ANALYZE the tables among `changed` (rows inserted + updated + deleted per table name,
    by a unit of work that has committed) whose change is large; returns those analyzed.

    A table qualifies when its change is at least `ANALYZE_MIN_ROWS` and it was never
    analyzed, or the change (or the rows modified since its last analyze, if more) reaches
    `ANALYZE_SHARE` of its estimated rows. Never raises (failures are logged)."""
    settings = database.settings
    large = {name: rows for name, rows in changed.items() if rows >= settings.analyze_min_rows}
    if not large or database.dialect != "postgresql":
        return []
    started = time.perf_counter()
    try:
        async with database.engine.connect() as conn:
            states = await _table_states(conn, sorted(large))
            stale = [state for state in states if _is_stale(state, large[state.name], settings)]
            analyzed = [state.name for state in stale if await _analyze(conn, state, database)]
    except Exception:
        log.warning("refreshing planner statistics failed", exc_info=True)
        return []
    if analyzed:
        log.info(
            "planner statistics refreshed",
            extra={"tables": analyzed, "ms": round((time.perf_counter() - started) * 1000)},
        )
    return analyzed


async def _table_states(conn: AsyncConnection, names: list[str]) -> list[_TableState]:
    rows = (await conn.execute(_STATE, {"names": names})).all()
    await conn.commit()  # so each ANALYZE below runs in a transaction of its own
    return [_TableState(row[0], row[1], float(row[2]), int(row[3])) for row in rows]


def _is_stale(state: _TableState, changed: int, settings: Settings) -> bool:
    if state.reltuples < 0:  # never analyzed (nor vacuumed) since it was created or truncated
        return True
    # The statistics system has often counted this write already: take the larger of the
    # two, so one batch is never counted twice.
    modified = max(changed, state.modified_since_analyze)
    return modified >= settings.analyze_share * state.reltuples


async def _analyze(conn: AsyncConnection, state: _TableState, database: Database) -> bool:
    """ANALYZE one table in a short transaction of its own (the timeouts are `SET LOCAL`,
    so they end with it and never reach the pooled connection's next user)."""
    settings = database.settings
    try:
        async with conn.begin():
            await conn.execute(
                text(
                    "SELECT set_config('lock_timeout', :lock, true), "
                    "set_config('statement_timeout', :statement, true)"
                ),
                {
                    "lock": _milliseconds(settings.analyze_lock_timeout_seconds),
                    "statement": _milliseconds(settings.analyze_statement_timeout_seconds),
                },
            )
            # SKIP_LOCKED: a table autovacuum is working on is left to it, no waiting.
            await conn.execute(text(f"ANALYZE (SKIP_LOCKED) {state.qualified}"))
    except DBAPIError as exc:
        # Typically a lock timeout (a VACUUM, ANALYZE or DDL holds the table) or the
        # statement timeout; autovacuum will get to the table later.
        log.warning(
            "ANALYZE skipped",
            extra={"table": state.name, "error": str(exc.orig or exc).splitlines()[0]},
        )
        return False
    return True


def _milliseconds(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"  # 0 would mean "no timeout"
