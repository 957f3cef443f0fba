"""How a sync job ends when it does not end well: an unexpected exception in a phase, and the
server shutting down under it. Either way the job is recorded failed with its error, nothing
is left `running`, and the account can be synced again at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import SyncJob, SyncState, Task
from app.services.sync import mirror as mirror_service
from app.services.sync.jobs import last_watermark
from tests.conftest import make_settings
from tests.sync.conftest import SyncEnv, create_app_for, open_env


async def _active_jobs(database: Database) -> int:
    async with database.session() as session:
        active = select(func.count()).where(
            SyncJob.state.in_([SyncState.queued, SyncState.running])
        )
        return int(await session.scalar(active) or 0)


async def _job(database: Database, job_id: uuid.UUID) -> SyncJob:
    async with database.session() as session:
        job = await session.get(SyncJob, job_id)
    assert job is not None
    return job


async def test_an_unexpected_error_in_a_phase_fails_the_job_with_its_error(
    env: SyncEnv, monkeypatch: Any
) -> None:
    headers = await env.sign_in("admin")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals: disk on fire")

    monkeypatch.setattr(mirror_service, "mirror_tasks", broken)
    job = await env.run_sync(headers)

    assert job["state"] == "failed"
    assert job["phase"] == "tasks"
    errors: Any = job["errors"]
    assert errors[-1] == {
        "phase": "tasks",
        "code": "INTERNAL_ERROR",
        "message": "The sync failed unexpectedly",
    }
    assert "disk on fire" not in str(job)  # the exception's text stays in the log
    assert job["finished_at"] is not None
    counts: Any = job["counts"]
    # The phases before the crash were committed whole.
    assert counts["projects"]["inserted"] == len(env.sandbox.store["demo"].projects)
    assert await _active_jobs(env.database) == 0
    async with env.database.session() as session:
        assert await last_watermark(session, account_id="demo") is None
        assert await session.scalar(select(func.count()).select_from(Task)) == 0

    monkeypatch.undo()
    retry = await env.run_sync(headers)
    assert retry["state"] == "succeeded", retry["errors"]
    assert retry["kind"] == "full"


async def test_a_shutdown_mid_sync_records_the_job_as_interrupted(
    database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    # `getprojects` answers slowly: the job is inside its projects phase when the server stops.
    sandbox.faults.set(latency=5.0, latency_fcts=["getprojects"])
    settings = make_settings(database_url, ace_api_url=sandbox.url, ace_max_retries=0)
    app = create_app_for(settings)
    async with LifespanManager(app, shutdown_timeout=15):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            login = await client.post(
                "/user/login",
                json={"account_id": "demo", "username": "admin", "password": "demo-password"},
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
            started = await client.post("/sync/jobs", json={}, headers=headers)
            assert started.status_code == 202, started.text
            job_id = uuid.UUID(started.json()["data"]["id"])
            deadline = time.monotonic() + 10
            while (await _job(database, job_id)).phase != "projects":
                assert time.monotonic() < deadline, "the job never reached its projects phase"
                await asyncio.sleep(0.05)
            assert app.state.jobs.running == 1
        stopping = time.monotonic()
    # The lifespan's end cancelled the job rather than waiting for ACE's answer.
    assert time.monotonic() - stopping < 3.0

    job = await _job(database, job_id)
    assert job.state is SyncState.failed
    assert job.errors[-1] == {
        "phase": "projects",
        "code": "INTERRUPTED",
        "message": "The server stopped",
    }
    assert job.phase == "projects"
    assert job.finished_at is not None
    assert job.watermark is None
    assert await _active_jobs(database) == 0

    # The next worker is not blocked by a job left `running`.
    sandbox.faults.reset()
    async for env in open_env(database_url, database, sandbox):
        retry = await env.run_sync(await env.sign_in("admin"))
        assert retry["state"] == "succeeded", retry["errors"]
        assert retry["kind"] == "full"
