"""What a saved batch does: counts, idempotence (E8), placeholders, roles kept, references to
stored rows, full-replacement items, revived rows, and who may call it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from app.connection.database import Database
from app.models import (
    AuthSource,
    Project,
    RoleEnum,
    Task,
    TaskAssignee,
    TaskLog,
    TaskLogSource,
    User,
)
from tests.factories import create_user
from tests.save.helpers import (
    ACCOUNT,
    counts,
    example_batch,
    manager_headers,
    post,
    snapshot,
)

ALL_INSERTED = {"inserted": 1, "updated": 0, "unchanged": 0}
ALL_UNCHANGED = {"inserted": 0, "updated": 0, "unchanged": 1}


async def test_example_batch_is_saved_with_counts(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    response = await post(client, headers, example_batch())
    body = response.json()
    assert body["success"] is True
    assert body["error"] is None
    assert counts(response) == {
        "users": ALL_INSERTED,
        "projects": ALL_INSERTED,
        "tasks": ALL_INSERTED,
        "assignees": ALL_INSERTED,
        "task_logs": ALL_INSERTED,
    }
    async with database.session() as session:
        project = await session.scalar(select(Project).where(Project.ace_project_id == 9001))
        task = await session.scalar(select(Task).where(Task.ace_task_id == 70001))
        carol = await session.scalar(select(User).where(User.ace_user_id == 501))
        assignee = await session.scalar(select(TaskAssignee))
        log = await session.scalar(select(TaskLog))
    assert project is not None
    assert task is not None
    assert carol is not None
    assert assignee is not None
    assert log is not None
    assert (project.account_id, project.name, project.number) == (ACCOUNT, "Website", "P-9001")
    assert task.project_id == project.id
    assert (task.title, task.status_type, task.estimated_hours) == (
        "Landing page",
        "in_progress",
        6.5,
    )
    assert task.expected_end == date(2026, 12, 1)
    assert (assignee.task_id, assignee.user_id) == (task.id, carol.id)
    assert (assignee.is_assignee, assignee.is_reviewer, assignee.assigned_hours) == (
        True,
        False,
        6.5,
    )
    assert (log.task_id, log.user_id, log.client_id) == (task.id, carol.id, "c-1")
    assert (log.kind, log.hours, log.source) == ("time", 2.5, TaskLogSource.local)


async def test_same_batch_twice_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    """E8: a retried batch makes no duplicates, reports every item unchanged, and leaves every
    row byte for byte as it was (not even `updated_at` moves)."""
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))
    before = await snapshot(database)
    for _ in range(2):
        again = counts(await post(client, headers, example_batch()))
        assert again == dict.fromkeys(again, ALL_UNCHANGED)
    assert await snapshot(database) == before


async def test_changed_items_are_counted_as_updated(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))
    async with database.session() as session:
        task_before = await session.scalar(select(Task))
    batch = example_batch()
    batch["tasks"][0]["title"] = "Landing page v2"
    batch["tasks"].append({"ace_task_id": 70002, "ace_project_id": 9001, "title": "Footer"})
    batch["assignees"][0]["assigned_hours"] = 3
    result = counts(await post(client, headers, batch))
    assert result["tasks"] == {"inserted": 1, "updated": 1, "unchanged": 0}
    assert result["assignees"] == {"inserted": 0, "updated": 1, "unchanged": 0}
    assert result["users"] == ALL_UNCHANGED
    assert result["projects"] == ALL_UNCHANGED
    assert result["task_logs"] == ALL_UNCHANGED
    async with database.session() as session:
        task = await session.scalar(select(Task).where(Task.ace_task_id == 70001))
    assert task is not None
    assert task_before is not None
    assert task.title == "Landing page v2"
    assert task.created_at == task_before.created_at
    assert task.updated_at > task_before.updated_at


async def test_new_users_are_inactive_ace_placeholders(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, {"users": example_batch()["users"]}))
    async with database.session() as session:
        carol = await session.scalar(select(User).where(User.ace_user_id == 501))
    assert carol is not None
    assert carol.auth_source is AuthSource.ace
    assert carol.is_active is False
    assert carol.role is RoleEnum.member
    assert carol.password_hash is None
    assert carol.account_id == ACCOUNT
    assert (carol.username, carol.email) == ("carol", "carol@example.com")


async def test_an_existing_users_role_and_sign_in_data_are_kept(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The batch updates an ACE user's profile, never their role or active flag, and leaves
    local accounts entirely alone (B5: no role change through a batch)."""
    headers = await manager_headers(client, database)
    await create_user(
        database,
        username="boss",
        ace_user_id=501,
        role=RoleEnum.admin,
        auth_source=AuthSource.ace,
        is_active=True,
    )
    local = await create_user(
        database, username="local-admin", ace_user_id=502, role=RoleEnum.admin
    )
    batch = {
        "users": [
            {"ace_user_id": 501, "username": "boss-renamed", "email": "b@example.com"},
            {"ace_user_id": 502, "username": "hijacked"},
        ]
    }
    result = counts(await post(client, headers, batch))
    assert result["users"] == {"inserted": 0, "updated": 1, "unchanged": 1}
    async with database.session() as session:
        boss = await session.scalar(select(User).where(User.ace_user_id == 501))
        kept = await session.get(User, local.id)
    assert boss is not None
    assert kept is not None
    assert (boss.username, boss.email) == ("boss-renamed", "b@example.com")
    assert (boss.role, boss.is_active, boss.auth_source) == (RoleEnum.admin, True, AuthSource.ace)
    assert (kept.username, kept.role, kept.auth_source) == ("local-admin", RoleEnum.admin, "local")
    assert kept.password_hash == local.password_hash


async def test_items_may_reference_rows_already_stored(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    batch = example_batch()
    counts(await post(client, headers, {key: batch[key] for key in ("users", "projects")}))
    counts(await post(client, headers, {"tasks": batch["tasks"]}))
    result = counts(
        await post(client, headers, {key: batch[key] for key in ("assignees", "task_logs")})
    )
    assert result["assignees"] == ALL_INSERTED
    assert result["task_logs"] == ALL_INSERTED


async def test_an_item_replaces_every_settable_field(
    client: httpx.AsyncClient, database: Database
) -> None:
    """An item is the row's whole client-settable state: an omitted field becomes null, so
    concurrent batches can never leave a row mixing two versions."""
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))
    batch = example_batch()
    batch["tasks"][0] = {"ace_task_id": 70001, "ace_project_id": 9001, "title": "Landing page"}
    batch["assignees"][0] = {"ace_task_id": 70001, "ace_user_id": 501}
    result = counts(await post(client, headers, batch))
    assert result["tasks"]["updated"] == 1
    async with database.session() as session:
        task = await session.scalar(select(Task))
        assignee = await session.scalar(select(TaskAssignee))
    assert task is not None
    assert assignee is not None
    assert (task.status, task.status_type, task.estimated_hours, task.expected_end) == (
        None,
        None,
        None,
        None,
    )
    assert (assignee.is_assignee, assignee.is_reviewer, assignee.assigned_hours) == (
        True,
        False,
        None,
    )


async def test_a_task_can_move_to_another_project(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))
    batch = {
        "projects": [{"ace_project_id": 9002, "name": "Shop"}],
        "tasks": [{"ace_task_id": 70001, "ace_project_id": 9002, "title": "Landing page"}],
    }
    counts(await post(client, headers, batch))
    async with database.session() as session:
        row = (
            await session.execute(
                select(Project.ace_project_id).join(Task, Task.project_id == Project.id)
            )
        ).one()
    assert row.ace_project_id == 9002


async def test_saving_revives_a_row_deleted_upstream_and_deleted_rows_are_not_references(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    counts(await post(client, headers, example_batch()))
    async with database.session() as session, session.begin():
        await session.execute(update(Project).values(deleted_at=datetime.now(UTC)))
    task_only = {"tasks": [{"ace_task_id": 70003, "ace_project_id": 9001, "title": "New"}]}
    refused = await post(client, headers, task_only)
    assert refused.status_code == 422
    assert refused.json()["data"][0]["field"] == "ace_project_id"
    revived = counts(await post(client, headers, {"projects": example_batch()["projects"]}))
    assert revived["projects"] == {"inserted": 0, "updated": 1, "unchanged": 0}
    async with database.session() as session:
        project = await session.scalar(select(Project))
    assert project is not None
    assert project.deleted_at is None
    assert counts(await post(client, headers, task_only))["tasks"] == ALL_INSERTED


async def test_ace_time_entries_are_keyed_by_line_and_date(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    batch = example_batch()
    entry: dict[str, Any] = {
        "ace_timesheet_line_id": 88,
        "ace_task_id": 70001,
        "ace_user_id": 501,
        "kind": "time",
        "date_worked": "2026-11-20",
        "hours": 1.5,
    }
    batch["task_logs"] = [entry, {**entry, "date_worked": "2026-11-21", "hours": 2}]
    assert counts(await post(client, headers, batch))["task_logs"]["inserted"] == 2
    batch["task_logs"][1]["hours"] = 3
    assert counts(await post(client, headers, batch))["task_logs"] == {
        "inserted": 0,
        "updated": 1,
        "unchanged": 1,
    }
    async with database.session() as session:
        logs = (await session.scalars(select(TaskLog).order_by(TaskLog.date_worked))).all()
    assert [(log.date_worked.day, log.hours, log.source) for log in logs] == [
        (20, 1.5, TaskLogSource.ace),
        (21, 3.0, TaskLogSource.ace),
    ]
    assert all(log.client_id is None for log in logs)


async def test_an_empty_batch_saves_nothing(client: httpx.AsyncClient, database: Database) -> None:
    headers = await manager_headers(client, database)
    result = counts(await post(client, headers, {}))
    assert result == {
        key: {"inserted": 0, "updated": 0, "unchanged": 0}
        for key in ("users", "projects", "tasks", "assignees", "task_logs")
    }


async def test_admins_may_save(client: httpx.AsyncClient, database: Database) -> None:
    headers = await manager_headers(client, database, username="root", role=RoleEnum.admin)
    counts(await post(client, headers, example_batch()))


async def test_members_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database, username="mia", role=RoleEnum.member)
    before = await snapshot(database)
    response = await post(client, headers, example_batch())
    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"
    assert await snapshot(database) == before


async def test_without_a_token_the_answer_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/data/save", json=example_batch())
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_MISSING"


async def test_openapi_documents_the_payload_and_statuses(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/data/save"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"users", "projects", "tasks", "assignees", "task_logs"}
    task = schema["properties"]["tasks"]["items"]
    assert task["additionalProperties"] is False
    assert {"ace_task_id", "ace_project_id", "title"} <= set(task["required"])
    assert "$ref" not in str(schema)
    assert {"401", "403", "413", "415", "422", "500", "503"} <= set(operation["responses"])


async def test_openapi_publishes_the_exact_integer_bounds_of_ace_ids(
    client: httpx.AsyncClient,
) -> None:
    """Found by the schema fuzz: FastAPI's OpenAPI models turned the body's bounds into
    floats (2^63 - 1 became 2^63, 1 became 1.0), so ids generated from the schema (`700.0`,
    2^63) were refused by the strict batch. Read over HTTP, as clients read it."""
    schema = (await client.get("/openapi.json")).json()
    body = schema["paths"]["/data/save"]["post"]["requestBody"]["content"]["application/json"]
    ids = [
        field
        for entity in body["schema"]["properties"].values()
        for name, field in entity["items"]["properties"].items()
        if name.startswith("ace_") and name.endswith("_id")
    ]
    assert len(ids) == 9
    for field in ids:
        bounds = field.get("anyOf", [field])[0]
        assert (type(bounds["maximum"]), bounds["maximum"]) == (int, 2**63 - 1), field
        assert (type(bounds["minimum"]), bounds["minimum"]) == (int, 1), field


async def test_the_largest_ace_ids_round_trip(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await manager_headers(client, database)
    largest = 2**63 - 1
    batch = {
        "users": [{"ace_user_id": largest, "username": "max"}],
        "projects": [{"ace_project_id": largest, "name": "Max"}],
        "tasks": [{"ace_task_id": largest, "ace_project_id": largest, "title": "Max"}],
        "assignees": [{"ace_task_id": largest, "ace_user_id": largest}],
        "task_logs": [
            {
                "ace_timesheet_line_id": largest,
                "ace_task_id": largest,
                "ace_user_id": largest,
                "kind": "note",
                "date_worked": "9999-12-31",
            }
        ],
    }
    assert counts(await post(client, headers, batch))["task_logs"]["inserted"] == 1
    again = counts(await post(client, headers, batch))
    assert all(result["unchanged"] == 1 for result in again.values())
    async with database.session() as session:
        task = await session.scalar(select(Task))
        log = await session.scalar(select(TaskLog))
    assert task is not None
    assert log is not None
    assert task.ace_task_id == largest
    assert (log.ace_timesheet_line_id, log.date_worked) == (largest, date(9999, 12, 31))
