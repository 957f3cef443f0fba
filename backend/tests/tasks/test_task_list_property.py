"""Property: every page of `GET /tasks/{user_id}` (one statement per request) is what a slow,
obvious reference gives on the same rows: every filter, every sort, cursor walks and offsets,
on SQLite and PostgreSQL (Hypothesis draws the queries over a generated account). Also: a
revoked session, a demoted manager and a deactivated user are refused on the very next read."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from app.connection.database import Database
from app.models import Project, RefreshToken, RoleEnum, StatusType, Task, TaskAssignee, User
from tests.factories import SignedIn, change_user, create_user, local_user_signed_in
from tests.properties import database_examples

TODAY = datetime.now(UTC).date()
STATUSES = [("Open", None), ("Waiting", "waiting"), ("Doing", "in_progress"), ("Done", "completed")]
WORDS = ["plan", "Plan", "100%", "a_b", "x/y", "ship"]
SORTS = ["due", "title", "updated", "priority", "id"]
MEMBERS = 3


async def _seed(database: Database, seed: int) -> list[int]:
    """An account with members, a deleted user, a foreign user, a deleted project, deleted
    tasks and ties on every sort key; returns the members' ids."""
    rng = random.Random(seed)
    members = [(await create_user(database, username=f"m{n}")).id for n in range(MEMBERS)]
    gone = await create_user(database, username="gone", deleted_at=datetime.now(UTC))
    foreign = await create_user(database, username="foreign", account_id="other")
    people = [*members, gone.id, foreign.id]
    async with database.session() as session:
        projects = [
            Project(account_id="acme", ace_project_id=n, name=f"P{n}", synced_at=datetime.now(UTC))
            for n in range(3)
        ]
        projects[2].deleted_at = datetime.now(UTC)
        session.add_all(projects)
        await session.flush()
        for number in range(70):
            status, status_type = rng.choice(STATUSES)
            modified = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 5))
            task = Task(
                account_id="acme",
                ace_task_id=number + 1,
                project_id=rng.choice(projects).id,
                title=f"{rng.choice(WORDS)} {rng.choice(WORDS)}",
                status=status,
                status_type=status_type,
                priority=rng.choice([None, "1 - High", "2 - Normal"]),
                expected_end=None
                if rng.random() < 0.2
                else TODAY + timedelta(days=rng.randint(-4, 4)),
                ace_modified_at=None if rng.random() < 0.2 else modified,
                estimated_hours=rng.choice([None, 1.0, 2.5]),
                deleted_at=datetime.now(UTC) if rng.random() < 0.1 else None,
                synced_at=datetime.now(UTC),
            )
            session.add(task)
            await session.flush()
            for person in rng.sample(people, rng.randint(0, 3)):
                reviewer = rng.random() < 0.3
                session.add(
                    TaskAssignee(
                        task_id=task.id,
                        user_id=person,
                        is_assignee=not reviewer,
                        is_reviewer=reviewer,
                        assigned_hours=rng.choice([None, 0.5, 4.0]),
                    )
                )
        await session.commit()
    return members


async def _reference_rows(database: Database) -> list[dict[str, Any]]:
    """Every task of the account not deleted, in a project not deleted, with its visible
    assignees: plain selects, filtered and sorted below in Python."""
    async with database.session() as session:
        users = {
            user.id: user
            for user in (await session.scalars(select(User))).all()
            if user.account_id == "acme" and user.deleted_at is None
        }
        projects = {p.id: p for p in (await session.scalars(select(Project))).all()}
        links = (await session.scalars(select(TaskAssignee))).all()
        tasks = (await session.scalars(select(Task))).all()
    rows = []
    for task in tasks:
        project = projects[task.project_id]
        if task.deleted_at is not None or project.deleted_at is not None:
            continue
        assignees = sorted(
            (
                {
                    "user_id": link.user_id,
                    "username": users[link.user_id].username,
                    "is_assignee": link.is_assignee,
                    "is_reviewer": link.is_reviewer,
                    "assigned_hours": link.assigned_hours,
                }
                for link in links
                if link.task_id == task.id and link.user_id in users
            ),
            key=lambda a: (a["username"], a["user_id"]),
        )
        modified = task.ace_modified_at
        rows.append(
            {
                "id": task.id,
                "title": task.title,
                "status": task.status,
                "status_type": task.status_type,
                "priority": task.priority,
                "project_id": task.project_id,
                "project_name": project.name,
                "expected_end": task.expected_end,
                "ace_modified_at": None
                if modified is None
                else modified.replace(tzinfo=UTC)
                if modified.tzinfo is None
                else modified,
                "estimated_hours": task.estimated_hours,
                "linked": {link.user_id for link in links if link.task_id == task.id},
                "assignees": assignees,
            }
        )
    return rows


def _matches(row: dict[str, Any], user_id: int, query: dict[str, Any]) -> bool:
    end: date | None = row["expected_end"]
    completed = row["status_type"] == StatusType.completed
    checks = [
        user_id in row["linked"],
        query.get("status") in (None, row["status"]),
        not query.get("status_type") or row["status_type"] in query["status_type"],
        query.get("project_id") in (None, row["project_id"]),
        "due_after" not in query or (end is not None and end >= query["due_after"]),
        "due_before" not in query or (end is not None and end <= query["due_before"]),
        "q" not in query or query["q"].lower() in row["title"].lower(),
    ]
    if query.get("overdue") is True:
        checks.append(end is not None and end < TODAY and not completed)
    elif query.get("overdue") is False:
        checks.append(end is None or end >= TODAY or completed)
    return all(checks)


SORT_COLUMN = {"due": "expected_end", "title": "title", "updated": "ace_modified_at"}
SORT_COLUMN |= {"priority": "priority", "id": "id"}


def _ordered(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Sorted by the column (nulls last either way), ties by id ascending; `id` alone."""
    descending, name = sort.startswith("-"), sort.removeprefix("-")
    if name == "id":
        return sorted(rows, key=lambda r: r["id"], reverse=descending)
    column = SORT_COLUMN[name]
    by_id = sorted(rows, key=lambda r: r["id"])
    valued = sorted(
        (r for r in by_id if r[column] is not None), key=lambda r: r[column], reverse=descending
    )
    return valued + [r for r in by_id if r[column] is None]


def _queries(projects: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    days = st.integers(-5, 5).map(lambda n: TODAY + timedelta(days=n))
    return st.fixed_dictionaries(
        {
            "sort": st.sampled_from([*SORTS, *(f"-{s}" for s in SORTS)]),
            "limit": st.integers(1, 9),
        },
        optional={
            "status": st.sampled_from([s for s, _ in STATUSES]),
            "status_type": st.lists(
                st.sampled_from(list(StatusType)), min_size=1, max_size=2, unique=True
            ),
            "project_id": st.sampled_from(projects),
            "due_after": days,
            "due_before": days,
            "overdue": st.booleans(),
            "q": st.sampled_from(["plan", "PLAN", "%", "_", "/", "a_b", "0%"]),
        },
    ).filter(_due_range_valid)


def _due_range_valid(query: dict[str, Any]) -> bool:
    """A range that ends before it starts is a 422 (tested elsewhere), not a page."""
    start: date = query.get("due_after", TODAY)
    end: date = query.get("due_before", TODAY + timedelta(days=9))
    return start <= end


def _params(query: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [str(v) for v in value]
        if isinstance(value, list)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
        for key, value in query.items()
    }


def _as_compared(item: dict[str, Any]) -> dict[str, Any]:
    modified = item["ace_modified_at"]
    return {
        "id": item["id"],
        "title": item["title"],
        "status": item["status"],
        "status_type": item["status_type"],
        "priority": item["priority"],
        "project_id": item["project_id"],
        "project_name": item["project_name"],
        "expected_end": item["expected_end"],
        "ace_modified_at": modified,
        "estimated_hours": item["estimated_hours"],
        "assignees": item["assignees"],
    }


def _parsed(item: dict[str, Any]) -> dict[str, Any]:
    end, modified = item["expected_end"], item["ace_modified_at"]
    return _as_compared(
        {
            **item,
            "expected_end": None if end is None else date.fromisoformat(end),
            "ace_modified_at": None if modified is None else datetime.fromisoformat(modified),
        }
    )


@database_examples(40)
@given(data=st.data())
async def test_every_page_is_the_reference_pages(
    client: httpx.AsyncClient, database: Database, data: st.DataObject
) -> None:
    if not hasattr(client, "_property_state"):
        members = await _seed(database, seed=15)
        boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
        rows = await _reference_rows(database)
        projects = sorted({row["project_id"] for row in rows})
        client._property_state = (members, boss, rows, projects)  # type: ignore[attr-defined]
    members, boss, rows, projects = client._property_state  # type: ignore[attr-defined]
    user_id = data.draw(st.sampled_from(members), label="user")
    query = data.draw(_queries(projects), label="query")
    expected = [
        _as_compared(r)
        for r in _ordered([r for r in rows if _matches(r, user_id, query)], query["sort"])
    ]
    params, limit = _params(query), query["limit"]

    # The cursor walk gives every matching task once, in order, with the total on each page.
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(len(expected) // limit + 2):
        page_params = params if cursor is None else {**params, "cursor": cursor}
        response = await client.get(f"/tasks/{user_id}", headers=boss.headers, params=page_params)
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        assert page["total"] == len(expected)
        assert len(page["items"]) <= limit
        seen += [_parsed(item) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected

    # An offset page is the same slice; past the end it is empty and still counts the total.
    offset = data.draw(st.integers(0, len(expected) + 2), label="offset")
    response = await client.get(
        f"/tasks/{user_id}", headers=boss.headers, params={**params, "offset": str(offset)}
    )
    page = response.json()["data"]
    assert [_parsed(item) for item in page["items"]] == expected[offset : offset + limit]
    assert page["total"] == len(expected)
    assert (page["next_cursor"] is None) == (offset + limit >= len(expected))


async def _read(client: httpx.AsyncClient, who: SignedIn, user_id: int) -> httpx.Response:
    return await client.get(f"/tasks/{user_id}", headers=who.headers)


async def test_a_revoked_session_is_refused_on_the_next_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await local_user_signed_in(client, database, username="alice")
    assert (await _read(client, alice, alice.user_id)).status_code == 200
    async with database.session() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == alice.user_id)
            .values(revoked_at=datetime.now(UTC))
        )
        await session.commit()
    refused = await _read(client, alice, alice.user_id)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "TOKEN_REVOKED"


async def test_a_demoted_manager_sees_only_their_own_tasks_on_the_next_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    worker = await create_user(database, username="worker")
    assert (await _read(client, boss, worker.id)).status_code == 200
    await change_user(database, boss.user_id, role=RoleEnum.member)
    refused = await _read(client, boss, worker.id)
    assert refused.status_code == 404
    assert refused.json()["error_code"] == "NOT_FOUND"
    assert (await _read(client, boss, boss.user_id)).status_code == 200


async def test_a_deactivated_disabled_or_deleted_user_is_refused_on_the_next_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    changes: list[tuple[str, dict[str, Any], str]] = [
        ("inactive", {"is_active": False}, "TOKEN_REVOKED"),
        ("disabled", {"is_disabled": True}, "TOKEN_REVOKED"),
    ]
    for username, values, code in changes:
        who = await local_user_signed_in(client, database, username=username)
        assert (await _read(client, who, who.user_id)).status_code == 200
        await change_user(database, who.user_id, **values)
        refused = await _read(client, who, who.user_id)
        assert refused.status_code == 401, username
        assert refused.json()["error_code"] == code
    gone = await local_user_signed_in(client, database, username="gone")
    async with database.session() as session:
        await session.execute(delete(User).where(User.id == gone.user_id))
        await session.commit()
    refused = await _read(client, gone, gone.user_id)
    assert refused.status_code == 401
    assert refused.json()["error_code"] in {"TOKEN_INVALID", "TOKEN_REVOKED"}
