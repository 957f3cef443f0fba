"""All or nothing (reliability E1, E2, C7, B4): a problem anywhere, a database error half-way
or a failed commit leaves every table as it was, and the next request works."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connection import upsert as upsert_engine
from app.connection.database import Database
from app.models import Project, Task, User
from tests.save.helpers import counts, example_batch, manager_headers, post, snapshot


def big_batch(tasks: int = 50) -> dict[str, Any]:
    batch = example_batch()
    batch["tasks"] = [
        {"ace_task_id": 1000 + i, "ace_project_id": 9001, "title": f"Task {i}"}
        for i in range(tasks)
    ]
    batch["assignees"] = [
        {"ace_task_id": 1000 + i, "ace_user_id": 501, "assigned_hours": 1} for i in range(tasks)
    ]
    batch["task_logs"][0]["ace_task_id"] = 1000
    return batch


async def refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str], batch: Any
) -> list[dict[str, Any]]:
    before = await snapshot(database)
    response = await post(client, headers, batch)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert await snapshot(database) == before
    problems: list[dict[str, Any]] = response.json()["data"]
    return problems


# --- E1: item k fails ---------------------------------------------------------------------


async def test_a_missing_reference_on_the_last_item_writes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))  # some rows exist already
    batch = big_batch()
    batch["assignees"][-1]["ace_user_id"] = 999
    problems = await refused(client, database, headers, batch)
    assert problems == [
        {
            "entity": "assignees",
            "index": 49,
            "field": "ace_user_id",
            "message": "no user with ace_user_id 999 in this batch or in your account",
        }
    ]


async def test_an_invalid_last_item_writes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    batch = big_batch()
    batch["task_logs"].append(dict(batch["task_logs"][0], client_id="c-2", hours=-1))
    problems = await refused(client, database, headers, batch)
    assert [(p["entity"], p["index"], p["field"]) for p in problems] == [("task_logs", 1, "hours")]


class DeadlockDetected(Exception):
    sqlstate = "40P01"


class InjectedFailure:
    """Makes the `nth` upsert statement of a request fail after it has really run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception, nth: int = 2) -> None:
        self.calls = 0
        original = upsert_engine._execute

        async def failing(session: AsyncSession, *args: Any, **kwargs: Any) -> Any:
            result = await original(session, *args, **kwargs)
            self.calls += 1
            if self.calls == nth:
                raise error
            return result

        monkeypatch.setattr(upsert_engine, "_execute", failing)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            sa_exc.OperationalError("INSERT", {}, ConnectionResetError("lost")),
            503,
            "DB_UNAVAILABLE",
        ),
        (sa_exc.ProgrammingError("INSERT", {}, Exception("boom")), 500, "INTERNAL_ERROR"),
        (RuntimeError("bug"), 500, "INTERNAL_ERROR"),
        # A PostgreSQL deadlock or serialization failure: the batch may simply be resent.
        (sa_exc.DBAPIError("INSERT", {}, DeadlockDetected("deadlock")), 409, "CONFLICT"),
    ],
)
async def test_a_database_error_mid_write_persists_nothing(
    client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    code: str,
) -> None:
    headers = await manager_headers(client, database)
    before = await snapshot(database)
    injected = InjectedFailure(monkeypatch, error)
    response = await post(client, headers, big_batch())
    assert injected.calls == 2  # users and projects were written, then the failure
    assert response.status_code == status
    body = response.json()
    assert body["error_code"] == code
    assert "boom" not in body["message"]
    assert "bug" not in body["message"]
    assert await snapshot(database) == before
    monkeypatch.undo()
    result = counts(await post(client, headers, big_batch()))
    assert result["tasks"] == {"inserted": 50, "updated": 0, "unchanged": 0}


async def test_a_failed_commit_never_answers_2xx(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E2: the commit runs before the response is sent; when it fails the client hears so."""
    headers = await manager_headers(client, database)
    before = await snapshot(database)

    async def failing_commit(self: AsyncSession) -> None:
        raise ConnectionResetError("connection lost during commit")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = await post(client, headers, example_batch())
    monkeypatch.undo()
    assert response.status_code == 503
    assert response.json()["error_code"] == "DB_UNAVAILABLE"
    assert await snapshot(database) == before
    assert counts(await post(client, headers, example_batch()))["tasks"]["inserted"] == 1


# --- C7: duplicates and missing references ------------------------------------------------


async def test_duplicate_keys_name_the_repeating_items(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    batch = example_batch()
    batch["users"] += [{"ace_user_id": 502, "username": "dave"}, dict(batch["users"][0])]
    batch["tasks"].append(dict(batch["tasks"][0], title="other title"))
    batch["assignees"].append(dict(batch["assignees"][0], is_reviewer=True))
    log = batch["task_logs"][0]
    entry = {key: value for key, value in log.items() if key != "client_id"}
    batch["task_logs"] += [
        dict(log, hours=1),  # client_id c-1 again
        dict(entry, ace_timesheet_line_id=7),
        dict(entry, ace_timesheet_line_id=7, date_worked="2026-11-21"),  # another day: fine
        dict(entry, ace_timesheet_line_id=7, hours=4),  # line 7 on 2026-11-20 again
    ]
    problems = await refused(client, database, headers, batch)
    assert sorted((p["entity"], p["index"], p["field"]) for p in problems) == [
        ("assignees", 1, "ace_task_id,ace_user_id"),
        ("task_logs", 1, "client_id"),
        ("task_logs", 4, "ace_timesheet_line_id,date_worked"),
        ("tasks", 1, "ace_task_id"),
        ("users", 2, "ace_user_id"),
    ]
    messages = {(p["entity"], p["index"]): p["message"] for p in problems}
    assert "users[0]" in messages[("users", 2)]
    assert "task_logs[2]" in messages[("task_logs", 4)]


async def test_every_missing_reference_is_named(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    batch = example_batch()
    batch["tasks"].append({"ace_task_id": 2, "ace_project_id": 77, "title": "orphan"})
    batch["assignees"].append({"ace_task_id": 3, "ace_user_id": 8})
    batch["task_logs"].append(dict(batch["task_logs"][0], client_id="c-2", ace_user_id=8))
    problems = await refused(client, database, headers, batch)
    assert [(p["entity"], p["index"], p["field"]) for p in problems] == [
        ("tasks", 1, "ace_project_id"),
        ("assignees", 1, "ace_task_id"),
        ("assignees", 1, "ace_user_id"),
        ("task_logs", 1, "ace_user_id"),
    ]


# --- B4: another account's rows --------------------------------------------------------------


async def test_another_accounts_rows_cannot_be_referenced_or_touched(
    client: httpx.AsyncClient, database: Database
) -> None:
    globex = await manager_headers(client, database, username="g-boss", account_id="globex")
    acme = await manager_headers(client, database, username="a-boss")
    counts(await post(client, globex, example_batch()))
    before = await snapshot(database)
    # The same ACE ids, but they exist only in globex: nothing to point at in acme.
    foreign: list[dict[str, Any]] = [
        {"tasks": example_batch()["tasks"]},
        {"assignees": example_batch()["assignees"]},
        {"task_logs": example_batch()["task_logs"]},
        {
            "users": [{"ace_user_id": 777, "username": "x"}],
            "assignees": [{"ace_task_id": 70001, "ace_user_id": 777}],
        },
    ]
    for batch in foreign:
        problems = await refused(client, database, acme, batch)
        assert all("in this batch or in your account" in p["message"] for p in problems)
    assert await snapshot(database) == before

    # acme may have its own rows with those ACE ids; globex's stay as they were.
    batch = example_batch()
    batch["tasks"][0]["title"] = "acme's own landing page"
    assert counts(await post(client, acme, batch))["tasks"]["inserted"] == 1
    async with database.session() as session:
        rows = (await session.execute(select(Task.account_id, Task.title))).all()
        titles = {row.account_id: row.title for row in rows}
        accounts = sorted((await session.scalars(select(Project.account_id))).all())
        carols = sorted(
            (await session.scalars(select(User.account_id).where(User.ace_user_id == 501))).all()
        )
    assert titles == {"globex": "Landing page", "acme": "acme's own landing page"}
    assert accounts == ["acme", "globex"]
    assert carols == ["acme", "globex"]
