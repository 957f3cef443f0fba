"""A sync that sees a task's status move in ACE records it as a `status_change` log, once. On
both databases, against the sandbox as a real server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.models import Task, TaskLog, TaskLogKind, TaskLogSource, User
from tests.sync.conftest import SyncEnv


async def _status_logs(env: SyncEnv) -> list[TaskLog]:
    async with env.database.session() as session:
        rows = await session.scalars(
            select(TaskLog).where(TaskLog.kind == TaskLogKind.status_change).order_by(TaskLog.id)
        )
        return list(rows)


async def test_a_status_moved_in_ace_is_logged_once(own_env: SyncEnv) -> None:
    env = own_env
    upstream = env.sandbox.store["demo"]
    headers = await env.sign_in("admin")
    assert (await env.run_sync(headers, kind="full"))["state"] == "succeeded"
    assert await _status_logs(env) == []  # the first sync finds tasks; nothing moved

    task_id = sorted(upstream.tasks)[0]
    project_id = upstream.tasks[task_id].project_id
    async with env.database.session() as session:
        before = await session.scalar(select(Task.status).where(Task.ace_task_id == task_id))
    target = next(
        s
        for s in upstream.task_status_list(project_id)
        if s.task_status_id != upstream.tasks[task_id].task_status_id
    )
    upstream.set_task_status(task_id, target.task_status_id, at=datetime.now())

    assert (await env.run_sync(headers, kind="incremental"))["state"] == "succeeded"
    assert (await env.run_sync(headers, kind="incremental"))["state"] == "succeeded"

    logs = await _status_logs(env)
    assert len(logs) == 1, [(log.old_status, log.new_status) for log in logs]
    log = logs[0]
    assert (log.old_status, log.new_status) == (before, target.name)
    assert log.source == TaskLogSource.ace
    assert log.hours is None
    async with env.database.session() as session:
        task = await session.scalar(select(Task).where(Task.ace_task_id == task_id))
        admin = await session.scalar(
            select(User).where(User.account_id == "demo", User.username == "admin")
        )
    assert task is not None
    assert admin is not None
    assert log.task_id == task.id
    assert log.user_id == admin.id  # whose sync saw it
    assert task.status == target.name


async def test_a_change_that_leaves_the_status_is_not_logged(own_env: SyncEnv) -> None:
    env = own_env
    upstream = env.sandbox.store["demo"]
    headers = await env.sign_in("admin")
    assert (await env.run_sync(headers, kind="full"))["state"] == "succeeded"
    task_id = sorted(upstream.tasks)[1]
    upstream.update_task(task_id, task_resume="Renamed upstream", at=datetime.now())

    assert (await env.run_sync(headers, kind="incremental"))["state"] == "succeeded"

    assert await _status_logs(env) == []
