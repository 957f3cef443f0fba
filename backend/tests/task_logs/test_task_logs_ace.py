"""Time logs of ACE users go to ACE first (the sandbox as a real server): create, change and
delete are seen in ACE and mirrored under ACE's key, so the next sync adds nothing; a refusal
stores nothing; a timeout is followed by a read-back; local accounts keep their logs local.
On both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from ace_sandbox.store import Account
from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import AceSession, RoleEnum, TaskLog, TaskLogKind
from app.services.task_log_service import week_start_of
from tests.factories import local_user_signed_in
from tests.sync.conftest import SyncEnv, open_env
from tests.task_logs.helpers import a_day_without_time, all_logs, ready, task_of, user_named


def _days(account: Account, line_id: int) -> dict[date, tuple[float, str]]:
    """A sandbox line's days: hours and comment."""
    line = account.time_lines[line_id]
    return {
        entry.date_worked.date() if hasattr(entry.date_worked, "date") else entry.date_worked: (
            entry.total,
            entry.comment,
        )
        for entry in line.days.values()
    }


def _lines_on(account: Account, ace_user_id: int, day: date) -> list[int]:
    return sorted(
        line.timesheet_line_id
        for line in account.time_lines.values()
        if line.user_id == ace_user_id and day in _days(account, line.timesheet_line_id)
    )


async def _post(env: SyncEnv, task_id: int, headers: dict[str, str], **body: Any) -> Any:
    return await env.client.post(f"/tasks/{task_id}/logs", json=body, headers=headers)


async def test_a_time_log_goes_to_ace_and_the_next_sync_keeps_one_row(own_env: SyncEnv) -> None:
    env = own_env
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    upstream = env.sandbox.store["demo"]
    day = a_day_without_time()

    response = await _post(
        env, task.id, alice, kind="time", date_worked=day.isoformat(), hours=3, comment="Review"
    )

    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert created["source"] == "ace"
    line_id = created["ace_timesheet_line_id"]
    assert _days(upstream, line_id) == {day: (3.0, "Review")}
    line = upstream.time_lines[line_id]
    assert (line.user_id, line.week_start) == (alice_user.ace_user_id, week_start_of(day))
    assert next(iter(line.days.values())).task_id == task.ace_task_id
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    mirrored = await all_logs(env, ace_timesheet_line_id=line_id)
    assert [(log.id, log.hours, log.comment) for log in mirrored] == [
        (created["id"], 3.0, "Review")
    ]


async def _two_day_line(env: SyncEnv, admin: dict[str, str]) -> tuple[int, date, date]:
    """A line of alice's with two days (3 h and 2 h), made in ACE and mirrored."""
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    upstream = env.sandbox.store["demo"]
    first = a_day_without_time(10)
    week_start = week_start_of(first)
    first = week_start + timedelta(days=1)
    second = week_start + timedelta(days=3)
    hours = [0.0, 3.0, 0.0, 2.0, 0.0, 0.0, 0.0]
    ace_task = upstream.tasks[task.ace_task_id]
    line = upstream.save_time_line(
        None,
        user_id=int(alice_user.ace_user_id or 0),
        week_start=week_start,
        hours=hours,
        project_id=ace_task.project_id,
        task_id=task.ace_task_id,
        comment="Line",
    )
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    return line.timesheet_line_id, first, second


async def test_a_change_and_deletes_keep_the_line_s_other_days(own_env: SyncEnv) -> None:
    env = own_env
    alice, admin = await ready(env)
    line_id, first, second = await _two_day_line(env, admin)
    upstream = env.sandbox.store["demo"]
    rows = {log.date_worked: log for log in await all_logs(env, ace_timesheet_line_id=line_id)}
    assert set(rows) == {first, second}

    changed = await env.client.patch(
        f"/task-logs/{rows[first].id}", json={"hours": 5, "comment": "Longer"}, headers=alice
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["hours"] == 5.0
    assert _days(upstream, line_id) == {first: (5.0, "Longer"), second: (2.0, "Longer")}
    mirrored = {log.date_worked: log for log in await all_logs(env, ace_timesheet_line_id=line_id)}
    assert {day: (log.hours, log.comment) for day, log in mirrored.items()} == {
        first: (5.0, "Longer"),
        second: (2.0, "Longer"),
    }
    moved = await env.client.patch(
        f"/task-logs/{rows[first].id}", json={"date_worked": second.isoformat()}, headers=alice
    )
    assert moved.status_code == 422
    assert moved.json()["data"][0]["loc"] == ["body", "date_worked"]

    cleared = await env.client.patch(
        f"/task-logs/{rows[first].id}", json={"comment": None}, headers=alice
    )
    assert cleared.status_code == 422
    assert cleared.json()["data"][0]["loc"] == ["body", "comment"]

    # one day of two: that day goes to 0 hours, the line stays
    gone = await env.client.delete(f"/task-logs/{rows[first].id}", headers=alice)
    assert gone.status_code == 200, gone.text
    assert _days(upstream, line_id) == {second: (2.0, "Longer")}
    assert [log.date_worked for log in await all_logs(env, ace_timesheet_line_id=line_id)] == [
        second
    ]
    # the line's last day: the line is deleted
    last = await env.client.delete(f"/task-logs/{rows[second].id}", headers=alice)
    assert last.status_code == 200, last.text
    assert line_id not in upstream.time_lines
    assert await all_logs(env, ace_timesheet_line_id=line_id) == []
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    assert await all_logs(env, ace_timesheet_line_id=line_id) == []


async def test_a_refusal_stores_nothing(own_env: SyncEnv) -> None:
    env = own_env
    alice, admin = await ready(env)
    line_id, first, _ = await _two_day_line(env, admin)
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    upstream = env.sandbox.store["demo"]
    before = len(await all_logs(env, kind=TaskLogKind.time))
    upstream.close_period(first + timedelta(days=7))  # ACE refuses (4002) the closed weeks

    response = await _post(env, task.id, alice, kind="time", date_worked=first.isoformat(), hours=1)

    assert response.status_code == 502, response.text
    assert response.json()["error_code"] == "ACE_BAD_RESPONSE"
    assert len(await all_logs(env, kind=TaskLogKind.time)) == before
    assert _lines_on(upstream, int(alice_user.ace_user_id or 0), first) == [line_id]
    [row] = await all_logs(env, ace_timesheet_line_id=line_id, date_worked=first)
    changed = await env.client.patch(f"/task-logs/{row.id}", json={"hours": 7}, headers=alice)
    assert changed.status_code == 502
    deleted = await env.client.delete(f"/task-logs/{row.id}", headers=alice)
    assert deleted.status_code == 502
    [kept] = await all_logs(env, ace_timesheet_line_id=line_id, date_worked=first)
    assert kept.hours == 3.0
    assert _days(upstream, line_id)[first] == (3.0, "Line")


@pytest.fixture
async def impatient_env(
    database_url: str, database: Database, own_sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(
        database_url,
        database,
        own_sandbox,
        ace_timeout_seconds=0.5,
        ace_connect_timeout_seconds=0.5,
        ace_max_retries=0,
    ):
        yield value


async def test_a_timeout_after_ace_saved_reads_back_and_mirrors(impatient_env: SyncEnv) -> None:
    env = impatient_env
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    upstream = env.sandbox.store["demo"]
    day = a_day_without_time()
    # ACE saves the line, then its answer drips in too slowly
    env.sandbox.faults.set(drip_bytes=2, drip_delay=0.2, fcts=["saveworkitem"])
    env.sandbox.stats.reset()

    response = await _post(env, task.id, alice, kind="time", date_worked=day.isoformat(), hours=2)

    env.sandbox.faults.reset()
    assert response.status_code == 201, response.text
    [line_id] = _lines_on(upstream, int(alice_user.ace_user_id or 0), day)
    assert response.json()["data"]["ace_timesheet_line_id"] == line_id
    calls = [c["fct"] for c in env.sandbox.stats.recent()]
    assert "gettimereport" in calls[calls.index("saveworkitem") :]
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    assert len(await all_logs(env, ace_timesheet_line_id=line_id)) == 1

    # a change whose answer times out: read back, applied, mirrored
    env.sandbox.faults.set(drip_bytes=2, drip_delay=0.2, fcts=["saveworkitem"])
    changed = await env.client.patch(
        f"/task-logs/{response.json()['data']['id']}", json={"hours": 4}, headers=alice
    )
    env.sandbox.faults.reset()
    assert changed.status_code == 200, changed.text
    assert _days(upstream, line_id)[day][0] == 4.0
    [row] = await all_logs(env, ace_timesheet_line_id=line_id)
    assert row.hours == 4.0

    # a delete whose answer times out: read back, gone in ACE, gone here
    env.sandbox.faults.set(drip_bytes=2, drip_delay=0.2, fcts=["deleteworkitem"])
    env.sandbox.stats.reset()
    deleted = await env.client.delete(f"/task-logs/{row.id}", headers=alice)
    env.sandbox.faults.reset()
    assert deleted.status_code == 200, deleted.text
    assert line_id not in upstream.time_lines
    assert await all_logs(env, ace_timesheet_line_id=line_id) == []
    calls = [c["fct"] for c in env.sandbox.stats.recent()]
    assert calls[calls.index("deleteworkitem") + 1 :].count("gettimereport") >= 1


async def test_a_timeout_before_ace_answers_leaves_acehub_like_ace(
    impatient_env: SyncEnv,
) -> None:
    env = impatient_env
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    upstream = env.sandbox.store["demo"]
    day = a_day_without_time()
    env.sandbox.faults.set(latency=1.5, latency_fcts=["saveworkitem"])

    response = await _post(env, task.id, alice, kind="time", date_worked=day.isoformat(), hours=2)

    assert response.status_code == 504, response.text
    assert response.json()["error_code"] == "ACE_TIMEOUT"
    assert await all_logs(env, date_worked=day) == []
    await asyncio.sleep(1.5)
    env.sandbox.faults.reset()
    # whether or not ACE applied it late, the next sync leaves one row per ACE entry
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    in_ace = _lines_on(upstream, int(alice_user.ace_user_id or 0), day)
    assert (
        sorted(log.ace_timesheet_line_id or 0 for log in await all_logs(env, date_worked=day))
        == in_ace
    )


async def test_another_user_s_ace_log_changes_with_their_session(
    own_env: SyncEnv, database: Database
) -> None:
    env = own_env
    alice, admin = await ready(env)
    line_id, first, _ = await _two_day_line(env, admin)
    upstream = env.sandbox.store["demo"]
    [row] = await all_logs(env, ace_timesheet_line_id=line_id, date_worked=first)

    by_admin = await env.client.patch(f"/task-logs/{row.id}", json={"hours": 6}, headers=admin)

    assert by_admin.status_code == 200, by_admin.text
    assert _days(upstream, line_id)[first][0] == 6.0
    alice_user = await user_named(env, "alice")
    async with database.session() as session:
        await session.execute(delete(AceSession).where(AceSession.user_id == alice_user.id))
        await session.commit()
    no_session = await env.client.patch(f"/task-logs/{row.id}", json={"hours": 1}, headers=admin)
    assert no_session.status_code == 409
    assert no_session.json()["error_code"] == "CONFLICT"
    own = await env.client.patch(f"/task-logs/{row.id}", json={"hours": 1}, headers=alice)
    assert own.status_code == 401
    assert own.json()["error_code"] == "ACE_SESSION_EXPIRED"
    assert _days(upstream, line_id)[first][0] == 6.0
    [kept] = await all_logs(env, ace_timesheet_line_id=line_id, date_worked=first)
    assert kept.hours == 6.0


async def test_a_local_account_s_logs_stay_local(env: SyncEnv, database: Database) -> None:
    await ready(env)
    task = await task_of(env, "alice")
    local = (
        await local_user_signed_in(
            env.client, database, username="local-lead", role=RoleEnum.manager, account_id="demo"
        )
    ).headers
    env.sandbox.stats.reset()

    response = await _post(
        env, task.id, local, kind="time", date_worked=a_day_without_time().isoformat(), hours=1
    )

    assert response.status_code == 201, response.text
    assert (
        response.json()["data"]["source"],
        response.json()["data"]["ace_timesheet_line_id"],
    ) == (
        "local",
        None,
    )
    log_id = response.json()["data"]["id"]
    assert (
        await env.client.patch(f"/task-logs/{log_id}", json={"hours": 2}, headers=local)
    ).status_code == 200
    assert (await env.client.delete(f"/task-logs/{log_id}", headers=local)).status_code == 200
    assert [c["fct"] for c in env.sandbox.stats.recent() if "workitem" in c["fct"]] == []
    assert all(isinstance(log, TaskLog) for log in await all_logs(env))


async def test_a_sync_that_mirrors_the_line_between_ace_and_acehub_makes_no_duplicate(
    own_env: SyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the write-back's key guards against, forced: ACE saves the line, a full sync
    mirrors it, and only then does the write-back store its row."""
    env = own_env
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    day = a_day_without_time()
    ace = env.app.state.ace
    save_in_ace = ace.save_work_item
    synced: list[object] = []

    async def save_then_sync(*args: Any, **kwargs: Any) -> int:
        line_id: int = await save_in_ace(*args, **kwargs)
        synced.append((await env.run_sync(admin, kind="full"))["state"])
        return line_id

    monkeypatch.setattr(ace, "save_work_item", save_then_sync)

    response = await _post(
        env, task.id, alice, kind="time", date_worked=day.isoformat(), hours=2.5, comment="Race"
    )

    assert response.status_code == 201, response.text
    assert synced == ["succeeded"]
    created = response.json()["data"]
    [row] = await all_logs(env, ace_timesheet_line_id=created["ace_timesheet_line_id"])
    assert (row.id, row.source.value, row.hours, row.comment) == (
        created["id"],
        "ace",
        2.5,
        "Race",
    )
    monkeypatch.undo()
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    assert len(await all_logs(env, date_worked=day, user_id=row.user_id)) == 1
