"""The admin routes are for admins only: a manager (who may sync and read anyone's tasks in
the account) gets 403 on every one of them, themself included, and nothing changes."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.connection.database import Database
from app.models import RefreshToken, RoleEnum, User
from tests.factories import create_user, local_user_signed_in


async def _users_state(database: Database) -> list[tuple[Any, ...]]:
    async with database.session() as db:
        rows = await db.execute(
            select(
                User.id,
                User.username,
                User.role,
                User.role_set_locally,
                User.is_active,
                User.is_disabled,
                User.updated_at,
            ).order_by(User.id)
        )
        return [tuple(row) for row in rows]


async def _live_sessions(database: Database) -> set[int]:
    async with database.session() as db:
        rows = await db.scalars(
            select(RefreshToken.user_id).where(RefreshToken.revoked_at.is_(None))
        )
        return set(rows)


async def test_a_manager_on_admin_routes_is_forbidden_and_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    manager = await local_user_signed_in(
        client, database, username="manager", role=RoleEnum.manager
    )
    member = await local_user_signed_in(client, database, username="member")
    blocked = await create_user(database, username="blocked", is_disabled=True)
    # The manager's token works, and the manager routes let them through.
    assert (await client.get("/auth/me", headers=manager.headers)).status_code == 200
    assert (
        await client.get(f"/tasks/{member.user_id}", headers=manager.headers)
    ).status_code == 200
    users_before = await _users_state(database)
    sessions_before = await _live_sessions(database)
    assert sessions_before == {manager.user_id, member.user_id}

    calls = [
        ("GET", "/admin/users", None),
        ("PATCH", f"/admin/users/{manager.user_id}/role", {"role": "admin"}),
        ("PATCH", f"/admin/users/{member.user_id}/role", {"role": "admin"}),
        ("PATCH", f"/admin/users/{member.user_id}/role", {"role": "manager"}),
        ("POST", f"/admin/users/{member.user_id}/deactivate", None),
        ("POST", f"/admin/users/{blocked.id}/reactivate", None),
    ]
    answers = {}
    for method, path, body in calls:
        response = await client.request(method, path, headers=manager.headers, json=body)
        answers[method, path, str(body)] = (response.status_code, response.json().get("error_code"))
    assert answers == dict.fromkeys(answers, (403, "FORBIDDEN"))

    assert await _users_state(database) == users_before
    assert await _live_sessions(database) == sessions_before
    me = await client.get("/auth/me", headers=manager.headers)
    assert me.json()["data"]["role"] == "manager"
    assert (await client.get("/auth/me", headers=member.headers)).status_code == 200
