"""The seed's fetch endpoints: the caller's own ACE view, upserted, with counts."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Project, Task, TaskAssignee
from tests.factories import local_user_signed_in
from tests.sync.conftest import SyncEnv


async def test_fetch_projects_reports_counts_and_is_idempotent(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    first = await env.client.post("/projects/fetch-projects", headers=headers)
    assert first.status_code == 200, first.text
    projects = len(env.sandbox.store["demo"].projects)
    assert first.json()["data"]["counts"]["projects"]["inserted"] == projects
    second = await env.client.post("/projects/fetch-projects", headers=headers)
    assert second.json()["data"]["counts"]["projects"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": projects,
        "deleted": 0,
    }


async def test_fetch_tasks_stores_what_the_caller_sees(env: SyncEnv) -> None:
    headers = await env.sign_in("bob")
    response = await env.client.post("/tasks/fetch-tasks", headers=headers)
    assert response.status_code == 200, response.text
    counts = response.json()["data"]["counts"]
    async with env.database.session() as session:
        tasks = await session.scalar(select(func.count()).select_from(Task))
        projects = await session.scalar(select(func.count()).select_from(Project))
        assignees = await session.scalar(select(func.count()).select_from(TaskAssignee))
    assert counts["tasks"]["inserted"] == tasks
    assert tasks
    assert projects
    assert assignees
    upstream = env.sandbox.store["demo"]
    visible = {
        t
        for pid in upstream.projects_by_member.get(3, set())
        for t in upstream.tasks_by_project[pid]
    }
    assert tasks == len(visible)


async def test_fetch_tasks_twice_writes_nothing_the_second_time(env: SyncEnv) -> None:
    headers = await env.sign_in("bob")
    first = await env.client.post("/tasks/fetch-tasks", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["counts"]["tasks"]["inserted"] > 0
    async with env.database.session() as session:
        stamps = list(await session.execute(select(Task.id, Task.updated_at, Task.synced_at)))

    second = await env.client.post("/tasks/fetch-tasks", headers=headers)

    assert second.status_code == 200, second.text
    counts = second.json()["data"]["counts"]
    assert {"projects", "tasks"} <= set(counts)
    for entity, figures in counts.items():
        assert figures["inserted"] == figures["updated"] == figures["deleted"] == 0, entity
    assert counts["tasks"]["unchanged"] == first.json()["data"]["counts"]["tasks"]["inserted"]
    async with env.database.session() as session:
        again = list(await session.execute(select(Task.id, Task.updated_at, Task.synced_at)))
    assert sorted(again) == sorted(stamps)


async def test_expired_ace_session_is_401_not_500(env: SyncEnv) -> None:
    headers = await env.sign_in("alice")
    env.sandbox.app.expire_sessions("demo")
    for path in ("/projects/fetch-projects", "/tasks/fetch-tasks"):
        response = await env.client.post(path, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error_code"] == "ACE_SESSION_EXPIRED"


async def test_local_account_without_ace_session(env: SyncEnv) -> None:
    local = await local_user_signed_in(env.client, env.database, username="root", account_id="demo")
    response = await env.client.post("/projects/fetch-projects", headers=local.headers)
    assert response.status_code == 401
    assert response.json()["error_code"] == "ACE_SESSION_EXPIRED"


async def test_ace_outage_during_fetch_is_503_and_keeps_whole_steps_only(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(error_rate=1.0, fcts=["gettasks"])
    response = await env.client.post("/tasks/fetch-tasks", headers=headers)
    assert response.status_code == 503
    assert response.json()["error_code"] == "ACE_UNAVAILABLE"
    async with env.database.session() as session:
        # The projects step had finished (its upsert is whole and idempotent); no task
        # was written.
        projects = await session.scalar(select(func.count()).select_from(Project))
        tasks = await session.scalar(select(func.count()).select_from(Task))
    assert projects == len(env.sandbox.store["demo"].projects)
    assert tasks == 0


async def test_a_slow_ace_call_does_not_block_other_requests(env: SyncEnv) -> None:
    import asyncio
    import time

    headers = await env.sign_in("admin")
    env.sandbox.faults.set(latency=2.0, latency_fcts=["getprojects"])
    fetch = asyncio.create_task(env.client.post("/projects/fetch-projects", headers=headers))
    await asyncio.sleep(0.3)  # the fetch is now waiting for ACE
    started = time.monotonic()
    me = await env.client.get("/auth/me", headers=headers)
    login = await env.client.post(
        "/user/login",
        json={"account_id": "demo", "username": "bob", "password": "demo-password"},
    )
    elapsed = time.monotonic() - started
    assert me.status_code == 200
    assert login.status_code == 200
    assert elapsed < 1.5, f"other requests waited {elapsed:.1f} s behind the ACE call"
    assert (await fetch).status_code == 200
