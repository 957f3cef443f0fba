"""Planner statistics after a save: a large batch leaves its tables analyzed (PostgreSQL), a
small one does not, and an ANALYZE that fails (here: a lock held elsewhere) never fails the
save. The thresholds are lowered through settings so the batches stay small."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ace_sandbox.testing import SandboxServer
from app.config import Settings
from app.connection.database import Database
from app.connection.statistics import refresh_statistics
from tests.conftest import make_settings
from tests.save.helpers import counts, manager_headers, post

MIN_ROWS = 20
LARGE = 30  # tasks (and as many assignees): over MIN_ROWS, under autovacuum's 50-row floor
SMALL = 5


@pytest.fixture
def settings(database_url: str, sandbox: SandboxServer) -> Settings:
    return make_settings(
        database_url,
        ace_api_url=sandbox.url,
        analyze_min_rows=MIN_ROWS,
        analyze_share=0.2,
        analyze_lock_timeout_seconds=0.05,
    )


def batch(tasks: int, *, first: int = 1) -> dict[str, Any]:
    ids = range(first, first + tasks)
    return {
        "users": [{"ace_user_id": 1, "username": "carol"}],
        "projects": [{"ace_project_id": 1, "name": "Website"}],
        "tasks": [{"ace_task_id": i, "ace_project_id": 1, "title": f"Task {i}"} for i in ids],
        "assignees": [{"ace_task_id": i, "ace_user_id": 1} for i in ids],
    }


async def manual_analyzes(database: Database) -> dict[str, int]:
    """`ANALYZE` runs per table so far (autovacuum's are counted apart)."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(text("SELECT relname, analyze_count FROM pg_stat_user_tables"))
        return {name: int(count) for name, count in rows}


async def reltuples(database: Database, table: str) -> float:
    async with database.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        )
        return float(value)


def require_postgres(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("planner statistics are refreshed on PostgreSQL only")


def grown(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name, count in after.items() if count > before.get(name, 0)}


async def test_large_save_analyzes_its_tables(
    client: httpx.AsyncClient, database: Database
) -> None:
    require_postgres(database)
    headers = await manager_headers(client, database)
    before = await manual_analyzes(database)
    counts(await post(client, headers, batch(LARGE)))
    assert grown(before, await manual_analyzes(database)) == {"tasks", "task_assignees"}
    assert await reltuples(database, "tasks") == LARGE


async def test_small_save_analyzes_nothing(client: httpx.AsyncClient, database: Database) -> None:
    require_postgres(database)
    headers = await manager_headers(client, database)
    before = await manual_analyzes(database)
    counts(await post(client, headers, batch(SMALL)))
    assert grown(before, await manual_analyzes(database)) == set()
    assert await reltuples(database, "tasks") < 0  # tables are TRUNCATEd after every test


async def test_change_small_against_analyzed_rows_is_left_to_autovacuum(
    client: httpx.AsyncClient, database: Database
) -> None:
    require_postgres(database)
    headers = await manager_headers(client, database)
    counts(await post(client, headers, batch(10 * MIN_ROWS)))  # analyzed: never was before
    # MIN_ROWS more rows are under a fifth of the 200 analyzed: no ANALYZE.
    assert await refresh_statistics(database, {"tasks": MIN_ROWS}) == []
    assert await refresh_statistics(database, {"tasks": 2 * MIN_ROWS}) == ["tasks"]


async def test_a_table_locked_by_another_analyze_is_skipped_not_waited_for(
    client: httpx.AsyncClient, database: Database
) -> None:
    require_postgres(database)
    headers = await manager_headers(client, database)
    before = await manual_analyzes(database)
    async with database.engine.connect() as holder:
        # What autovacuum holds while it works: conflicts with ANALYZE, not with the save's
        # inserts. ANALYZE (SKIP_LOCKED) leaves that table alone instead of waiting.
        await holder.execute(text("LOCK TABLE tasks IN SHARE UPDATE EXCLUSIVE MODE"))
        response = await post(client, headers, batch(LARGE))
        await holder.rollback()
    assert counts(response)["tasks"]["inserted"] == LARGE
    assert grown(before, await manual_analyzes(database)) == {"task_assignees"}


async def test_unreachable_database_is_swallowed(settings: Settings) -> None:
    broken = Database(
        settings.model_copy(
            update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:9/none"}
        )
    )
    try:
        assert await refresh_statistics(broken, {"tasks": 10 * MIN_ROWS}) == []
    finally:
        await broken.dispose()


async def test_sqlite_does_nothing(client: httpx.AsyncClient, database: Database) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the SQLite case")
    headers = await manager_headers(client, database)
    counts(await post(client, headers, batch(LARGE)))
    assert await refresh_statistics(database, {"tasks": 10 * MIN_ROWS}) == []
