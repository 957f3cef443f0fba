"""Sync jobs on the job queue, on PostgreSQL: the API only queues; `acehub worker` processes
(real subprocesses) run the jobs. Two workers never sync one account at once and the
periodic schedule fires once per period; a worker killed mid-sync has its job run again by
the other, and the mirror ends complete."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, text

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.main import create_app
from app.models import SyncJob, SyncState, Task
from app.services.sync import queue
from tests.conftest import TEST_SECRET, make_settings

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
QUEUE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the job queue runs on PostgreSQL")
    return database_url


@pytest.fixture
async def empty_queue(pg_url: str, database: Database) -> AsyncIterator[Database]:
    async def empty() -> None:
        async with database.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(QUEUE_TABLES)} CASCADE"))

    await empty()
    yield database
    await empty()


class Workers:
    """`acehub worker` subprocesses on the test's database and sandbox."""

    def __init__(self, database_url: str, ace_url: str, **settings: str) -> None:
        self.env = {
            **os.environ,
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "ACE_API_URL": ace_url,
            "SECRET_KEY": TEST_SECRET,
            "SYNC_RUNNER": "queue",
            "SYNC_INTERVAL_MINUTES": "0",
            "SYNC_TIME_ENTRIES_DAYS": "800",
            "WORKER_HEARTBEAT_SECONDS": "0.5",
            "WORKER_STALLED_SECONDS": "2",
            "LOG_FORMAT": "text",
            **settings,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--name", name],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


@pytest.fixture
def workers(pg_url: str, own_sandbox: SandboxServer) -> Iterator[Workers]:
    running = Workers(pg_url, own_sandbox.url)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
async def api(
    pg_url: str, empty_queue: Database, own_sandbox: SandboxServer
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        pg_url, ace_api_url=own_sandbox.url, sync_runner="queue", sync_time_entries_days=800
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _admin(api: httpx.AsyncClient) -> dict[str, str]:
    response = await api.post(
        "/user/login",
        json={"account_id": "demo", "username": "admin", "password": "demo-password"},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


async def _jobs(database: Database) -> list[SyncJob]:
    async with database.session() as session:
        return list(await session.scalars(select(SyncJob).order_by(SyncJob.created_at)))


async def _until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _workers_up(database: Database, count: int) -> None:
    async def up() -> bool:
        async with database.engine.connect() as conn:
            found = await conn.scalar(text("SELECT count(*) FROM procrastinate_workers"))
        return bool(found is not None and found >= count)

    await _until(up, 60, f"{count} worker(s) to start")


async def test_the_api_only_queues(api: httpx.AsyncClient, empty_queue: Database) -> None:
    headers = await _admin(api)
    started = await api.post("/sync/jobs", json={}, headers=headers)
    assert started.status_code == 202, started.text
    await asyncio.sleep(1.0)  # no worker: nothing runs it
    [job] = await _jobs(empty_queue)
    assert job.state is SyncState.queued
    async with empty_queue.engine.connect() as conn:
        queued = (
            await conn.execute(
                text("SELECT args->>'job_id', lock, queueing_lock, status FROM procrastinate_jobs")
            )
        ).all()
    assert [tuple(row) for row in queued] == [(str(job.id), "sync:demo", "sync:demo", "todo")]
    # the waiting place is taken: a second request conflicts
    again = await api.post("/sync/jobs", json={}, headers=headers)
    assert again.status_code == 409


async def test_two_workers_never_sync_one_account_at_once_and_the_schedule_fires_once(
    api: httpx.AsyncClient, empty_queue: Database, workers: Workers, own_sandbox: SandboxServer
) -> None:
    database = empty_queue
    workers.env["SYNC_SCHEDULE_CRON"] = "* * * * * */2"  # every 2 s
    headers = await _admin(api)  # an ACE admin's session: the schedule syncs the account
    own_sandbox.faults.set(latency=0.3, latency_fcts=["getprojects"])
    workers.start("w1")
    workers.start("w2")
    await _workers_up(database, 2)
    accepted = 0
    for _ in range(6):
        response = await api.post("/sync/jobs", json={}, headers=headers)
        assert response.status_code in (202, 409), response.text
        accepted += response.status_code == 202
        await asyncio.sleep(0.7)
    await asyncio.sleep(4.5)
    workers.stop_all()

    done = await _jobs(database)
    assert accepted >= 1
    finished = [job for job in done if job.state is not SyncState.queued]
    assert finished
    assert all(job.state is SyncState.succeeded for job in finished), [j.errors for j in done]
    runs = sorted((job.started_at, job.finished_at) for job in finished)
    for (_, end), (start, _) in itertools.pairwise(runs):
        assert end is not None
        assert start is not None
        assert start >= end  # one run after the other, whichever worker
    async with database.engine.connect() as conn:
        periods = (
            await conn.execute(
                text(
                    "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
                    "WHERE task_name = :task GROUP BY 1"
                ),
                {"task": queue.SCHEDULE_TASK},
            )
        ).all()
        ran_on = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT worker_id) FROM procrastinate_events e "
                    "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.task_name = :task"
                ),
                {"task": queue.SYNC_TASK},
            )
        ).scalar()
    assert len(periods) >= 2  # the schedule fired in several periods ...
    assert all(count == 1 for _, count in periods)  # ... once each, with two workers
    assert ran_on is not None


async def test_a_worker_killed_mid_sync_has_its_job_run_again_by_the_other(
    api: httpx.AsyncClient, empty_queue: Database, workers: Workers, own_sandbox: SandboxServer
) -> None:
    database = empty_queue
    headers = await _admin(api)
    own_sandbox.faults.set(latency=1.5, latency_fcts=["gettasks"])
    workers.start("doomed")
    await _workers_up(database, 1)
    started = await api.post("/sync/jobs", json={"kind": "full"}, headers=headers)
    assert started.status_code == 202, started.text

    async def in_tasks_phase() -> bool:
        jobs = await _jobs(database)
        return bool(jobs) and jobs[0].state is SyncState.running and jobs[0].phase == "tasks"

    await _until(in_tasks_phase, 20, "the sync to reach its tasks phase")
    workers.kill("doomed")
    own_sandbox.faults.reset()
    workers.start("survivor")

    async def finished() -> bool:
        jobs = await _jobs(database)
        return bool(jobs) and jobs[0].state in (SyncState.succeeded, SyncState.failed)

    await _until(finished, 45, "the job to be run again and finish")
    [job] = await _jobs(database)
    assert job.state is SyncState.succeeded, job.errors
    assert [error["code"] for error in job.errors] == ["WORKER_LOST"]
    async with database.session() as session:
        mirrored = await session.scalar(
            select(func.count()).select_from(Task).where(Task.account_id == "demo")
        )
    assert mirrored == len(own_sandbox.store["demo"].tasks)
