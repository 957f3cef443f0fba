"""`GET /projects` and `GET /projects/{project_id}`: visibility, tenancy, task counts, search
and pages (reliability B3, C8, C9). Rows are put in through the models, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.connection.database import Database
from app.dto.project_dto import ProjectPage, ProjectRead
from app.dto.response import SuccessResponse
from app.models import Project, RoleEnum, StatusType, SyncState
from tests.factories import SignedIn, create_user, local_user_signed_in
from tests.tasks.seeding import add_project, add_sync_job, add_task


async def _names(client: httpx.AsyncClient, who: SignedIn, **params: Any) -> list[str]:
    response = await client.get("/projects", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["data"]["items"]]


async def _add_projects(database: Database, names: list[str], **values: Any) -> list[Project]:
    return [await add_project(database, name=name, **values) for name in names]


async def test_the_list_says_how_fresh_the_mirror_is(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await local_user_signed_in(client, database, username="alice")
    await add_sync_job(database, "acme", SyncState.succeeded, datetime(2026, 11, 27, 6, tzinfo=UTC))
    await add_sync_job(database, "acme", SyncState.failed, datetime(2026, 11, 27, 7, tzinfo=UTC))
    await add_sync_job(
        database, "globex", SyncState.succeeded, datetime(2026, 11, 27, 8, tzinfo=UTC)
    )

    response = await client.get("/projects", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["synced_through"] == "2026-11-27T06:00:00Z"


async def test_managers_see_every_project_of_their_account_with_task_counts(
    client: httpx.AsyncClient, database: Database
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    alice = await create_user(database, username="alice")
    web = await add_project(database, name="Web", ace_project_id=9001, status="Active")
    await add_project(database, name="Idle")
    await add_project(database, name="Gone", deleted_at=datetime.now(UTC))
    await add_project(database, name="Theirs", account_id="globex")
    for status_type in [
        StatusType.waiting,
        StatusType.waiting,
        StatusType.in_progress,
        StatusType.completed,
        None,
    ]:
        await add_task(database, web, status_type=status_type, assignees=[alice.id])
    await add_task(
        database,
        web,
        status_type=StatusType.completed,
        deleted_at=datetime.now(UTC),
        assignees=[alice.id],
    )

    response = await client.get("/projects", headers=boss.headers)

    assert response.status_code == 200
    body = response.json()
    page = SuccessResponse[ProjectPage].model_validate(body).data
    assert [project.name for project in page.items] == ["Idle", "Web"]
    assert (page.total, page.limit, page.offset, page.next_cursor) == (2, 50, 0, None)
    item = body["data"]["items"][1]
    assert set(item) == set(ProjectRead.model_fields)
    assert (item["id"], item["ace_project_id"], item["status"]) == (web.id, 9001, "Active")
    assert item["task_counts"] == {"waiting": 2, "in_progress": 1, "completed": 1, "total": 5}
    assert body["data"]["items"][0]["task_counts"] == {
        "waiting": 0,
        "in_progress": 0,
        "completed": 0,
        "total": 0,
    }

    single = await client.get(f"/projects/{web.id}", headers=boss.headers)
    assert single.status_code == 200
    assert single.json()["data"] == item


async def test_a_member_sees_only_projects_with_tasks_assigned_to_them(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await local_user_signed_in(client, database, username="alice")
    bob = await create_user(database, username="bob")
    mine, reviewed, others, dropped, empty = await _add_projects(
        database, ["Mine", "Reviewed", "Others", "Dropped", "Empty"]
    )
    await add_task(database, mine, assignees=[alice.user_id])
    await add_task(database, mine, assignees=[bob.id])
    await add_task(database, reviewed, reviewers=[alice.user_id], assignees=[bob.id])
    await add_task(database, others, assignees=[bob.id])
    await add_task(database, dropped, assignees=[alice.user_id], deleted_at=datetime.now(UTC))

    assert await _names(client, alice) == ["Mine", "Reviewed"]
    # Counts cover the whole project, not only the member's own tasks.
    response = await client.get(f"/projects/{mine.id}", headers=alice.headers)
    assert response.json()["data"]["task_counts"]["total"] == 2
    for hidden in (others, dropped, empty):
        not_visible = await client.get(f"/projects/{hidden.id}", headers=alice.headers)
        missing = await client.get("/projects/999999", headers=alice.headers)
        assert not_visible.status_code == missing.status_code == 404
        assert not_visible.json() == missing.json()


@pytest.mark.parametrize("role", [RoleEnum.member, RoleEnum.manager, RoleEnum.admin])
async def test_another_accounts_projects_are_404_whatever_the_id(
    client: httpx.AsyncClient, database: Database, role: RoleEnum
) -> None:
    """B3: sequential ids of the other account never answer, whatever the caller's role."""
    caller = await local_user_signed_in(client, database, username="me", role=role)
    carol = await create_user(database, username="carol", account_id="globex")
    theirs = await _add_projects(database, ["Secret A", "Secret B"], account_id="globex")
    ours = await add_project(database, name="Ours")
    for project in theirs:
        await add_task(database, project, assignees=[carol.id, caller.user_id])
    await add_task(database, ours, assignees=[caller.user_id])

    for project_id in range(1, ours.id + 5):
        response = await client.get(f"/projects/{project_id}", headers=caller.headers)
        assert response.status_code == (200 if project_id == ours.id else 404)
        assert "Secret" not in response.text
    listing = await client.get("/projects", headers=caller.headers, params={"limit": 500})
    assert [item["name"] for item in listing.json()["data"]["items"]] == ["Ours"]
    assert "Secret" not in listing.text


async def test_a_deleted_project_is_404(client: httpx.AsyncClient, database: Database) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    gone = await add_project(database, name="Gone", deleted_at=datetime.now(UTC))
    response = await client.get(f"/projects/{gone.id}", headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("%", ["100% Done"]),
        ("_", ["a_b"]),
        ("'", ["O'Brien"]),
        ("; --", ["x; --"]),
        ("web", ["Web shop"]),
    ],
)
async def test_name_search_is_literal_and_case_insensitive(
    client: httpx.AsyncClient, database: Database, needle: str, expected: list[str]
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    await _add_projects(database, ["100% Done", "1000 Done", "a_b", "axb", "O'Brien", "x; --"])
    await add_project(database, name="Web shop")

    assert await _names(client, admin, q=needle) == expected


async def test_status_filter_sorts_and_cursor_walk(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    for index, name in enumerate(["delta", "alpha", "echo", "charlie", "bravo"]):
        await add_project(
            database,
            name=name,
            status="Active" if index % 2 == 0 else "Closed",
            ace_modified_at=None if name == "echo" else datetime(2026, 11, index + 1, tzinfo=UTC),
        )

    assert await _names(client, admin, status="Closed") == ["alpha", "charlie"]
    assert await _names(client, admin, sort="-name") == [
        "echo",
        "delta",
        "charlie",
        "bravo",
        "alpha",
    ]
    assert await _names(client, admin, sort="updated") == [
        "delta",
        "alpha",
        "charlie",
        "bravo",
        "echo",
    ]
    assert await _names(client, admin, sort="-id") == ["bravo", "charlie", "echo", "alpha", "delta"]

    for sort in ("name", "-name", "updated", "-updated", "id", "-id"):
        expected = await _names(client, admin, sort=sort)
        walked: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            response = await client.get("/projects", headers=admin.headers, params=params)
            data = response.json()["data"]
            assert data["total"] == 5
            walked += [item["name"] for item in data["items"]]
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert walked == expected, sort

    page = await client.get("/projects", headers=admin.headers, params={"offset": 4, "limit": 2})
    assert [item["name"] for item in page.json()["data"]["items"]] == ["echo"]
    assert page.json()["data"]["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "501"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "secret"}, "sort"),
        ({"q": "x" * 201}, "q"),
        ({"cursor": "forged.cursor"}, "cursor"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, database: Database, params: dict[str, str], field: str
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    response = await client.get("/projects", headers=admin.headers, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert any(problem["loc"][:2] == ["query", field] for problem in body["data"])


@pytest.mark.parametrize("project_id", ["0", "abc", str(2**63)])
async def test_bad_project_ids_are_422(
    client: httpx.AsyncClient, database: Database, project_id: str
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    response = await client.get(f"/projects/{project_id}", headers=admin.headers)
    assert response.status_code == 422


async def test_a_projects_cursor_is_bound_to_its_caller_and_query(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    other = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    await _add_projects(database, ["a", "b", "c"])
    first = await client.get("/projects", headers=admin.headers, params={"limit": 1})
    cursor = first.json()["data"]["next_cursor"]

    for who, params in ((admin, {"sort": "-name"}), (admin, {"q": "a"}), (other, {})):
        response = await client.get(
            "/projects", headers=who.headers, params={"limit": 1, "cursor": cursor, **params}
        )
        assert response.status_code == 422, params
