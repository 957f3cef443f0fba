"""The admin routes refuse ids and offsets no row can have with 422, before the database."""

from __future__ import annotations

import httpx
import pytest

from app.connection.database import Database
from app.models import RoleEnum
from tests.factories import local_user_signed_in


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/admin/users/{}/role"),
        ("POST", "/admin/users/{}/deactivate"),
        ("POST", "/admin/users/{}/reactivate"),
    ],
)
@pytest.mark.parametrize("user_id", [str(2**63), "0", "-1"])
async def test_an_impossible_user_id_is_422_not_500(
    client: httpx.AsyncClient, database: Database, method: str, path: str, user_id: str
) -> None:
    """Found by the schema fuzz: an id past 2^63 - 1 reached SQLite, which cannot bind it
    (OverflowError, a 500)."""
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    response = await client.request(
        method, path.format(user_id), headers=admin.headers, json={"role": "manager"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert ["path", "user_id"] in [problem["loc"] for problem in response.json()["data"]]


async def test_an_offset_past_the_cap_is_422(client: httpx.AsyncClient, database: Database) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    response = await client.get("/admin/users", headers=admin.headers, params={"offset": 2**63})
    assert response.status_code == 422, response.text
    assert response.json()["data"][0]["loc"] == ["query", "offset"]
