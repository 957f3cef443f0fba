"""The batch caps (reliability C3, C4): too many items and too many bytes answer 413
`PAYLOAD_TOO_LARGE` before any database work; the connection is not held while the body
is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.connection.database import Database
from app.main import create_app
from app.services import data_service
from tests.save.helpers import SAVE, counts, manager_headers, post, snapshot

MAX_ITEMS = 5
MAX_BODY = 4096


@pytest.fixture
async def capped_app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    capped = settings.model_copy(
        update={
            "save_max_items": MAX_ITEMS,
            "save_max_body_bytes": MAX_BODY,
            "max_body_bytes": 2048,
        }
    )
    application = create_app(capped)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def capped(capped_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=capped_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def projects(count: int, *, name: str = "P") -> dict[str, Any]:
    return {"projects": [{"ace_project_id": i, "name": name} for i in range(1, count + 1)]}


@pytest.fixture
def no_database_work(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the batch reached the database")

    monkeypatch.setattr(data_service, "save_batch", refuse)


async def test_too_many_items_answer_413_before_any_database_work(
    capped: httpx.AsyncClient, database: Database, no_database_work: None
) -> None:
    headers = await manager_headers(capped, database)
    before = await snapshot(database)
    batch = {
        "users": [{"ace_user_id": 1, "username": "u"}],
        "projects": projects(3)["projects"],
        "tasks": [{"ace_task_id": i, "ace_project_id": 1, "title": "t"} for i in (1, 2)],
    }
    response = await post(capped, headers, batch)
    assert response.status_code == 413
    body = response.json()
    assert body["error_code"] == "PAYLOAD_TOO_LARGE"
    assert "6 items" in body["message"]
    assert f"at most {MAX_ITEMS}" in body["message"]
    assert await snapshot(database) == before


async def test_a_batch_at_the_item_cap_is_saved(
    capped: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(capped, database)
    assert counts(await post(capped, headers, projects(MAX_ITEMS)))["projects"]["inserted"] == 5


async def test_a_declared_oversized_body_answers_413_before_parsing(
    capped: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = await manager_headers(capped, database)

    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the oversized body was parsed")

    monkeypatch.setattr(data_service, "prepare_batch", refuse)
    before = await snapshot(database)
    content = httpx.Request("POST", "http://x", json=projects(1, name="x" * MAX_BODY)).content
    response = await capped.post(
        SAVE, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert await snapshot(database) == before


async def test_a_streamed_oversized_body_answers_413(
    capped: httpx.AsyncClient, database: Database
) -> None:
    """Without a Content-Length the cap applies as the bytes arrive."""
    headers = await manager_headers(capped, database)
    before = await snapshot(database)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"projects": [{"ace_project_id": 1, "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    response = await capped.post(
        SAVE, content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert await snapshot(database) == before


async def test_the_save_cap_applies_to_its_path_only(
    capped: httpx.AsyncClient, database: Database
) -> None:
    """The batch may be larger than the general body cap (2048 bytes here), other routes not."""
    headers = await manager_headers(capped, database)
    batch = projects(2)
    for project in batch["projects"]:
        project["description"] = "d" * 1200
    assert len(httpx.Request("POST", "http://x", json=batch).content) > 2048
    assert counts(await post(capped, headers, batch))["projects"]["inserted"] == 2
    login = await capped.post("/auth/login", json={"username": "x" * 3000})
    assert login.status_code == 413


async def test_the_connection_is_free_while_the_body_is_read(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """While a slow client is still sending its batch (after it was authenticated), no pooled
    connection is checked out, so on SQLite no write lock is held: other saves go on."""
    headers = await manager_headers(client, database)
    waiting, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"projects": [{"ace_project_id": 1, '
        waiting.set()
        await release.wait()
        yield b'"name": "slow"}]}'

    slow = asyncio.create_task(
        client.post(
            SAVE, content=slow_body(), headers={**headers, "Content-Type": "application/json"}
        )
    )
    await asyncio.wait_for(waiting.wait(), timeout=10)
    pool = app.state.db.engine.pool
    assert pool.checkedout() == 0
    other = await asyncio.wait_for(post(client, headers, projects(1, name="fast")), timeout=10)
    assert counts(other)["projects"]["inserted"] == 1
    release.set()
    assert counts(await slow)["projects"] == {"inserted": 0, "updated": 1, "unchanged": 0}
