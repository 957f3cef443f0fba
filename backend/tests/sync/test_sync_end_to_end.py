"""From ACE to the read API: an account is synced, then one of its people signs in with ACE
and reads their tasks; nobody of another account can."""

from __future__ import annotations

from sqlalchemy import select

from app.models import User
from tests.sync.conftest import SyncEnv


async def test_a_mirrored_user_signs_in_and_reads_exactly_their_ace_tasks(env: SyncEnv) -> None:
    job = await env.run_sync(await env.sign_in("admin"))
    assert job["state"] == "succeeded", job["errors"]
    upstream = env.sandbox.store["demo"]
    bob_ace = upstream.find_login("bob")
    assert bob_ace is not None
    async with env.database.session() as session:
        mirrored = await session.scalar(
            select(User).where(User.account_id == "demo", User.ace_user_id == bob_ace.user_id)
        )
    assert mirrored is not None
    assert mirrored.is_active is False  # a placeholder until Bob signs in

    signed_in = await env.client.post(
        "/user/login",
        json={"account_id": "demo", "username": "bob", "password": "demo-password"},
    )

    assert signed_in.status_code == 200, signed_in.text
    data = signed_in.json()["data"]
    assert data["user_id"] == mirrored.id
    bob = {"Authorization": f"Bearer {data['access_token']}"}
    async with env.database.session() as session:
        rows = list(await session.scalars(select(User).where(User.ace_user_id == bob_ace.user_id)))
    assert [(u.id, u.is_active) for u in rows] == [(mirrored.id, True)]

    response = await env.client.get(f"/tasks/{mirrored.id}", headers=bob, params={"limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()["data"]
    expected = {
        task_id
        for task_id, assignments in upstream.assignments.items()
        if bob_ace.user_id in assignments
        and not upstream.projects[upstream.tasks[task_id].project_id].deleted
    }
    assert expected
    assert {item["ace_task_id"] for item in page["items"]} == expected
    assert page["total"] == len(expected) == len(page["items"])

    carol = await env.sign_in("carol", "acme")
    foreign = await env.client.get(f"/tasks/{mirrored.id}", headers=carol)
    assert foreign.status_code == 404
    assert foreign.json()["error_code"] == "NOT_FOUND"
