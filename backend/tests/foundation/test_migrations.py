"""Migrations build the schema on both databases, round-trip, and match the models."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.connection import migrations
from app.models import Base
from tests.conftest import POSTGRES_URL, recreate_postgres_database, run_in_thread

EXPECTED_TABLES = {
    "users",
    "projects",
    "tasks",
    "task_assignees",
    "task_logs",
    "refresh_tokens",
    "ace_sessions",
    "sync_jobs",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, separate from the one the rest of the suite shares."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
        return
    request.getfixturevalue("postgres_url")  # skips or fails as the suite's policy says
    name = f"{make_url(POSTGRES_URL).database}_migrations"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(recreate_postgres_database(url))
    yield url
    asyncio.run(recreate_postgres_database(url, drop_only=True))


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": migrations.include_name}
    )
    return list(compare_metadata(context, Base.metadata))


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    # The job queue's own tables exist on PostgreSQL only (tested with the queue).
    queue = {table for table in tables if table.startswith(migrations.QUEUE_TABLE_PREFIX)}
    return tables - {"alembic_version"} - queue, diff


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str) -> None:
    run_in_thread(migrations.upgrade, scratch_url)
    tables, diff = asyncio.run(_inspect(scratch_url))
    assert tables == EXPECTED_TABLES
    assert diff == [], f"models and migrations differ: {diff}"

    run_in_thread(migrations.downgrade, scratch_url, "base")
    tables, _ = asyncio.run(_inspect(scratch_url))
    assert tables == set()

    run_in_thread(migrations.upgrade, scratch_url)
    tables, diff = asyncio.run(_inspect(scratch_url))
    assert tables == EXPECTED_TABLES
    assert diff == []


def test_downgrade_one_step_and_back(scratch_url: str) -> None:
    run_in_thread(migrations.upgrade, scratch_url)
    run_in_thread(migrations.downgrade, scratch_url, "-1")
    run_in_thread(migrations.upgrade, scratch_url)
    tables, diff = asyncio.run(_inspect(scratch_url))
    assert tables == EXPECTED_TABLES
    assert diff == []


def test_every_constraint_and_index_is_named_by_the_convention() -> None:
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
        for index in table.indexes:
            assert index.name
            assert index.name.startswith("ix_"), index.name
