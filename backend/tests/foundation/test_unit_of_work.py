"""`get_db` commits before the response is sent, rolls back on error, and SQLite copes with
concurrent writers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connection.database import Database
from app.dependencies.get_db import UnitOfWork
from app.main import create_app
from app.models import Project


def _router() -> APIRouter:
    router = APIRouter(prefix="/uow")

    @router.post("/projects/{ace_id}")
    async def add(ace_id: int, session: UnitOfWork) -> dict[str, int]:
        session.add(Project(account_id="acc", ace_project_id=ace_id, name=f"p{ace_id}"))
        await session.flush()
        return {"ace_id": ace_id}

    @router.post("/fail-after-write/{ace_id}")
    async def fail_after_write(ace_id: int, session: UnitOfWork) -> None:
        session.add(Project(account_id="acc", ace_project_id=ace_id, name="doomed"))
        await session.flush()
        raise RuntimeError("boom after a write")

    return router


@pytest.fixture
async def uow_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    app.include_router(_router())
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Project)) or 0)


async def test_success_is_committed(uow_client: httpx.AsyncClient, database: Database) -> None:
    response = await uow_client.post("/uow/projects/1")
    assert response.status_code == 200
    assert await _count(database) == 1


async def test_error_after_a_write_rolls_back(
    uow_client: httpx.AsyncClient, database: Database
) -> None:
    response = await uow_client.post("/uow/fail-after-write/2")
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert await _count(database) == 0


async def test_failed_commit_never_answers_2xx(
    uow_client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_commit(self: AsyncSession) -> None:
        raise ConnectionResetError("connection lost during commit")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = await uow_client.post("/uow/projects/3")
    monkeypatch.undo()
    assert response.status_code == 503
    assert response.json()["error_code"] == "DB_UNAVAILABLE"
    assert await _count(database) == 0
    # The next request works without a restart.
    assert (await uow_client.post("/uow/projects/4")).status_code == 200


async def test_unique_clash_is_409_not_500(uow_client: httpx.AsyncClient) -> None:
    assert (await uow_client.post("/uow/projects/5")).status_code == 200
    clash = await uow_client.post("/uow/projects/5")
    assert clash.status_code == 409
    assert clash.json()["error_code"] == "CONFLICT"


async def test_concurrent_writers_do_not_fail(
    uow_client: httpx.AsyncClient, database: Database
) -> None:
    ids = [100 + n for n in range(30)]
    responses = await asyncio.gather(*(uow_client.post(f"/uow/projects/{i}") for i in ids))
    assert [r.status_code for r in responses] == [200] * len(ids)
    assert await _count(database) == len(ids)


async def test_session_round_trips_aware_utc_datetimes(database: Database) -> None:
    from app.models import User

    async with database.session() as session:
        user = User(account_id="acc", username=f"u-{uuid.uuid4().hex[:6]}")
        session.add(user)
        await session.commit()
        user_id = user.id
    async with database.session() as session:
        stored = await session.get(User, user_id)
        assert stored is not None
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset() is not None


async def test_exhausted_pool_answers_503_and_recovers(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite engine does not pool like this")
    from sqlalchemy import text

    from tests.conftest import make_settings

    settings = make_settings(
        database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.3
    )
    router = APIRouter()

    @router.get("/slow")
    async def slow(session: UnitOfWork) -> dict[str, bool]:
        await session.execute(text("SELECT 1"))
        await asyncio.sleep(1.0)
        return {"ok": True}

    app = create_app(settings)
    app.include_router(router)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            holder = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.2)
            starved = await client.get("/slow")
            assert (await holder).status_code == 200
            after = await client.get("/slow")
    assert starved.status_code == 503
    assert starved.json()["error_code"] == "DB_UNAVAILABLE"
    assert after.status_code == 200


async def test_killed_database_connections_cost_at_most_one_failed_request(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("connections to kill exist on PostgreSQL only")
    from sqlalchemy import text

    from tests.factories import local_user_signed_in

    session = await local_user_signed_in(client, database, username="survivor")
    assert (await client.get("/auth/me", headers=session.headers)).status_code == 200
    async with database.engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'acehub' AND pid <> pg_backend_pid() "
                "AND datname = current_database()"
            )
        )
        await conn.commit()
    first = await client.get("/auth/me", headers=session.headers)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.json()["error_code"] == "DB_UNAVAILABLE"
    second = await client.get("/auth/me", headers=session.headers)
    assert second.status_code == 200


async def test_killed_connections_cost_a_read_route_at_most_one_failed_request(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    """The read routes run their statements on the driver directly; a dead connection found
    there is discarded with the pool's older ones, as SQLAlchemy does for its own statements."""
    if not database_url.startswith("postgresql"):
        pytest.skip("connections to kill exist on PostgreSQL only")
    from sqlalchemy import text

    from tests.factories import local_user_signed_in

    session = await local_user_signed_in(client, database, username="reader")
    path = f"/tasks/{session.user_id}"
    assert (await client.get(path, headers=session.headers)).status_code == 200
    async with database.engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'acehub' AND pid <> pg_backend_pid() "
                "AND datname = current_database()"
            )
        )
        await conn.commit()
    first = await client.get(path, headers=session.headers)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.json()["error_code"] == "DB_UNAVAILABLE"
    for _ in range(3):
        assert (await client.get(path, headers=session.headers)).status_code == 200
