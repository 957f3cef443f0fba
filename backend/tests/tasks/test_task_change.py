"""`PATCH /tasks/{task_id}`: the change reaches ACE (the sandbox as a real server) first, then
the mirror and a `status_change` log; a refusal or a timeout stores nothing. On both
databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import RoleEnum, Task, TaskAssignee, TaskLog, TaskLogKind, User
from tests.factories import local_user_signed_in
from tests.sync.conftest import SyncEnv, open_env

COMPLETED = 1


async def _ready(env: SyncEnv) -> tuple[dict[str, str], dict[str, str]]:
    """The demo account mirrored (by its admin); alice's and the admin's headers."""
    admin = await env.sign_in("admin")
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    return await env.sign_in("alice"), admin


async def _task_of(env: SyncEnv, username: str, *, mine: bool = True) -> Task:
    """A task `username` is (or, with `mine=False`, is not) assignee or reviewer of."""
    async with env.database.session() as session:
        user = await session.scalar(
            select(User).where(User.account_id == "demo", User.username == username)
        )
        assert user is not None
        theirs = select(TaskAssignee.task_id).where(TaskAssignee.user_id == user.id)
        condition = Task.id.in_(theirs) if mine else Task.id.not_in(theirs)
        task = await session.scalar(
            select(Task).where(Task.account_id == "demo", condition).order_by(Task.id)
        )
    assert task is not None
    return task


async def _logs(env: SyncEnv) -> list[TaskLog]:
    async with env.database.session() as session:
        rows = await session.scalars(
            select(TaskLog).where(TaskLog.kind == TaskLogKind.status_change).order_by(TaskLog.id)
        )
        return list(rows)


async def _stored(env: SyncEnv, task_id: int) -> Task:
    async with env.database.session() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def test_a_member_completes_their_task_in_ace_then_in_acehub(own_env: SyncEnv) -> None:
    env = own_env
    alice, admin = await _ready(env)
    task = await _task_of(env, "alice")
    upstream = env.sandbox.store["demo"]

    response = await env.client.patch(
        f"/tasks/{task.id}",
        json={"status_type": "completed", "percent_done": 100, "comment": "Done, shipped"},
        headers=alice,
    )

    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    ace_task = upstream.tasks[task.ace_task_id]
    statuses = {s.task_status_id: s for s in upstream.task_status_list(ace_task.project_id)}
    new = statuses[ace_task.task_status_id]
    assert new.completed_status == COMPLETED  # ACE has it
    assert ace_task.pourcentage_done == 10  # tenths
    assert upstream.task_comments[task.ace_task_id][-1].text == "Done, shipped"
    stored = await _stored(env, task.id)
    assert (stored.status, str(stored.status_type), stored.percent_done) == (
        new.name,
        "completed",
        100.0,
    )
    assert data["status"] == new.name
    assert data["status_type"] == "completed"
    logs = await _logs(env)
    assert [(log.id, log.old_status, log.new_status, log.comment) for log in logs] == [
        (data["log_id"], task.status, new.name, "Done, shipped")
    ]
    # the next sync finds ACE and acehub alike: no second log
    assert (await env.run_sync(admin, kind="incremental"))["state"] == "succeeded"
    assert len(await _logs(env)) == 1


async def test_a_status_by_name_and_an_unknown_name(own_env: SyncEnv) -> None:
    env = own_env
    alice, _ = await _ready(env)
    task = await _task_of(env, "alice")
    upstream = env.sandbox.store["demo"]
    project_id = upstream.tasks[task.ace_task_id].project_id
    other = next(
        s
        for s in upstream.task_status_list(project_id)
        if s.task_status_id != upstream.tasks[task.ace_task_id].task_status_id
    )

    unknown = await env.client.patch(
        f"/tasks/{task.id}", json={"status": "No such status"}, headers=alice
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["data"][0]["loc"] == ["body", "status"]
    assert await _logs(env) == []

    by_name = await env.client.patch(
        f"/tasks/{task.id}", json={"status": other.name.upper()}, headers=alice
    )
    assert by_name.status_code == 200, by_name.text
    assert upstream.tasks[task.ace_task_id].task_status_id == other.task_status_id
    assert (await _stored(env, task.id)).status == other.name


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "Done", "status_type": "completed"},
        {"percent_done": 101},
        {"percent_done": -1},
        {"comment": ""},
        {"status_type": "finished"},
        {"title": "not changeable here"},
    ],
)
async def test_bad_changes_are_refused_before_ace(env: SyncEnv, body: dict[str, Any]) -> None:
    alice, _ = await _ready(env)
    task = await _task_of(env, "alice")
    env.sandbox.stats.reset()

    response = await env.client.patch(f"/tasks/{task.id}", json=body, headers=alice)

    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert [c["fct"] for c in env.sandbox.stats.recent() if c["fct"] == "savetask"] == []


async def test_who_may_change_which_task(env: SyncEnv, database: Database) -> None:
    alice, admin = await _ready(env)
    not_hers = await _task_of(env, "alice", mine=False)
    missing = await env.client.patch("/tasks/999999", json={"comment": "x"}, headers=admin)
    assert missing.status_code == 404
    member = await env.client.patch(f"/tasks/{not_hers.id}", json={"comment": "x"}, headers=alice)
    assert member.status_code == 404  # like a task that does not exist
    carol = await env.sign_in("carol", account_id="acme")
    foreign = await env.client.patch(f"/tasks/{not_hers.id}", json={"comment": "x"}, headers=carol)
    assert foreign.status_code == 404
    assert await _logs(env) == []

    local = (
        await local_user_signed_in(
            env.client, database, username="local-boss", role=RoleEnum.admin, account_id="demo"
        )
    ).headers
    response = await env.client.patch(f"/tasks/{not_hers.id}", json={"comment": "x"}, headers=local)
    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"


async def test_a_refusal_stores_nothing(own_env: SyncEnv) -> None:
    env = own_env
    alice, _ = await _ready(env)
    task = await _task_of(env, "alice")
    env.sandbox.store["demo"].delete_task(task.ace_task_id)  # ACE refuses an unknown task

    response = await env.client.patch(
        f"/tasks/{task.id}", json={"percent_done": 50, "comment": "x"}, headers=alice
    )

    assert response.status_code == 502, response.text
    assert response.json()["error_code"] == "ACE_BAD_RESPONSE"
    stored = await _stored(env, task.id)
    assert stored.percent_done == task.percent_done
    assert await _logs(env) == []


@pytest.fixture
async def impatient_env(
    database_url: str, database: Database, own_sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(
        database_url, database, own_sandbox, ace_timeout_seconds=0.5, ace_max_retries=0
    ):
        yield value


async def test_a_timeout_stores_nothing_and_the_next_sync_reconciles(
    impatient_env: SyncEnv,
) -> None:
    env = impatient_env
    alice, admin = await _ready(env)
    task = await _task_of(env, "alice")
    env.sandbox.faults.set(latency=1.5, latency_fcts=["savetask"])

    response = await env.client.patch(
        f"/tasks/{task.id}", json={"status_type": "completed"}, headers=alice
    )

    assert response.status_code == 504, response.text
    assert response.json()["error_code"] == "ACE_TIMEOUT"
    assert (await _stored(env, task.id)).status == task.status
    assert await _logs(env) == []
    env.sandbox.faults.set(latency=0.0, latency_fcts=[])
    await asyncio.sleep(1.5)  # whatever ACE does with the abandoned call, it has done it
    # The next sync mirrors what ACE has, and logs the move if there was one, once.
    assert (await env.run_sync(admin, kind="incremental"))["state"] == "succeeded"
    upstream = env.sandbox.store["demo"]
    ace_task = upstream.tasks[task.ace_task_id]
    names = {s.task_status_id: s.name for s in upstream.task_status_list(ace_task.project_id)}
    stored = await _stored(env, task.id)
    assert stored.status == names[ace_task.task_status_id]
    moved = [(task.status, stored.status)] if stored.status != task.status else []
    assert [(log.old_status, log.new_status) for log in await _logs(env)] == moved
