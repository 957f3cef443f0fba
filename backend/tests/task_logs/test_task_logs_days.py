"""A day in a task-log request is `YYYY-MM-DD`: never a number read as a Unix timestamp."""

from __future__ import annotations

import httpx
import pytest

from app.connection.database import Database
from tests.factories import local_user_signed_in

NOT_DAYS = ["0", "0.0", "86400", "2026-12-01T00:00:00"]


@pytest.mark.parametrize("day", NOT_DAYS)
@pytest.mark.parametrize("parameter", ["date_from", "date_to"])
async def test_a_numeric_date_filter_is_422(
    client: httpx.AsyncClient, database: Database, parameter: str, day: str
) -> None:
    """Found by the schema fuzz: `GET /task-logs?date_to=0.0` answered 200, as 1970-01-01."""
    alice = await local_user_signed_in(client, database, username="alice")
    for path in ("/task-logs", "/tasks/1/logs"):
        response = await client.get(path, headers=alice.headers, params={parameter: day})
        assert response.status_code == 422, (path, response.text)
        assert ["query", parameter] in [problem["loc"] for problem in response.json()["data"]]


@pytest.mark.parametrize("day", [*NOT_DAYS, 0])
async def test_a_numeric_date_worked_is_422(
    client: httpx.AsyncClient, database: Database, day: object
) -> None:
    alice = await local_user_signed_in(client, database, username="alice")
    created = await client.post(
        "/tasks/1/logs",
        headers=alice.headers,
        json={"kind": "time", "hours": 1, "date_worked": day},
    )
    changed = await client.patch("/task-logs/1", headers=alice.headers, json={"date_worked": day})
    for response in (created, changed):
        assert response.status_code == 422, response.text
        assert ["body", "date_worked"] in [problem["loc"] for problem in response.json()["data"]]
