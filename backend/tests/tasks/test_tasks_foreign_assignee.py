"""`GET /tasks/{user_id}`: a task of the caller's account that a corrupt row links to a user
of another account shows only its own account's assignees (every test runs on SQLite and
PostgreSQL)."""

from __future__ import annotations

import httpx

from app.connection.database import Database
from app.models import RoleEnum, TaskAssignee
from tests.factories import create_user, local_user_signed_in
from tests.tasks.seeding import add_project, add_task


async def test_an_assignee_of_another_account_never_shows_on_our_task(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await local_user_signed_in(client, database, username="alice")
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    bob = await create_user(database, username="bob", first_name="Bob")
    outsider = await create_user(
        database, username="outsider-zed", first_name="Zed", account_id="globex"
    )
    ours = await add_project(database, name="Ours")
    task = await add_task(
        database, ours, title="shared by mistake", assignees=[alice.user_id], reviewers=[bob.id]
    )
    # The foreign link, put straight into the table (no sync or route would make it).
    async with database.session() as session:
        session.add(
            TaskAssignee(
                task_id=task.id,
                user_id=outsider.id,
                is_assignee=True,
                is_reviewer=False,
                assigned_hours=9.0,
            )
        )
        await session.commit()

    for caller in (alice, boss):
        response = await client.get(f"/tasks/{alice.user_id}", headers=caller.headers)
        assert response.status_code == 200, response.text
        [item] = response.json()["data"]["items"]
        assert item["id"] == task.id
        assert [(a["user_id"], a["username"]) for a in item["assignees"]] == [
            (alice.user_id, "alice"),
            (bob.id, "bob"),
        ]
        assert outsider.id not in {a["user_id"] for a in item["assignees"]}
        assert "outsider-zed" not in response.text
