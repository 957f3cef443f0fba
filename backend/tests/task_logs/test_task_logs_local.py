"""Task logs kept in acehub (`ACE_WRITE_BACK=false`): create, list, change, delete, the
validation rules with their `loc`, the day total, future days and who may see what. On both
databases; the sandbox is only read (the sync), never written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import Task, TaskLog, TaskLogKind, TaskLogSource
from tests.sync.conftest import SyncEnv, open_env
from tests.task_logs.helpers import a_day_without_time, all_logs, ready, task_of, user_named


@pytest.fixture
async def env(
    database_url: str, database: Database, sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(database_url, database, sandbox, ace_write_back=False):
        yield value


async def _post(env: SyncEnv, task_id: int, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await env.client.post(f"/tasks/{task_id}/logs", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_create_list_change_and_delete_a_time_log(env: SyncEnv) -> None:
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    day = a_day_without_time()
    env.sandbox.stats.reset()

    created = await _post(
        env, task.id, alice, kind="time", date_worked=day.isoformat(), hours=2.5, comment="Fix"
    )
    alice_id = (await user_named(env, "alice")).id
    assert {k: created[k] for k in ("task_id", "user_id", "kind", "hours", "comment")} == {
        "task_id": task.id,
        "user_id": alice_id,
        "kind": "time",
        "hours": 2.5,
        "comment": "Fix",
    }
    assert created["date_worked"] == day.isoformat()
    assert created["source"] == "local"
    assert created["ace_timesheet_line_id"] is None
    assert set(created) == {
        "id", "task_id", "user_id", "kind", "date_worked", "hours", "comment", "old_status",
        "new_status", "source", "ace_timesheet_line_id", "created_at", "updated_at",
    }  # fmt: skip

    listed = await env.client.get(
        f"/tasks/{task.id}/logs", params={"source": "local"}, headers=alice
    )
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["data"]["items"]] == [created["id"]]

    changed = await env.client.patch(
        f"/task-logs/{created['id']}", json={"hours": 3, "comment": None}, headers=alice
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["data"]["hours"], changed.json()["data"]["comment"]) == (3.0, None)

    by_admin = await env.client.get(
        "/task-logs",
        params={"user_id": alice_id, "source": "local", "kind": "time"},
        headers=admin,
    )
    assert [item["hours"] for item in by_admin.json()["data"]["items"]] == [3.0]

    deleted = await env.client.delete(f"/task-logs/{created['id']}", headers=alice)
    assert deleted.status_code == 200, deleted.text
    assert await all_logs(env, source=TaskLogSource.local) == []
    again = await env.client.delete(f"/task-logs/{created['id']}", headers=alice)
    assert again.status_code == 404
    assert [c["fct"] for c in env.sandbox.stats.recent() if "workitem" in c["fct"]] == []


async def test_a_note_defaults_to_today(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")

    note = await _post(env, task.id, alice, kind="note", comment="Waiting for the customer")

    assert (note["kind"], note["hours"], note["date_worked"]) == (
        "note",
        None,
        datetime.now(UTC).date().isoformat(),
    )
    hours = await env.client.patch(f"/task-logs/{note['id']}", json={"hours": 1}, headers=alice)
    assert hours.status_code == 422
    assert hours.json()["data"][0]["loc"] == ["body", "hours"]


TOO_LONG = "x" * 10_001


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "time", "date_worked": "2025-01-06", "hours": 0}, ["body", "hours"]),
        ({"kind": "time", "date_worked": "2025-01-06", "hours": -1}, ["body", "hours"]),
        ({"kind": "time", "date_worked": "2025-01-06", "hours": 24.5}, ["body", "hours"]),
        ({"kind": "time", "date_worked": "2025-01-06"}, ["body", "hours"]),
        ({"kind": "time", "hours": 1}, ["body", "date_worked"]),
        ({"kind": "time", "date_worked": "not a day", "hours": 1}, ["body", "date_worked"]),
        (
            {"kind": "time", "date_worked": "2025-01-06", "hours": 1, "comment": TOO_LONG},
            ["body", "comment"],
        ),
        ({"kind": "note"}, ["body", "comment"]),
        ({"kind": "note", "comment": "x", "hours": 1}, ["body", "hours"]),
        ({"kind": "status_change", "comment": "x"}, ["body", "kind"]),
        ({"kind": "holiday", "comment": "x"}, ["body", "kind"]),
        ({"kind": "note", "comment": "x", "user_id": 1}, ["body", "user_id"]),
        ({"kind": "note", "comment": "x", "source": "ace"}, ["body", "source"]),
    ],
)
async def test_bad_logs_are_refused_with_their_field(
    env: SyncEnv, body: dict[str, Any], loc: list[str]
) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")

    response = await env.client.post(f"/tasks/{task.id}/logs", json=body, headers=alice)

    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert loc in [error["loc"] for error in response.json()["data"]]
    assert await all_logs(env, source=TaskLogSource.local) == []


async def test_infinite_hours_are_refused(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")

    response = await env.client.post(
        f"/tasks/{task.id}/logs",
        content=b'{"kind": "time", "date_worked": "2025-01-06", "hours": 1e400}',
        headers=alice | {"Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["data"][0]["loc"] == ["body", "hours"]


async def test_one_day_holds_at_most_24_hours(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")
    day = a_day_without_time(5).isoformat()
    first = await _post(env, task.id, alice, kind="time", date_worked=day, hours=20)

    over = await env.client.post(
        f"/tasks/{task.id}/logs",
        json={"kind": "time", "date_worked": day, "hours": 4.5},
        headers=alice,
    )
    assert over.status_code == 422, over.text
    assert over.json()["data"][0]["loc"] == ["body", "hours"]
    second = await _post(env, task.id, alice, kind="time", date_worked=day, hours=4)
    # a note does not count, and a log's own hours are not counted twice when it changes
    await _post(env, task.id, alice, kind="note", date_worked=day, comment="n")
    same = await env.client.patch(f"/task-logs/{first['id']}", json={"hours": 20}, headers=alice)
    assert same.status_code == 200, same.text
    grown = await env.client.patch(
        f"/task-logs/{second['id']}", json={"hours": 4.25}, headers=alice
    )
    assert grown.status_code == 422
    assert grown.json()["data"][0]["loc"] == ["body", "hours"]
    moved = await env.client.patch(
        f"/task-logs/{second['id']}",
        json={"date_worked": a_day_without_time(6).isoformat(), "hours": 10},
        headers=alice,
    )
    assert moved.status_code == 200, moved.text
    logs = await all_logs(env, source=TaskLogSource.local, kind=TaskLogKind.time)
    assert sorted(log.hours or 0 for log in logs) == [10.0, 20.0]


async def test_no_day_after_today(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")
    today = datetime.now(UTC).date()

    tomorrow = await env.client.post(
        f"/tasks/{task.id}/logs",
        json={"kind": "time", "date_worked": (today + timedelta(days=1)).isoformat(), "hours": 1},
        headers=alice,
    )
    assert tomorrow.status_code == 422
    assert tomorrow.json()["data"][0]["loc"] == ["body", "date_worked"]
    log = await _post(env, task.id, alice, kind="time", date_worked=today.isoformat(), hours=1)
    moved = await env.client.patch(
        f"/task-logs/{log['id']}",
        json={"date_worked": (today + timedelta(days=1)).isoformat()},
        headers=alice,
    )
    assert moved.status_code == 422
    assert moved.json()["data"][0]["loc"] == ["body", "date_worked"]


@pytest.fixture
async def ahead_env(
    database_url: str, database: Database, sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(
        database_url,
        database,
        sandbox,
        ace_write_back=False,
        log_future_days=2,
        report_timezone="Pacific/Kiritimati",
    ):
        yield value


async def test_future_days_and_the_account_time_zone(ahead_env: SyncEnv) -> None:
    env = ahead_env
    alice, _ = await ready(env)
    task = await task_of(env, "alice")
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()  # UTC+14

    latest = (today + timedelta(days=2)).isoformat()
    await _post(env, task.id, alice, kind="time", date_worked=latest, hours=1)
    later = await env.client.post(
        f"/tasks/{task.id}/logs",
        json={"kind": "time", "date_worked": (today + timedelta(days=3)).isoformat(), "hours": 1},
        headers=alice,
    )
    assert later.status_code == 422
    assert later.json()["data"][0]["loc"] == ["body", "date_worked"]


async def test_who_may_see_and_change_which_log(env: SyncEnv, database: Database) -> None:
    alice, admin = await ready(env)
    bob = await env.sign_in("bob")
    hers, not_hers = await task_of(env, "alice"), await task_of(env, "alice", mine=False)
    bobs = await task_of(env, "bob")
    day = a_day_without_time().isoformat()
    alice_log = await _post(env, hers.id, alice, kind="time", date_worked=day, hours=1)
    bob_log = await _post(env, bobs.id, bob, kind="note", comment="bob's")
    admin_log = await _post(env, not_hers.id, admin, kind="note", comment="admin's")

    # a member: only their own logs, only on their tasks
    for path in (f"/task-logs/{bob_log['id']}", f"/task-logs/{admin_log['id']}"):
        assert (
            await env.client.patch(path, json={"comment": "x"}, headers=alice)
        ).status_code == 404
        assert (await env.client.delete(path, headers=alice)).status_code == 404
    on_other = await env.client.post(
        f"/tasks/{not_hers.id}/logs", json={"kind": "note", "comment": "x"}, headers=alice
    )
    assert on_other.status_code == 404
    assert (await env.client.get(f"/tasks/{not_hers.id}/logs", headers=alice)).status_code == 404
    mine = await env.client.get("/task-logs", params={"source": "local"}, headers=alice)
    assert [item["id"] for item in mine.json()["data"]["items"]] == [alice_log["id"]]
    missing = await env.client.post(
        "/tasks/999999/logs", json={"kind": "note", "comment": "x"}, headers=admin
    )
    assert missing.status_code == 404

    # managers and admins: every log of their account
    everyone = await env.client.get(
        "/task-logs", params={"sort": "id", "source": "local"}, headers=admin
    )
    assert [item["id"] for item in everyone.json()["data"]["items"]] == [
        alice_log["id"],
        bob_log["id"],
        admin_log["id"],
    ]
    by_admin = await env.client.patch(
        f"/task-logs/{alice_log['id']}", json={"hours": 2}, headers=admin
    )
    assert by_admin.status_code == 200, by_admin.text

    # another account sees none of them
    carol = await env.sign_in("carol", account_id="acme")
    assert (await env.client.get(f"/task-logs/{alice_log['id']}", headers=carol)).status_code in (
        404,
        405,
    )
    for log in (alice_log, bob_log, admin_log):
        path = f"/task-logs/{log['id']}"
        assert (
            await env.client.patch(path, json={"comment": "x"}, headers=carol)
        ).status_code == 404
        assert (await env.client.delete(path, headers=carol)).status_code == 404
    foreign = await env.client.get("/task-logs", headers=carol)
    assert foreign.json()["data"]["total"] == 0

    # a deleted task hides its logs and takes none
    async with database.session() as session:
        stored = await session.get(Task, hers.id)
        assert stored is not None
        stored.deleted_at = datetime.now(UTC)
        await session.commit()
    gone = await env.client.patch(f"/task-logs/{alice_log['id']}", json={"hours": 1}, headers=admin)
    assert gone.status_code == 404
    assert (await env.client.get(f"/tasks/{hers.id}/logs", headers=admin)).status_code == 404


async def test_status_change_logs_are_read_only(env: SyncEnv, database: Database) -> None:
    alice, admin = await ready(env)
    task = await task_of(env, "alice")
    alice_user = await user_named(env, "alice")
    async with database.session() as session:
        log = TaskLog(
            account_id="demo",
            task_id=task.id,
            user_id=alice_user.id,
            kind=TaskLogKind.status_change,
            date_worked=date(2025, 6, 2),
            old_status="Open",
            new_status="Done",
            source=TaskLogSource.ace,
        )
        session.add(log)
        await session.commit()
        log_id = log.id

    listed = await env.client.get(
        f"/tasks/{task.id}/logs", params={"kind": "status_change"}, headers=admin
    )
    [item] = listed.json()["data"]["items"]
    assert (item["old_status"], item["new_status"]) == ("Open", "Done")
    changed = await env.client.patch(f"/task-logs/{log_id}", json={"comment": "x"}, headers=alice)
    assert changed.status_code == 409
    assert changed.json()["error_code"] == "CONFLICT"
    assert (await env.client.delete(f"/task-logs/{log_id}", headers=admin)).status_code == 409


async def test_pages_by_offset_and_cursor(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")
    for offset in (3, 4, 5, 6, 7):
        day = a_day_without_time(offset).isoformat()
        await _post(env, task.id, alice, kind="time", date_worked=day, hours=1)
    params: dict[str, Any] = {"limit": 2, "kind": "time", "source": "local"}

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = await env.client.get(
            "/task-logs", params=params | ({"cursor": cursor} if cursor else {}), headers=alice
        )
        assert page.status_code == 200, page.text
        data = page.json()["data"]
        assert data["total"] == 5
        seen += [item["date_worked"] for item in data["items"]]
        cursor = data["next_cursor"]
    assert cursor is None
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5
    by_offset = await env.client.get("/task-logs", params=params | {"offset": 4}, headers=alice)
    assert len(by_offset.json()["data"]["items"]) == 1

    first = await env.client.get("/task-logs", params=params, headers=alice)
    token = first.json()["data"]["next_cursor"]
    both = await env.client.get(
        "/task-logs", params=params | {"cursor": token, "offset": 2}, headers=alice
    )
    assert both.status_code == 422
    assert both.json()["data"][0]["loc"] == ["query", "offset"]
    other_filters = await env.client.get(
        "/task-logs", params={"limit": 2, "cursor": token}, headers=alice
    )
    assert other_filters.status_code == 422
    assert other_filters.json()["data"][0]["loc"] == ["query", "cursor"]
    reversed_range = await env.client.get(
        "/task-logs", params={"date_from": "2025-02-01", "date_to": "2025-01-01"}, headers=alice
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["data"][0]["loc"] == ["query", "date_from"]
    in_range = await env.client.get(
        "/task-logs",
        params={
            "date_from": a_day_without_time(5).isoformat(),
            "date_to": a_day_without_time(4).isoformat(),
            "source": "local",
        },
        headers=alice,
    )
    assert in_range.json()["data"]["total"] == 2


async def test_concurrent_logs_of_one_day_stay_within_24_hours(env: SyncEnv) -> None:
    alice, _ = await ready(env)
    task = await task_of(env, "alice")
    day = a_day_without_time(8).isoformat()

    answers = await asyncio.gather(
        *(
            env.client.post(
                f"/tasks/{task.id}/logs",
                json={"kind": "time", "date_worked": day, "hours": 13},
                headers=alice,
            )
            for _ in range(2)
        )
    )

    assert sorted(answer.status_code for answer in answers) == [201, 422]
    assert [log.hours for log in await all_logs(env, date_worked=date.fromisoformat(day))] == [13.0]
