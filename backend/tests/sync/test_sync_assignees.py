"""Assignees mirrored from the one attested source of assignments (per user, `gettasks`
filtered on the assignee and on the reviewer), against the sandbox as a real server, on both
databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from app.ace.client import AceClient
from app.ace.errors import AceRequestRefusedError
from app.models import Task, TaskAssignee, User
from app.services.sync import account_sync
from tests.sync.conftest import SyncEnv, remove_upstream_user


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
    env.sandbox.stats.reset()

    job = await env.run_sync(headers, kind="incremental")

    assert job["state"] == "succeeded", job["errors"]
    assert job["kind"] == "incremental"
    assert await _mirrored_pairs(env) == _upstream_pairs(env)
    counts: Any = job["counts"]["assignees"]  # type: ignore[index]
    assert (counts["inserted"], counts["deleted"]) == (1, 1)
    # One changed task: only its users were asked, the one assigned to it before and the
    # one its ASSIGNED / REVIEWER text names now; `getassigneduserlist` is never asked.
    calls = env.sandbox.stats.recent()
    assert [c for c in calls if c["fct"] == "getassigneduserlist"] == []
    asked = {
        int(c["params"].get("filterassigneduserid") or c["params"]["filterrevieweruserid"])
        for c in calls
        if {"filterassigneduserid", "filterrevieweruserid"} & set(c["params"])
    }
    still = {a.user_id for a in upstream.task_assignments(task_id)}
    assert {removed, added} <= asked <= {removed, added} | still
    assert not any(c["params"].get("forcombo") for c in calls if c["fct"] == "gettasks")
    async with env.database.session() as session:
        hours = dict(
            (
                await session.execute(
                    select(User.ace_user_id, TaskAssignee.assigned_hours)
                    .join(User, User.id == TaskAssignee.user_id)
                    .join(Task, Task.id == TaskAssignee.task_id)
                    .where(Task.ace_task_id == task_id)
                )
            ).all()
        )
    assert hours[added] is None  # ACE's task lists carry no assigned hours


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


async def test_no_assignee_call_when_no_task_changed(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    env.sandbox.stats.reset()

    job = await env.run_sync(headers, kind="incremental")

    assert job["counts"]["assignees"] == {  # type: ignore[index]
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
    }
    calls = env.sandbox.stats.recent()
    assert [c for c in calls if c["fct"] == "getassigneduserlist"] == []
    listed = [c["params"] for c in calls if c["fct"] == "gettasks"]
    assert len(listed) == 1  # the tasks phase's own call, none per user
    assert "filterassigneduserid" not in listed[0]


async def test_a_full_pass_in_small_batches_moves_a_task_between_users(
    own_env: SyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-user reading, one user per transaction: a task moved from one user to another
    ends up with exactly the new one, whichever batch saw which side."""
    monkeypatch.setattr(account_sync, "ASSIGNEE_USERS_PER_COMMIT", 1)
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    task_id = sorted(upstream.tasks)[0]
    before = upstream.task_assignments(task_id)[0]
    after = next(u for u in sorted(upstream.users) if u not in {before.user_id})
    upstream.unassign(task_id, before.user_id)
    upstream.assign(task_id, after)

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    assert await _mirrored_pairs(env) == _upstream_pairs(env)


async def test_assignments_of_a_user_deleted_upstream_go(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    leaver = next(
        u
        for u in sorted(upstream.users)
        if any(u == a.user_id for t in upstream.tasks for a in upstream.task_assignments(t))
        and upstream.users[u].username != "admin"
    )
    remove_upstream_user(upstream, leaver)

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    assert job["counts"]["assignees"]["deleted"] > 0  # type: ignore[index]
    expected = {pair for pair in _upstream_pairs(env) if pair[1] != leaver}
    assert await _mirrored_pairs(env) == expected


async def test_a_user_ace_refuses_to_list_keeps_their_assignments(
    env: SyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ACE answering `status: fail` for one user (a fault the sandbox cannot produce) skips
    that user with a warning; the sync still succeeds and deletes nothing of theirs."""
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    refused = sorted(_upstream(env).users)[-1]
    listed = AceClient.get_task_ids

    async def get_task_ids(self: AceClient, guid: str, **filters: Any) -> set[int]:
        if refused in (filters.get("assigned_user_id"), filters.get("reviewer_user_id")):
            raise AceRequestRefusedError("ACE refused the gettasks request", fct="gettasks")
        return await listed(self, guid, **filters)

    monkeypatch.setattr(AceClient, "get_task_ids", get_task_ids)
    async with env.database.session() as session:
        user_id = await session.scalar(select(User.id).where(User.ace_user_id == refused))
        await session.execute(delete(TaskAssignee).where(TaskAssignee.user_id != user_id))
        await session.commit()

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    errors: Any = job["errors"]
    assert [e["code"] for e in errors] == ["SKIPPED"]
    assert await _mirrored_pairs(env) == _upstream_pairs(env)


async def test_a_user_who_sees_few_tasks_mirrors_their_assignees_exactly(env: SyncEnv) -> None:
    """`fetch-tasks` with a normal user's session: ACE lists only the tasks of their
    projects, and those tasks get exactly ACE's assignees and reviewers."""
    upstream = _upstream(env)
    bob = next(u for u, user in upstream.users.items() if user.username == "bob")
    visible = {
        t
        for t, task in upstream.tasks.items()
        if task.project_id in upstream.projects_by_member[bob]
    }
    assert 0 < len(visible) < len(upstream.tasks)
    headers = await env.sign_in("bob")

    response = await env.client.post("/tasks/fetch-tasks", headers=headers)

    assert response.status_code == 200, response.text
    mirrored = await _mirrored_pairs(env)
    assert {pair[0] for pair in mirrored} <= visible
    assert mirrored == {pair for pair in _upstream_pairs(env) if pair[0] in visible}
