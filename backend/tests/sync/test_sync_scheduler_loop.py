"""The periodic scheduler as the app runs it: a lifespan task that, every
`SYNC_INTERVAL_MINUTES`, starts an `auto` sync of each account with a signed-in ACE admin or
manager, and keeps going when one round fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import SyncJob, SyncState, User
from app.services.sync import scheduler as sync_scheduler
from tests.sync.conftest import open_env

INTERVAL_MINUTES = 0.01  # a round every 0.6 s
WAIT_SECONDS = 20.0  # for the jobs a few rounds start


async def _jobs(database: Database) -> list[SyncJob]:
    async with database.session() as session:
        return list(await session.scalars(select(SyncJob).order_by(SyncJob.created_at)))


async def _wait_for_jobs(
    database: Database, enough: Callable[[list[SyncJob]], bool]
) -> list[SyncJob]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        jobs = await _jobs(database)
        if enough(jobs):
            return jobs
        assert time.monotonic() < deadline, [(j.kind, j.state, j.errors) for j in jobs]
        await asyncio.sleep(0.1)


def _succeeded(jobs: list[SyncJob]) -> list[SyncJob]:
    return [job for job in jobs if job.state is SyncState.succeeded]


async def test_the_scheduler_starts_due_syncs_round_after_round(
    database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    async for env in open_env(
        database_url, database, sandbox, sync_interval_minutes=INTERVAL_MINUTES
    ):
        await env.sign_in("admin", "demo")
        await env.sign_in("dave", "acme")  # a member: no scheduled sync of acme
        jobs = await _wait_for_jobs(database, lambda jobs: len(_succeeded(jobs)) >= 2)
        async with database.session() as session:
            admin_id = await session.scalar(
                select(User.id).where(User.account_id == "demo", User.username == "admin")
            )

    first, second = _succeeded(jobs)[:2]
    assert {job.account_id for job in jobs} == {"demo"}
    assert {job.requested_by for job in jobs} == {admin_id}
    assert (first.kind, second.kind) == ("full", "incremental")
    assert first.finished_at is not None
    assert second.started_at is not None
    assert second.started_at >= first.finished_at  # one job of the account at a time
    assert all(job.errors == [] for job in (first, second))


async def test_a_failed_round_does_not_stop_the_scheduler(
    database_url: str, database: Database, sandbox: SandboxServer, monkeypatch: Any
) -> None:
    rounds = 0
    real = sync_scheduler._sessions_by_account

    async def first_round_fails(*args: Any, **kwargs: Any) -> Any:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise RuntimeError("the database blinked")
        return await real(*args, **kwargs)

    monkeypatch.setattr(sync_scheduler, "_sessions_by_account", first_round_fails)
    async for env in open_env(
        database_url, database, sandbox, sync_interval_minutes=INTERVAL_MINUTES
    ):
        await env.sign_in("admin", "demo")
        jobs = await _wait_for_jobs(database, lambda jobs: len(_succeeded(jobs)) >= 1)

    assert rounds >= 2
    assert _succeeded(jobs)[0].account_id == "demo"
    assert _succeeded(jobs)[0].kind == "full"
