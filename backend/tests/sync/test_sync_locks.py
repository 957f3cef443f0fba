"""The PostgreSQL advisory lock that keeps two workers (or hosts) from syncing one account at
once, held here by another database session, as another worker's run would hold it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.connection import locks
from app.models import SyncJob, SyncState, Task
from tests.sync.conftest import SyncEnv


@pytest.fixture
def pg_env(env: SyncEnv) -> SyncEnv:
    if env.database.dialect != "postgresql":
        pytest.skip("advisory locks exist on PostgreSQL only")
    return env


@asynccontextmanager
async def lock_held_elsewhere(env: SyncEnv, account_id: str = "demo") -> AsyncIterator[None]:
    """Hold the account's sync lock on a connection of its own (not from the app's pool, so
    closing it really ends the session and nothing of the lock can linger)."""
    engine = create_async_engine(env.settings.database_url, poolclass=NullPool)
    key = locks.lock_key(locks.sync_lock_name(account_id))
    try:
        async with engine.connect() as conn:
            acquired = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            await conn.commit()
            assert acquired is True
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
    finally:
        await engine.dispose()


async def _jobs(env: SyncEnv) -> list[SyncJob]:
    async with env.database.session() as session:
        return list(await session.scalars(select(SyncJob).order_by(SyncJob.created_at)))


async def _add_stale_running_job(env: SyncEnv) -> SyncJob:
    async with env.database.session() as session:
        job = SyncJob(
            account_id="demo",
            kind="full",
            state=SyncState.running,
            phase="tasks",
            counts={},
            errors=[],
            heartbeat_at=datetime.now(UTC) - timedelta(hours=1),
        )
        session.add(job)
        await session.commit()
        return job


async def test_a_job_waits_while_its_lock_is_held_elsewhere(pg_env: SyncEnv) -> None:
    env = pg_env
    headers = await env.sign_in("admin")
    async with lock_held_elsewhere(env):
        assert await locks.is_locked(env.database, locks.sync_lock_name("demo"))
        started = await env.client.post("/sync/jobs", json={}, headers=headers)
        assert started.status_code == 202, started.text
        await asyncio.sleep(2.5)  # a few tries at the lock
        [waiting] = await _jobs(env)
        assert waiting.state is SyncState.queued
        assert env.sandbox.stats.count("gettasks") == 0
        # Another account's lock is another key: unaffected.
        assert not await locks.is_locked(env.database, locks.sync_lock_name("acme"))
    await env.app.state.jobs.wait_idle()
    [done] = await _jobs(env)
    assert done.state is SyncState.succeeded
    async with env.database.session() as session:
        assert (await session.scalar(select(func.count()).select_from(Task)) or 0) > 0


async def test_a_stale_job_whose_lock_is_held_is_not_failed(pg_env: SyncEnv) -> None:
    """A silent heartbeat is not proof of death while the lock is held (a worker stuck in a
    long call still holds it); once the lock is free, the job is failed as WORKER_LOST."""
    env = pg_env
    headers = await env.sign_in("admin")
    stale = await _add_stale_running_job(env)
    async with lock_held_elsewhere(env):
        waits = await env.client.post("/sync/jobs", json={}, headers=headers)
        assert waits.status_code == 202, waits.text
        refused = await env.client.post("/sync/jobs", json={}, headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error_code"] == "CONFLICT"
        assert refused.json()["data"] == {"job_id": waits.json()["data"]["id"]}
        still, _ = await _jobs(env)
        assert still.state is SyncState.running
        assert still.errors == []

    await env.app.state.jobs.wait_idle()  # the waiting job runs once the lock is free
    job = await env.run_sync(headers)  # and the next request finds the stale one failed
    assert job["state"] == "succeeded"
    lost, waited, new = await _jobs(env)
    assert waited.state is SyncState.succeeded
    assert lost.id == stale.id
    assert lost.state is SyncState.failed
    assert lost.finished_at is not None
    assert lost.errors == [
        {"phase": "tasks", "code": "WORKER_LOST", "message": "The sync stopped responding"}
    ]
    assert new.state is SyncState.succeeded
