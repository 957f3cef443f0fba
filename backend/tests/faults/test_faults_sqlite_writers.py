"""SQLite with concurrent writers (batch saves and task-log creates through the app): each
succeeds or answers a clean, retryable 503 DB_UNAVAILABLE with Retry-After; "database is
locked" never surfaces as a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from app.connection import database as database_module
from app.connection import migrations
from app.connection.database import Database
from app.main import create_app
from app.models import Task
from tests.conftest import make_settings, run_in_thread
from tests.save.helpers import SAVE, example_batch, manager_headers


def _batch(n: int) -> dict[str, Any]:
    batch = example_batch()
    batch["tasks"] = [
        {"ace_task_id": 1000 * (n + 1) + i, "ace_project_id": 9001, "title": f"Task {n}.{i}"}
        for i in range(200)
    ]
    batch["assignees"] = []
    batch["task_logs"] = [
        dict(batch["task_logs"][0], client_id=f"c-{n}", ace_task_id=1000 * (n + 1))
    ]
    return batch


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database, Path]]:
    path = tmp_path / "writers.db"
    url = f"sqlite+aiosqlite:///{path}"
    run_in_thread(migrations.upgrade, url)
    application = create_app(make_settings(url, ace_write_back=False))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, application.state.db, path


def _clean(response: httpx.Response, *ok: int) -> bool:
    """A success, or the retryable answer; never a 500."""
    if response.status_code in ok:
        return True
    assert response.status_code == 503, response.text
    assert response.json()["error_code"] == "DB_UNAVAILABLE"
    assert response.headers["retry-after"]
    assert "locked" not in response.text
    return False


async def test_concurrent_saves_and_task_logs_never_fail_with_500(
    sqlite_app: tuple[httpx.AsyncClient, Database, Path],
) -> None:
    client, database, _ = sqlite_app
    headers = await manager_headers(client, database)
    assert (await client.post(SAVE, json=_batch(0), headers=headers)).status_code == 200
    task_id = await _a_task_id(database)
    saves = [client.post(SAVE, json=_batch(n), headers=headers) for n in range(1, 9)]
    logs = [
        client.post(
            f"/tasks/{task_id}/logs",
            json={"kind": "time", "date_worked": "2026-11-2" + str(n), "hours": 1},
            headers=headers,
        )
        for n in range(8)
    ]
    responses = await asyncio.gather(*saves, *logs)
    succeeded = [_clean(r, 200, 201) for r in responses]
    assert all(succeeded)  # with the busy timeout, writers queue: all of them get through


async def _a_task_id(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(Task.id).limit(1)) or 0)


async def test_a_writer_that_outwaits_the_busy_timeout_answers_503_not_500(
    sqlite_app: tuple[httpx.AsyncClient, Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, database, path = sqlite_app
    headers = await manager_headers(client, database)
    await database.dispose()  # new connections pick up the short busy timeout below
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = await client.post(SAVE, json=_batch(1), headers=headers)
        assert not _clean(response, 200)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await client.post(SAVE, json=_batch(1), headers=headers)).status_code == 200
