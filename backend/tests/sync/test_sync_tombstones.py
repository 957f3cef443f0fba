"""Rows ACE no longer returns become tombstones on a full pass (projects, users, tasks), come
back when ACE lists them again, and tombstoned tasks leave the read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ace_sandbox.models import User as AceUser
from app.models import Project, Task, User
from tests.sync.conftest import SyncEnv, remove_upstream_user


async def _deleted_at(env: SyncEnv, model: Any, column: Any, ace_id: int) -> datetime | None:
    async with env.database.session() as session:
        rows = list(await session.execute(select(model.deleted_at).where(column == ace_id)))
    assert len(rows) == 1, rows
    value: datetime | None = rows[0][0]
    return value


async def _task_ids_of(env: SyncEnv, headers: dict[str, str], user_id: int) -> set[int]:
    response = await env.client.get(f"/tasks/{user_id}", headers=headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    return {item["ace_task_id"] for item in response.json()["data"]["items"]}


async def test_a_project_deleted_upstream_becomes_a_tombstone(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = env.sandbox.store["demo"]
    project_id = sorted(upstream.projects)[0]
    its_tasks = set(upstream.tasks_by_project[project_id])
    assert its_tasks
    upstream.delete_project(project_id)

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    counts: Any = job["counts"]
    assert counts["projects"]["deleted"] == 1
    assert await _deleted_at(env, Project, Project.ace_project_id, project_id) is not None
    async with env.database.session() as session:
        live = set(
            await session.scalars(
                select(Project.ace_project_id).where(Project.deleted_at.is_(None))
            )
        )
        dead_tasks = set(
            await session.scalars(select(Task.ace_task_id).where(Task.deleted_at.is_not(None)))
        )
    assert live == set(upstream.projects) - {project_id}
    # ACE hides the tasks of a deleted project, so they are tombstoned with it.
    assert dead_tasks == its_tasks
    assert counts["tasks"]["deleted"] == len(its_tasks)


async def test_a_user_deleted_upstream_becomes_a_tombstone(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    upstream = env.sandbox.store["demo"]
    leaver = upstream.add_user(
        AceUser(
            user_id=max(upstream.users) + 1,
            username="leaver",
            first_name="Lee",
            last_name="Ver",
            email_alert="leaver@example.com",
            password="unused-password",
        )
    )
    await env.run_sync(headers)
    assert await _deleted_at(env, User, User.ace_user_id, leaver.user_id) is None
    remove_upstream_user(upstream, leaver.user_id)

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    assert job["counts"]["users"]["deleted"] == 1  # type: ignore[index]
    assert await _deleted_at(env, User, User.ace_user_id, leaver.user_id) is not None
    async with env.database.session() as session:
        others = list(
            await session.scalars(select(User.deleted_at).where(User.ace_user_id != leaver.user_id))
        )
    assert others == [None] * len(upstream.users)


async def test_a_tombstoned_task_that_comes_back_is_revived(own_env: SyncEnv) -> None:
    env = own_env
    admin = await env.sign_in("admin")
    alice = await env.sign_in("alice")
    await env.run_sync(admin)
    upstream = env.sandbox.store["demo"]
    alice_ace_id = upstream.find_login("alice").user_id  # type: ignore[union-attr]
    async with env.database.session() as session:
        alice_id = await session.scalar(select(User.id).where(User.ace_user_id == alice_ace_id))
    assert alice_id is not None
    hers = await _task_ids_of(env, alice, alice_id)
    task_id = min(hers)
    task = upstream.tasks[task_id]
    assignments = upstream.task_assignments(task_id)
    upstream.delete_task(task_id)

    gone = await env.run_sync(admin, kind="full")
    assert gone["counts"]["tasks"]["deleted"] == 1  # type: ignore[index]
    assert await _deleted_at(env, Task, Task.ace_task_id, task_id) is not None
    assert await _task_ids_of(env, alice, alice_id) == hers - {task_id}

    upstream.add_task(task)
    for a in assignments:
        upstream.assign(
            task_id,
            a.user_id,
            is_assignee=a.is_assignee,
            is_reviewer=a.is_reviewer,
            assigned_hours=a.assigned_hours,
        )
    back = await env.run_sync(admin, kind="full")

    assert back["state"] == "succeeded", back["errors"]
    tasks: Any = back["counts"]["tasks"]  # type: ignore[index]
    assert (tasks["inserted"], tasks["updated"], tasks["deleted"]) == (0, 1, 0)
    assert await _deleted_at(env, Task, Task.ace_task_id, task_id) is None
    assert await _task_ids_of(env, alice, alice_id) == hers
