"""Assignees mirrored the way ace-api.md §6.4 advises (per user, `gettasks` filtered on the
assignee and on the reviewer), against the sandbox as a real server, on both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from app.models import Task, TaskAssignee, User
from tests.sync.conftest import SyncEnv


def _upstream(env: SyncEnv) -> Any:
    return env.sandbox.store["demo"]


def _upstream_pairs(env: SyncEnv) -> set[tuple[int, int, bool, bool]]:
    upstream = _upstream(env)
    return {
        (task_id, a.user_id, a.is_assignee, a.is_reviewer)
        for task_id in upstream.tasks
        for a in upstream.task_assignments(task_id)
    }


async def _mirrored_pairs(env: SyncEnv) -> set[tuple[int, int, bool, bool]]:
    async with env.database.session() as session:
        rows = await session.execute(
            select(
                Task.ace_task_id,
                User.ace_user_id,
                TaskAssignee.is_assignee,
                TaskAssignee.is_reviewer,
            )
            .join(Task, Task.id == TaskAssignee.task_id)
            .join(User, User.id == TaskAssignee.user_id)
        )
        return {(t, u, a, r) for t, u, a, r in rows if u is not None}


async def test_a_full_sync_mirrors_exactly_who_works_on_what(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    job = await env.run_sync(headers)
    assert job["state"] == "succeeded", job["errors"]
    expected = _upstream_pairs(env)
    assert any(r for *_, r in expected)  # reviewers and assignees both appear
    assert any(a for *_, a, _ in expected)
    assert await _mirrored_pairs(env) == expected
    assert job["counts"]["assignees"]["inserted"] == len(expected)  # type: ignore[index]


async def test_an_incremental_sync_follows_assignment_changes(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    task_id, *_ = sorted(upstream.tasks)
    removed = upstream.task_assignments(task_id)[0].user_id
    added = next(u for u in sorted(upstream.users) if u != removed)
    upstream.unassign(task_id, removed, at=datetime.now())
    upstream.assign(task_id, added, is_assignee=False, is_reviewer=True, at=datetime.now())

    job = await env.run_sync(headers, kind="incremental")

    assert job["state"] == "succeeded", job["errors"]
    assert job["kind"] == "incremental"
    assert await _mirrored_pairs(env) == _upstream_pairs(env)
    counts: Any = job["counts"]["assignees"]  # type: ignore[index]
    assert counts["deleted"] == 1
    assert counts["inserted"] + counts["updated"] == 1


async def test_a_sync_keeps_assigned_hours_it_cannot_read(env: SyncEnv) -> None:
    """ACE's task lists carry no assigned hours: a sync must not wipe those a batch save
    wrote, and must not count the row as changed."""
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    async with env.database.session() as session:
        pair = (await session.execute(select(TaskAssignee.task_id, TaskAssignee.user_id))).first()
        assert pair is not None
        await session.execute(
            update(TaskAssignee)
            .where(TaskAssignee.task_id == pair[0], TaskAssignee.user_id == pair[1])
            .values(assigned_hours=7.5)
        )
        await session.commit()

    job = await env.run_sync(headers, kind="full")

    assert job["counts"]["assignees"] == {  # type: ignore[index]
        "inserted": 0,
        "updated": 0,
        "unchanged": len(_upstream_pairs(env)),
        "deleted": 0,
    }
    async with env.database.session() as session:
        hours = await session.scalar(
            select(TaskAssignee.assigned_hours).where(
                TaskAssignee.task_id == pair[0], TaskAssignee.user_id == pair[1]
            )
        )
    assert hours == 7.5


async def test_assignments_to_tasks_the_run_did_not_read_stay(own_env: SyncEnv) -> None:
    """An incremental run rewrites the assignees of the tasks it read only: an assignment
    of an untouched task stays even if ACE's lists would not show it (the full pass owns
    those)."""
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    untouched, changed = sorted(upstream.tasks)[:2]
    gone = upstream.task_assignments(untouched)[0].user_id
    upstream.unassign(untouched, gone, at=datetime(2020, 1, 1))  # modified date left old
    upstream.update_task(changed, task_resume="Changed", at=datetime.now())

    incremental = await env.run_sync(headers, kind="incremental")
    pairs = await _mirrored_pairs(env)
    assert any(t == untouched and u == gone for t, u, *_ in pairs)
    assert incremental["state"] == "succeeded"

    full = await env.run_sync(headers, kind="full")
    assert full["state"] == "succeeded"
    assert await _mirrored_pairs(env) == _upstream_pairs(env)
