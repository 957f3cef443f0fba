"""`GET /tasks/{user_id}`: visibility, tenancy, filters, sorts and pages (reliability B3, B7,
C8, C9). Rows are put in through the models; every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.connection.database import Database
from app.dto.response import SuccessResponse
from app.dto.task import TaskAssigneeRead, TaskPage, TaskRead
from app.models import Project, RoleEnum, StatusType, SyncState, Task, User
from tests.factories import SignedIn, create_user, local_user_signed_in
from tests.tasks.seeding import add_project, add_sync_job, add_task, add_tasks

TODAY = datetime.now(UTC).date()


async def _get(
    client: httpx.AsyncClient, who: SignedIn, target: int | str, /, **params: Any
) -> httpx.Response:
    return await client.get(f"/tasks/{target}", headers=who.headers, params=params)


async def _titles(
    client: httpx.AsyncClient, who: SignedIn, target: int, /, **params: Any
) -> list[str]:
    response = await _get(client, who, target, **params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["data"]["items"]]


def _assert_validation_error(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert any(problem["loc"][:2] == ["query", field] for problem in body["data"]), body


@pytest.fixture
async def alice(client: httpx.AsyncClient, database: Database) -> SignedIn:
    return await local_user_signed_in(client, database, username="alice")


# --- shape ---------------------------------------------------------------------------------


async def test_a_task_carries_its_project_assignees_ace_ids_and_freshness(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    bob = await create_user(database, username="bob", first_name="Bob")
    project = await add_project(database, name="Website", ace_project_id=9001)
    synced = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    task = await add_task(
        database,
        project,
        title="Landing page",
        ace_task_id=70001,
        status="In progress",
        status_type=StatusType.in_progress,
        priority="1 - High",
        estimated_hours=6.5,
        percent_done=40.0,
        expected_end=date(2026, 12, 1),
        synced_at=synced,
        assignees=[alice.user_id],
        reviewers=[bob.id],
    )

    response = await _get(client, alice, alice.user_id)

    assert response.status_code == 200
    body = response.json()
    page = SuccessResponse[TaskPage].model_validate(body).data
    assert set(body["data"]) == set(TaskPage.model_fields)
    assert (page.total, page.limit, page.offset, page.next_cursor) == (1, 50, 0, None)
    item = body["data"]["items"][0]
    assert set(item) == set(TaskRead.model_fields)
    assert item["id"] == task.id
    assert (item["ace_task_id"], item["ace_project_id"]) == (70001, 9001)
    assert (item["project_id"], item["project_name"]) == (project.id, "Website")
    assert item["status_type"] == "in_progress"
    assert item["expected_end"] == "2026-12-01"
    assert item["estimated_hours"] == 6.5
    assert item["synced_at"] == "2026-11-20T08:30:00Z"
    assert [set(a) == set(TaskAssigneeRead.model_fields) for a in item["assignees"]] == [True] * 2
    assert {(a["username"], a["is_assignee"], a["is_reviewer"]) for a in item["assignees"]} == {
        ("alice", True, False),
        ("bob", False, True),
    }
    assert {a["user_id"] for a in item["assignees"]} == {alice.user_id, bob.id}


async def test_a_page_says_how_fresh_the_mirror_is(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    """`synced_through` is the start of the account's latest successful sync, on full and
    empty pages alike: failed jobs and other accounts' jobs do not count."""
    project = await add_project(database)
    await add_task(database, project, assignees=[alice.user_id], status="Open")

    async def freshness(**params: Any) -> Any:
        response = await _get(client, alice, alice.user_id, **params)
        assert response.status_code == 200, response.text
        return response.json()["data"]["synced_through"]

    assert await freshness() is None  # never synced
    older = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    latest = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    await add_sync_job(database, "acme", SyncState.succeeded, older)
    await add_sync_job(database, "acme", SyncState.succeeded, latest)
    await add_sync_job(database, "acme", SyncState.failed, latest + timedelta(hours=1))
    await add_sync_job(database, "demo", SyncState.succeeded, latest + timedelta(hours=2))

    assert await freshness() == "2026-11-27T06:00:00Z"
    assert await freshness(status="No such status") == "2026-11-27T06:00:00Z"  # empty page


async def test_no_secrets_in_the_response(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    project = await add_project(database)
    await add_task(database, project, assignees=[alice.user_id])

    response = await _get(client, alice, alice.user_id)

    assert response.status_code == 200
    for secret in ("password", "argon2", "hash", "guid", "token", "email"):
        assert secret not in response.text.lower()


# --- who may see whose tasks ------------------------------------------------------------------


async def test_a_member_sees_only_their_own_tasks(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    bob = await local_user_signed_in(client, database, username="bob")
    project = await add_project(database)
    await add_task(database, project, title="alice's", assignees=[alice.user_id])
    await add_task(database, project, title="bob's", assignees=[bob.user_id])
    await add_task(database, project, title="shared", assignees=[alice.user_id, bob.user_id])

    assert sorted(await _titles(client, alice, alice.user_id)) == ["alice's", "shared"]
    assert sorted(await _titles(client, bob, bob.user_id)) == ["bob's", "shared"]


async def test_a_member_asking_for_someone_else_gets_the_same_404_as_a_missing_user(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    bob = await create_user(database, username="bob")
    project = await add_project(database)
    await add_task(database, project, title="bob's", assignees=[bob.id])

    other = await _get(client, alice, bob.id)
    missing = await _get(client, alice, 999_999)

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert other.json()["error_code"] == "NOT_FOUND"
    assert "bob" not in other.text


@pytest.mark.parametrize("role", [RoleEnum.manager, RoleEnum.admin])
async def test_managers_and_admins_see_anyone_in_their_account(
    client: httpx.AsyncClient, database: Database, alice: SignedIn, role: RoleEnum
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=role)
    # A placeholder made by a sync (inactive until the person signs in) is visible too.
    ghost = await create_user(database, username="ghost", is_active=False, password_hash=None)
    project = await add_project(database)
    await add_task(database, project, title="alice's", assignees=[alice.user_id])
    await add_task(database, project, title="ghost's", assignees=[ghost.id])

    assert await _titles(client, boss, alice.user_id) == ["alice's"]
    assert await _titles(client, boss, ghost.id) == ["ghost's"]
    assert await _titles(client, boss, boss.user_id) == []
    missing = await _get(client, boss, 999_999)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "NOT_FOUND"


async def test_the_role_is_read_per_request(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    project = await add_project(database)
    await add_task(database, project, assignees=[alice.user_id])
    assert (await _get(client, boss, alice.user_id)).status_code == 200

    async with database.session() as session:
        await session.execute(
            update(User).where(User.id == boss.user_id).values(role=RoleEnum.member)
        )
        await session.commit()

    assert (await _get(client, boss, alice.user_id)).status_code == 404


async def test_nobody_sees_another_accounts_users_or_tasks_whatever_the_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    """B3: an admin of one account walks every id; the other account's users are 404, and
    rows of the other account never show, even linked to one of the admin's users."""
    admin = await local_user_signed_in(
        client, database, username="root", role=RoleEnum.admin, account_id="acme"
    )
    carol = await create_user(database, username="carol", account_id="globex")
    dave = await create_user(database, username="dave", account_id="acme")
    theirs = await add_project(database, account_id="globex", name="Secret plan")
    ours = await add_project(database, account_id="acme", name="Ours")
    await add_task(database, theirs, title="globex task", assignees=[carol.id])
    await add_task(database, ours, title="acme task", assignees=[dave.id])
    # A corrupt link: a task of the other account assigned to a user of ours.
    await add_task(database, theirs, title="cross-linked", assignees=[dave.id])

    seen: dict[int, int] = {}
    for user_id in range(1, carol.id + dave.id + 5):
        response = await _get(client, admin, user_id)
        seen[user_id] = response.status_code
        assert "globex" not in response.text.lower()
        assert "secret plan" not in response.text.lower()
        assert "cross-linked" not in response.text
    assert seen[carol.id] == 404
    assert seen[dave.id] == seen[admin.user_id] == 200
    assert await _titles(client, admin, dave.id) == ["acme task"]


async def test_user_id_in_the_query_string_is_ignored(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    """B7: identity comes from the token and the path, never from extra parameters."""
    bob = await create_user(database, username="bob")
    project = await add_project(database)
    await add_task(database, project, title="bob's", assignees=[bob.id])
    await add_task(database, project, title="alice's", assignees=[alice.user_id])

    response = await _get(client, alice, alice.user_id, user_id=bob.id, owner=bob.id)

    assert [item["title"] for item in response.json()["data"]["items"]] == ["alice's"]


async def test_deleted_tasks_projects_and_assignees_are_hidden(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    gone = datetime.now(UTC)
    bob = await create_user(database, username="bob", deleted_at=gone)
    live = await add_project(database, name="Live")
    dead = await add_project(database, name="Dead", deleted_at=gone)
    await add_task(database, live, title="kept", assignees=[alice.user_id, bob.id])
    await add_task(database, live, title="deleted", assignees=[alice.user_id], deleted_at=gone)
    await add_task(database, dead, title="in a deleted project", assignees=[alice.user_id])

    response = await _get(client, alice, alice.user_id)

    data = response.json()["data"]
    assert [item["title"] for item in data["items"]] == ["kept"]
    assert data["total"] == 1
    assert [a["username"] for a in data["items"][0]["assignees"]] == ["alice"]


async def test_a_deleted_user_is_not_found(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.admin)
    bob = await create_user(database, username="bob", deleted_at=datetime.now(UTC))
    project = await add_project(database)
    await add_task(database, project, assignees=[bob.id])

    assert (await _get(client, boss, bob.id)).status_code == 404


# --- filters ------------------------------------------------------------------------------


async def test_status_status_type_and_project_filters(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    web = await add_project(database, name="Web")
    app = await add_project(database, name="App")
    me = [alice.user_id]
    await add_task(
        database, web, title="w1", status="New", status_type=StatusType.waiting, assignees=me
    )
    await add_task(
        database, web, title="w2", status="Doing", status_type=StatusType.in_progress, assignees=me
    )
    await add_task(
        database, app, title="a1", status="Done", status_type=StatusType.completed, assignees=me
    )
    await add_task(database, app, title="a2", status="Doing", assignees=me)

    titles = await _titles(client, alice, alice.user_id, status="Doing", sort="title")
    assert titles == ["a2", "w2"]
    assert await _titles(client, alice, alice.user_id, status="doing") == []
    assert await _titles(client, alice, alice.user_id, status_type="completed") == ["a1"]
    repeated = await client.get(
        f"/tasks/{alice.user_id}?status_type=waiting&status_type=completed&sort=title",
        headers=alice.headers,
    )
    assert [item["title"] for item in repeated.json()["data"]["items"]] == ["a1", "w1"]
    listed = await _titles(
        client, alice, alice.user_id, status_type="waiting, in_progress", sort="title"
    )
    assert listed == ["w1", "w2"]
    assert await _titles(client, alice, alice.user_id, project_id=app.id, sort="title") == [
        "a1",
        "a2",
    ]
    response = await _get(client, alice, alice.user_id, project_id=web.id, status="Doing")
    assert response.json()["data"]["total"] == 1


async def test_due_dates_and_overdue(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    project = await add_project(database)
    me = [alice.user_id]
    yesterday, tomorrow = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
    await add_task(database, project, title="late", expected_end=yesterday, assignees=me)
    await add_task(
        database,
        project,
        title="late but done",
        expected_end=yesterday,
        status_type=StatusType.completed,
        assignees=me,
    )
    await add_task(database, project, title="today", expected_end=TODAY, assignees=me)
    await add_task(database, project, title="soon", expected_end=tomorrow, assignees=me)
    await add_task(database, project, title="undated", assignees=me)

    overdue = await _titles(client, alice, alice.user_id, overdue="true")
    assert overdue == ["late"]
    not_overdue = await _titles(client, alice, alice.user_id, overdue="false")
    assert not_overdue == ["late but done", "today", "soon", "undated"]
    on_time = await _titles(client, alice, alice.user_id, due_before=TODAY.isoformat())
    assert on_time == ["late", "late but done", "today"]
    assert await _titles(client, alice, alice.user_id, due_after=TODAY.isoformat()) == [
        "today",
        "soon",
    ]
    exactly = await _titles(
        client, alice, alice.user_id, due_after=TODAY.isoformat(), due_before=TODAY.isoformat()
    )
    assert exactly == ["today"]


async def test_filters_combine(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    project = await add_project(database)
    other = await add_project(database, name="Other")
    yesterday, tomorrow = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
    rows = [
        ("late waiting", StatusType.waiting, yesterday, project),
        ("late done", StatusType.completed, yesterday, project),
        ("soon waiting", StatusType.waiting, tomorrow, project),
        ("late in progress", StatusType.in_progress, yesterday, project),
        ("late elsewhere", StatusType.waiting, yesterday, other),
    ]
    for title, status_type, due, where in rows:
        await add_task(
            database,
            where,
            title=title,
            status_type=status_type,
            expected_end=due,
            assignees=[alice.user_id],
        )

    async def titles(**params: Any) -> list[str]:
        return await _titles(client, alice, alice.user_id, sort="title", **params)

    assert await titles(status_type="waiting,completed", overdue="false") == [
        "late done",
        "soon waiting",
    ]
    assert await titles(status_type="waiting,in_progress", overdue="true", q="late") == [
        "late elsewhere",
        "late in progress",
        "late waiting",
    ]
    assert await titles(
        status_type="waiting", overdue="true", project_id=project.id, due_before=TODAY
    ) == ["late waiting"]
    cursor = (await _get(client, alice, alice.user_id, status_type="waiting", limit=1)).json()[
        "data"
    ]["next_cursor"]
    page = await _get(client, alice, alice.user_id, status_type="waiting", limit=5, cursor=cursor)
    assert len(page.json()["data"]["items"]) == 2


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("%", ["100% done"]),
        ("_", ["a_b"]),
        ("'", ["O'Brien"]),
        (";", ["x; DROP TABLE tasks; --"]),
        ("--", ["x; DROP TABLE tasks; --"]),
        ("' OR '1'='1", []),
        ("/", ["a/b"]),
        ("LANDING", ["Landing page"]),
    ],
)
async def test_title_search_is_literal_and_case_insensitive(
    client: httpx.AsyncClient,
    database: Database,
    alice: SignedIn,
    needle: str,
    expected: list[str],
) -> None:
    """C8: `%`, `_`, quotes, `;` and `--` are text, never wildcards or SQL."""
    project = await add_project(database)
    titles = ["100% done", "1000 done", "a_b", "axb", "O'Brien", "x; DROP TABLE tasks; --"]
    for title in [*titles, "a/b", "Landing page"]:
        await add_task(database, project, title=title, assignees=[alice.user_id])

    assert await _titles(client, alice, alice.user_id, q=needle) == expected
    assert len(await _titles(client, alice, alice.user_id)) == 8  # the table is still there


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status_type": "done"}, "status_type"),
        ({"status_type": "waiting,nope"}, "status_type"),
        ({"project_id": "x"}, "project_id"),
        ({"project_id": "0"}, "project_id"),
        ({"project_id": str(2**63)}, "project_id"),
        ({"due_before": "2026-13-01"}, "due_before"),
        ({"due_after": "yesterday"}, "due_after"),
        ({"due_after": "2026-12-02", "due_before": "2026-12-01"}, "due_after"),
        ({"overdue": "maybe"}, "overdue"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"status": "s" * 101}, "status"),
        ({"sort": "password"}, "sort"),
        ({"sort": "due; DROP TABLE tasks"}, "sort"),
        ({"limit": "501"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "99999999999999999999"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1000001"}, "offset"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, alice: SignedIn, params: dict[str, str], field: str
) -> None:
    """C9 too: limits over 500 or negative are refused, never clamped into a 500."""
    _assert_validation_error(await _get(client, alice, alice.user_id, **params), field)


@pytest.mark.parametrize("status_type", ["", "waiting,", "waiting,,completed"])
async def test_an_empty_status_type_is_422_not_every_task(
    client: httpx.AsyncClient, alice: SignedIn, status_type: str
) -> None:
    """Found by the schema fuzz: `status_type=` was dropped as if absent, so a blank filter
    answered every task; an empty item is now refused like any value outside the enum."""
    _assert_validation_error(
        await _get(client, alice, alice.user_id, status_type=status_type), "status_type"
    )


@pytest.mark.parametrize("day", ["0", "86400", "2026-12-01T00:00:00"])
@pytest.mark.parametrize("parameter", ["due_after", "due_before"])
async def test_a_numeric_due_date_is_422_not_a_timestamp(
    client: httpx.AsyncClient, alice: SignedIn, parameter: str, day: str
) -> None:
    """Found by the schema fuzz (on the log and report dates, the same type here): a number
    was read as a Unix timestamp, `due_before=0` as 1970-01-01."""
    _assert_validation_error(
        await _get(client, alice, alice.user_id, **{parameter: day}), parameter
    )


@pytest.mark.parametrize("user_id", ["0", "-1", "abc", str(2**63), "1.5"])
async def test_bad_user_ids_are_422(
    client: httpx.AsyncClient, alice: SignedIn, user_id: str
) -> None:
    response = await _get(client, alice, user_id)
    assert response.status_code == 422
    assert response.json()["data"][0]["loc"] == ["path", "user_id"]


# --- sorts --------------------------------------------------------------------------------


async def _seed_sortable(database: Database, user_id: int) -> None:
    project = await add_project(database)
    rows: list[tuple[str, date | None, str | None, datetime | None]] = [
        ("bravo", date(2026, 12, 3), "2 - Normal", datetime(2026, 11, 1, tzinfo=UTC)),
        ("alpha", date(2026, 12, 1), "1 - High", datetime(2026, 11, 3, tzinfo=UTC)),
        ("delta", None, None, None),
        ("charlie", date(2026, 12, 1), "3 - Low", datetime(2026, 11, 2, tzinfo=UTC)),
        ("echo", None, "1 - High", datetime(2026, 11, 5, tzinfo=UTC)),
    ]
    for title, due, priority, modified in rows:
        await add_task(
            database,
            project,
            title=title,
            expected_end=due,
            priority=priority,
            ace_modified_at=modified,
            assignees=[user_id],
        )


SORTED = {
    # Ties go by id (insertion order here); missing values always come last.
    "due": ["alpha", "charlie", "bravo", "delta", "echo"],
    "-due": ["bravo", "alpha", "charlie", "delta", "echo"],
    "title": ["alpha", "bravo", "charlie", "delta", "echo"],
    "-title": ["echo", "delta", "charlie", "bravo", "alpha"],
    "updated": ["bravo", "charlie", "alpha", "echo", "delta"],
    "-updated": ["echo", "alpha", "charlie", "bravo", "delta"],
    "priority": ["alpha", "echo", "bravo", "charlie", "delta"],
    "-priority": ["charlie", "bravo", "alpha", "echo", "delta"],
    "id": ["bravo", "alpha", "delta", "charlie", "echo"],
    "-id": ["echo", "charlie", "delta", "alpha", "bravo"],
}


async def test_every_sort_orders_as_documented(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    await _seed_sortable(database, alice.user_id)
    assert await _titles(client, alice, alice.user_id) == SORTED["due"]  # the default
    for sort, expected in SORTED.items():
        assert await _titles(client, alice, alice.user_id, sort=sort) == expected, sort


async def test_a_cursor_walk_gives_every_task_once_in_every_sort(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    await _seed_sortable(database, alice.user_id)
    for sort, expected in SORTED.items():
        walked: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            data = (await _get(client, alice, alice.user_id, **params)).json()["data"]
            assert data["total"] == 5
            walked += [item["title"] for item in data["items"]]
            pages += 1
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert walked == expected, sort
        assert pages == 3


# --- pages --------------------------------------------------------------------------------


async def test_default_limit_offsets_and_the_last_page(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    project = await add_project(database)
    await add_tasks(database, project, 120, assignee=alice.user_id)

    first = (await _get(client, alice, alice.user_id, sort="title")).json()["data"]
    assert (len(first["items"]), first["total"], first["limit"]) == (50, 120, 50)
    assert first["items"][0]["title"] == "t000"
    assert first["next_cursor"] is not None

    last = (await _get(client, alice, alice.user_id, sort="title", offset=100)).json()["data"]
    assert [item["title"] for item in last["items"]] == [f"t{n:03d}" for n in range(100, 120)]
    assert (last["total"], last["offset"], last["next_cursor"]) == (120, 100, None)

    exact = (await _get(client, alice, alice.user_id, limit=120)).json()["data"]
    assert (len(exact["items"]), exact["next_cursor"]) == (120, None)

    beyond = await _get(client, alice, alice.user_id, offset=500)
    assert beyond.status_code == 200
    assert beyond.json()["data"] == {
        "items": [],
        "total": 120,
        "limit": 50,
        "offset": 500,
        "next_cursor": None,
        "synced_through": None,
    }

    big = (await _get(client, alice, alice.user_id, limit=500)).json()["data"]
    assert len(big["items"]) == 120


async def test_an_empty_list_is_a_page_not_a_404(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    response = await _get(client, alice, alice.user_id, q="nothing")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next_cursor": None,
        "synced_through": None,
    }


async def test_offset_then_cursor_continues_where_the_page_ended(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    project = await add_project(database)
    await add_tasks(database, project, 8, assignee=alice.user_id)
    by_offset = await _get(client, alice, alice.user_id, sort="-title", limit=3, offset=3)
    first = by_offset.json()["data"]
    assert [item["title"] for item in first["items"]] == ["t004", "t003", "t002"]
    assert first["offset"] == 3
    assert first["next_cursor"]
    second = await _get(
        client, alice, alice.user_id, sort="-title", limit=3, cursor=first["next_cursor"]
    )
    assert second.status_code == 200, second.text
    page = second.json()["data"]
    assert [item["title"] for item in page["items"]] == ["t001", "t000"]
    assert page["next_cursor"] is None
    # One request cannot combine both.
    both = await _get(
        client, alice, alice.user_id, sort="-title", offset=3, cursor=first["next_cursor"]
    )
    _assert_validation_error(both, "offset")


def _tamper(cursor: str) -> list[str]:
    payload, signature = cursor.split(".")
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    content["i"] = 1
    forged = base64.urlsafe_b64encode(json.dumps(content).encode()).rstrip(b"=").decode()
    return [
        f"{forged}.{signature}",
        f"{payload}.{signature[:-2]}AA",
        f"{payload}.",
        payload,
        "not-a-cursor",
        "a.b.c",
        "%%%.***",
        "",
    ]


async def test_tampered_or_foreign_cursors_are_422(
    client: httpx.AsyncClient, database: Database, alice: SignedIn
) -> None:
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    project = await add_project(database)
    await add_tasks(database, project, 5, assignee=alice.user_id)
    await add_tasks(database, project, 5, assignee=boss.user_id)
    cursor = (await _get(client, alice, alice.user_id, limit=2)).json()["data"]["next_cursor"]
    assert cursor

    for bad in _tamper(cursor):
        _assert_validation_error(await _get(client, alice, alice.user_id, cursor=bad), "cursor")
    # A genuine cursor, used with another sort, other filters or for another user.
    for params in ({"sort": "title"}, {"status": "Done"}, {"q": "t"}):
        response = await _get(client, alice, alice.user_id, limit=2, cursor=cursor, **params)
        _assert_validation_error(response, "cursor")
    _assert_validation_error(await _get(client, boss, boss.user_id, cursor=cursor), "cursor")
    both = await _get(client, alice, alice.user_id, cursor=cursor, offset=2)
    _assert_validation_error(both, "offset")


async def test_unknown_users_tasks_page_is_404_even_past_the_end(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    response = await _get(client, admin, 424242, offset=100, status="x")
    assert response.status_code == 404


async def test_the_task_list_stays_within_its_account_in_bulk(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Many tasks in two accounts with overlapping ACE ids: totals stay per account."""
    root = await local_user_signed_in(client, database, username="root", role=RoleEnum.admin)
    ours = await add_project(database, account_id="acme", ace_project_id=1)
    theirs = await add_project(database, account_id="globex", ace_project_id=1)
    them = await create_user(database, username="root", account_id="globex")
    await add_tasks(database, ours, 30, assignee=root.user_id)
    await add_tasks(database, theirs, 40, assignee=them.id)
    async with database.session() as session:
        await session.execute(update(Task).values(status="Open"))
        await session.execute(update(Project).values(status="Active"))
        await session.commit()

    data = (await _get(client, root, root.user_id, limit=500)).json()["data"]
    assert data["total"] == len(data["items"]) == 30
    assert {item["project_id"] for item in data["items"]} == {ours.id}
