"""Concurrent batches on the same rows (reliability F2): every batch succeeds, nothing is lost
or mixed, each row ends equal to one whole batch's version, and the rows a batch touched
all end from the same batch."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from app.connection.database import Database
from app.models import Task, TaskAssignee, TaskLog, User
from tests.save.helpers import counts, example_batch, manager_headers, post

WRITERS = 10


def version(number: int) -> dict[str, Any]:
    """Batch `number`: every row it touches carries the number somewhere."""
    batch = example_batch()
    batch["users"][0]["first_name"] = f"Carol v{number}"
    batch["tasks"][0].update(title=f"Landing page v{number}", estimated_hours=float(number))
    batch["assignees"][0]["assigned_hours"] = float(number)
    batch["task_logs"][0].update(comment=f"v{number}", hours=float(number))
    return batch


async def final_versions(database: Database) -> dict[str, Any]:
    async with database.session() as session:
        task = (await session.scalars(select(Task))).one()
        assignee = (await session.scalars(select(TaskAssignee))).one()
        log = (await session.scalars(select(TaskLog))).one()
        carol = (await session.scalars(select(User).where(User.ace_user_id == 501))).one()
    return {
        "title": task.title,
        "estimated_hours": task.estimated_hours,
        "assigned_hours": assignee.assigned_hours,
        "comment": log.comment,
        "hours": log.hours,
        "first_name": carol.first_name,
    }


def expected(number: int) -> dict[str, Any]:
    return {
        "title": f"Landing page v{number}",
        "estimated_hours": float(number),
        "assigned_hours": float(number),
        "comment": f"v{number}",
        "hours": float(number),
        "first_name": f"Carol v{number}",
    }


async def test_concurrent_updates_end_as_one_whole_batch(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, version(0)))
    responses = await asyncio.gather(
        *(post(client, headers, version(n)) for n in range(1, WRITERS + 1))
    )
    results = [counts(response) for response in responses]  # every one succeeded
    assert all(result["tasks"]["inserted"] == 0 for result in results)
    state = await final_versions(database)
    winners = [n for n in range(1, WRITERS + 1) if state == expected(n)]
    assert len(winners) == 1, state


async def test_concurrent_first_inserts_make_one_row_per_key(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    responses = await asyncio.gather(
        *(post(client, headers, version(n)) for n in range(1, WRITERS + 1))
    )
    results = [counts(response) for response in responses]
    for entity in ("users", "projects", "tasks", "assignees", "task_logs"):
        assert sum(result[entity]["inserted"] for result in results) == 1, entity
    async with database.session() as session:
        for model in (Task, TaskAssignee, TaskLog):
            assert await session.scalar(select(func.count()).select_from(model)) == 1
    state = await final_versions(database)
    assert sum(state == expected(n) for n in range(1, WRITERS + 1)) == 1, state


async def test_batches_listing_the_same_rows_in_opposite_orders_do_not_deadlock(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Rows are written in key order whatever the payload order, so two batches never wait
    on each other's locks in a cycle (PostgreSQL would abort one with a deadlock)."""
    headers = await manager_headers(client, database)
    ids = list(range(1, 41))

    def batch(number: int) -> dict[str, Any]:
        order = ids if number % 2 else list(reversed(ids))
        base = example_batch()
        return {
            "users": base["users"] + [{"ace_user_id": 600 + i, "username": f"u{i}"} for i in order],
            "projects": base["projects"],
            "tasks": [
                {"ace_task_id": i, "ace_project_id": 9001, "title": f"t{i} v{number}"}
                for i in order
            ],
            "assignees": [
                {"ace_task_id": i, "ace_user_id": user, "assigned_hours": float(number)}
                for i in order
                for user in (501, 600 + i)
            ],
        }

    responses = await asyncio.gather(*(post(client, headers, batch(n)) for n in range(6)))
    for response in responses:
        counts(response)
    async with database.session() as session:
        titles = set((await session.scalars(select(Task.title))).all())
        hours = set((await session.scalars(select(TaskAssignee.assigned_hours))).all())
    winners = {title.rsplit(" v", 1)[1] for title in titles}
    assert len(titles) == len(ids)
    assert len(winners) == 1
    assert hours == {float(winners.pop())}
