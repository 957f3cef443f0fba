"""ACE failing in the middle of a sync or a fetch: whole pages only, no watermark move, a job
failed with the error's code and phase, and the documented error codes on the fetch routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import Project, SyncJob, Task, TaskLog, User
from app.services.sync.jobs import last_watermark
from tests.sync.conftest import SyncEnv, open_env

PAGE = 5


@pytest.fixture
async def strict_env(
    database_url: str, database: Database, sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    """Small `gettasks` pages, no retry and a short read timeout: one failed ACE answer is
    the call's failure."""
    async for value in open_env(
        database_url,
        database,
        sandbox,
        ace_page_size=PAGE,
        ace_max_retries=0,
        ace_timeout_seconds=0.4,
    ):
        yield value


async def _count(env: SyncEnv, model: Any) -> int:
    async with env.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_gettasks_failure_mid_paging_keeps_the_committed_pages_whole(
    strict_env: SyncEnv,
) -> None:
    env = strict_env
    headers = await env.sign_in("admin")
    upstream = env.sandbox.store["demo"]
    assert len(upstream.tasks) > 3 * PAGE
    # Pages 1 and 2 answer; the third `gettasks` call is a 500.
    env.sandbox.faults.set(error_every=3, fcts=["gettasks"])

    job = await env.run_sync(headers)

    assert job["state"] == "failed"
    assert job["phase"] == "tasks"
    errors: Any = job["errors"]
    assert errors[-1]["phase"] == "tasks"
    assert errors[-1]["code"] == "ACE_UNAVAILABLE"
    assert env.sandbox.stats.count("gettasks") == 3
    # Exactly the tasks of the two pages ACE answered (ACE pages by TASK_ID), each as ACE has it.
    first_pages = sorted(upstream.tasks)[: 2 * PAGE]
    async with env.database.session() as session:
        result = await session.execute(select(Task.ace_task_id, Task.title))
        rows = dict(result.all())
    assert sorted(rows) == first_pages
    assert all(rows[i] == upstream.tasks[i].task_resume for i in first_pages)
    assert job["counts"]["tasks"]["inserted"] == 2 * PAGE  # type: ignore[index]
    # The phases before were whole; the ones after never started.
    assert await _count(env, Project) == len(upstream.projects)
    assert await _count(env, User) == len(upstream.users)
    assert await _count(env, TaskLog) == 0
    async with env.database.session() as session:
        assert await last_watermark(session, account_id="demo") is None

    env.sandbox.faults.reset()
    retry = await env.run_sync(headers)
    assert retry["state"] == "succeeded", retry["errors"]
    assert retry["kind"] == "full"  # no watermark: the retry reads everything again
    tasks: Any = retry["counts"]["tasks"]  # type: ignore[index]
    assert (tasks["inserted"], tasks["unchanged"]) == (len(upstream.tasks) - 2 * PAGE, 2 * PAGE)


async def test_an_ace_session_expiring_during_a_job_fails_it(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(latency=0.6, latency_fcts=["getprojects"])
    started = await env.client.post("/sync/jobs", json={}, headers=headers)
    assert started.status_code == 202
    await asyncio.sleep(0.3)  # the job now waits for `getprojects`
    env.sandbox.app.expire_sessions("demo")
    await env.app.state.jobs.wait_idle()

    job = await env.client.get(f"/sync/jobs/{started.json()['data']['id']}", headers=headers)
    data = job.json()["data"]
    assert data["state"] == "failed"
    assert data["errors"][-1]["code"] == "ACE_SESSION_EXPIRED"
    assert data["errors"][-1]["phase"] == "projects"
    assert await _count(env, Project) == 0
    async with env.database.session() as session:
        assert await last_watermark(session, account_id="demo") is None
        assert await session.scalar(select(SyncJob.watermark)) is None


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        pytest.param({"html_error": 200}, 502, "ACE_BAD_RESPONSE", id="html-page"),
        pytest.param({"malformed": True}, 502, "ACE_BAD_RESPONSE", id="truncated-json"),
        pytest.param({"error_rate": 1.0, "error_status": 502}, 503, "ACE_UNAVAILABLE", id="502"),
        pytest.param({"error_rate": 1.0, "error_status": 504}, 503, "ACE_UNAVAILABLE", id="504"),
        pytest.param({"latency": 1.0, "latency_fcts": ["gettasks"]}, 504, "ACE_TIMEOUT", id="slow"),
    ],
)
async def test_fetch_tasks_maps_ace_failures_to_documented_codes(
    strict_env: SyncEnv, faults: dict[str, object], status: int, code: str
) -> None:
    env = strict_env
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(fcts=["gettasks"], **faults)

    response = await env.client.post("/tasks/fetch-tasks", headers=headers)

    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    documented = env.app.openapi()["paths"]["/tasks/fetch-tasks"]["post"]["responses"]
    assert str(status) in documented
    assert await _count(env, Task) == 0
