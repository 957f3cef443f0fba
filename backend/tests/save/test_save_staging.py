"""Large batches on PostgreSQL go through COPY into staging tables: the same rows and the same
counts as the statement path, all or nothing, and staging tables that end with their
transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from app.connection.database import Database
from app.models import Task, TaskAssignee, TaskLog, User
from app.services.save import write
from tests.save.helpers import counts, example_batch, manager_headers, post, snapshot
from tests.save.test_save_atomicity import InjectedFailure, big_batch


def changed(batch: dict[str, Any]) -> dict[str, Any]:
    """`batch` with every task, assignee and log changed."""
    batch["tasks"] = [dict(task, title=task["title"] + " v2") for task in batch["tasks"]]
    batch["assignees"] = [dict(item, assigned_hours=2) for item in batch["assignees"]]
    batch["task_logs"] = [dict(log, comment="v2") for log in batch["task_logs"]]
    return batch


async def saved_rows(database: Database, account_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """The account's rows by ACE keys, without internal ids and server timestamps."""
    tasks = select(Task.ace_task_id, Task.title, Task.status_type, Task.estimated_hours)
    assignees = (
        select(Task.ace_task_id, User.ace_user_id, TaskAssignee.assigned_hours)
        .join(Task, Task.id == TaskAssignee.task_id)
        .join(User, User.id == TaskAssignee.user_id)
    )
    logs = select(TaskLog.client_id, TaskLog.hours, TaskLog.comment, TaskLog.source)
    async with database.engine.connect() as conn:
        return {
            "tasks": sorted((await conn.execute(tasks.where(Task.account_id == account_id))).all()),
            "assignees": sorted(
                (await conn.execute(assignees.where(Task.account_id == account_id))).all()
            ),
            "logs": sorted(
                (await conn.execute(logs.where(TaskLog.account_id == account_id))).all()
            ),
            "users": sorted(
                (
                    await conn.execute(
                        select(User.ace_user_id, User.username).where(
                            User.account_id == account_id, User.ace_user_id.is_not(None)
                        )
                    )
                ).all()
            ),
        }


@pytest.fixture
def staged_statements() -> Iterator[list[str]]:
    """The staging tables the test's statements created, by name (on any engine: the app
    has its own)."""
    created: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2])
        if statement.startswith("CREATE TEMPORARY TABLE"):
            created.append(statement.split()[3])

    event.listen(Engine, "before_cursor_execute", record)
    yield created
    event.remove(Engine, "before_cursor_execute", record)


async def save_three_times(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> list[dict[str, dict[str, int]]]:
    """Insert, update, then the update again (unchanged)."""
    results = [counts(await post(client, headers, big_batch()))]
    results.append(counts(await post(client, headers, changed(big_batch()))))
    results.append(counts(await post(client, headers, changed(big_batch()))))
    return results


async def test_the_copy_path_gives_the_rows_and_counts_of_the_statement_path(
    client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    staged_statements: list[str],
) -> None:
    by_statements = await save_three_times(client, await manager_headers(client, database))
    assert staged_statements == []
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    other = await manager_headers(client, database, username="other", account_id="other")
    by_copy = await save_three_times(client, other)
    assert by_copy == by_statements
    assert by_copy[1]["tasks"] == {"inserted": 0, "updated": 50, "unchanged": 0}
    assert by_copy[2]["assignees"] == {"inserted": 0, "updated": 0, "unchanged": 50}
    assert await saved_rows(database, "other") == await saved_rows(database, "acme")
    if database.dialect == "postgresql":
        expected = ["users", "projects", "tasks", "assignees", "client_id_logs"]
        assert staged_statements == [f"save_stage_{name}" for name in expected * 3]
    else:
        assert staged_statements == []  # SQLite keeps the statement path


async def test_a_failure_after_a_copy_writes_nothing(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await manager_headers(client, database)
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    before = await snapshot(database)
    injected = InjectedFailure(monkeypatch, RuntimeError("bug"), nth=4)
    response = await post(client, headers, big_batch())
    assert injected.calls == 4  # users, projects, tasks and assignees copied and written
    assert response.status_code == 500
    assert await snapshot(database) == before
    monkeypatch.undo()
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    # The staging tables went with the rolled-back transaction: the same names work again.
    result = counts(await post(client, headers, big_batch()))
    assert result["assignees"] == {"inserted": 50, "updated": 0, "unchanged": 0}


async def test_staging_tables_end_with_their_transaction(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await manager_headers(client, database)
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    counts(await post(client, headers, example_batch()))
    if database.dialect != "postgresql":
        return
    async with database.engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM pg_class WHERE relname LIKE 'save_stage_%'")
        )
    assert left == 0
