"""Shared helpers of the batch-save tests: sign a manager in, post batches, snapshot tables."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.connection.database import Database
from app.models import Base, RoleEnum
from tests.factories import local_user_signed_in

SAVE = "/data/save"
ACCOUNT = "acme"


async def manager_headers(
    client: httpx.AsyncClient,
    database: Database,
    *,
    username: str = "manager",
    role: RoleEnum = RoleEnum.manager,
    account_id: str = ACCOUNT,
) -> dict[str, str]:
    signed_in = await local_user_signed_in(
        client, database, username=username, role=role, account_id=account_id
    )
    return signed_in.headers


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], batch: dict[str, Any]
) -> httpx.Response:
    return await client.post(SAVE, json=batch, headers=headers)


def counts(response: httpx.Response) -> dict[str, dict[str, int]]:
    assert response.status_code == 200, response.text
    data: dict[str, dict[str, int]] = response.json()["data"]
    return data


async def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compare two snapshots to prove nothing changed."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            result[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return result


def example_batch() -> dict[str, Any]:
    """The README's batch-save example."""
    return {
        "users": [
            {
                "ace_user_id": 501,
                "username": "carol",
                "first_name": "Carol",
                "last_name": "Ng",
                "email": "carol@example.com",
            }
        ],
        "projects": [
            {"ace_project_id": 9001, "name": "Website", "number": "P-9001", "status": "Active"}
        ],
        "tasks": [
            {
                "ace_task_id": 70001,
                "ace_project_id": 9001,
                "title": "Landing page",
                "status": "In progress",
                "status_type": "in_progress",
                "estimated_hours": 6.5,
                "expected_end": "2026-12-01",
            }
        ],
        "assignees": [
            {"ace_task_id": 70001, "ace_user_id": 501, "is_assignee": True, "assigned_hours": 6.5}
        ],
        "task_logs": [
            {
                "client_id": "c-1",
                "ace_task_id": 70001,
                "ace_user_id": 501,
                "kind": "time",
                "date_worked": "2026-11-20",
                "hours": 2.5,
                "comment": "layout",
            }
        ],
    }
