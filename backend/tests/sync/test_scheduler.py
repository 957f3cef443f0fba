"""Periodic syncs: one job per account that has a signed-in ACE admin or manager."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import SyncJob, SyncState
from app.services.sync import scheduler as sync_scheduler
from tests.factories import local_user_signed_in
from tests.sync.conftest import SyncEnv


async def _schedule(env: SyncEnv) -> list[object]:
    state = env.app.state
    return list(
        await sync_scheduler.schedule_due_syncs(
            database=state.db,
            cipher=state.guid_cipher,
            settings=env.settings,
            starter=state.sync_starter,
        )
    )


async def test_accounts_with_an_ace_admin_session_are_synced(env: SyncEnv) -> None:
    await env.sign_in("admin", "demo")
    await env.sign_in("dave", "acme")  # a member: not enough for a scheduled sync
    await local_user_signed_in(env.client, env.database, username="root", account_id="other")
    started = await _schedule(env)
    assert len(started) == 1
    await env.app.state.jobs.wait_idle()
    async with env.database.session() as session:
        job = await session.scalar(select(SyncJob))
    assert job is not None
    assert job.account_id == "demo"
    assert job.state is SyncState.succeeded
    assert job.kind == "full"  # the first run of an account is a full pass


async def test_an_account_already_syncing_is_skipped(env: SyncEnv) -> None:
    await env.sign_in("admin", "demo")
    env.sandbox.faults.set(latency=0.5, latency_fcts=["getprojects"])
    first = await _schedule(env)
    second = await _schedule(env)  # another worker's scheduler, while the first job runs
    await env.app.state.jobs.wait_idle()
    assert len(first) == 1
    assert second == []
    async with env.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(SyncJob)) == 1
    third = await _schedule(env)  # the next period: incremental
    await env.app.state.jobs.wait_idle()
    async with env.database.session() as session:
        kinds = sorted(k for k in await session.scalars(select(SyncJob.kind)))
    assert len(third) == 1
    assert kinds == ["full", "incremental"]
