"""`/reports/workload`, `/reports/overdue` and `/reports/projects/{id}/progress`: figures,
scope, errors and downloads, on both databases. "Today" is the real date in UTC."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from app.connection.database import Database
from app.models import RoleEnum, StatusType, TaskLog, TaskLogKind
from tests.factories import SignedIn, create_user, local_user_signed_in
from tests.tasks.seeding import add_project, add_task


@dataclass
class Team:
    boss: SignedIn
    alice: SignedIn
    bob_id: int
    web_id: int
    other_id: int
    gone_id: int
    foreign_id: int
    late_id: int
    later_id: int
    today: date


async def _team(client: httpx.AsyncClient, database: Database) -> Team:
    today = datetime.now(UTC).date()
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    alice = await local_user_signed_in(client, database, username="alice")
    bob = await create_user(database, username="bob")
    a, b = alice.user_id, bob.id
    web = await add_project(database, name="Web")
    late = await add_task(
        database,
        web,
        title="Late",
        expected_end=today - timedelta(days=5),
        status_type=StatusType.in_progress,
        estimated_hours=10.0,
        assignees=[a],
    )
    later = await add_task(
        database,
        web,
        title="Later",
        expected_end=today - timedelta(days=2),
        status_type=StatusType.waiting,
        estimated_hours=2.0,
        assignees=[a, b],
    )
    await add_task(
        database,
        web,
        title="Done late",
        expected_end=today - timedelta(days=10),
        status_type=StatusType.completed,
        estimated_hours=4.0,
        assignees=[a],
    )
    await add_task(
        database,
        web,
        title="Future",
        expected_end=today + timedelta(days=5),
        estimated_hours=6.0,
        assignees=[b],
    )
    await add_task(
        database,
        web,
        title="Deleted",
        expected_end=today - timedelta(days=3),
        estimated_hours=1.0,
        assignees=[a],
        deleted_at=datetime.now(UTC),
    )
    other = await add_project(database, name="Other")
    await add_task(database, other, title="Bob's", estimated_hours=1.0, assignees=[b])
    gone = await add_project(database, name="Gone", deleted_at=datetime.now(UTC))
    await add_task(
        database, gone, title="Gone", expected_end=today - timedelta(days=4), assignees=[a]
    )
    theirs = await add_project(database, name="Theirs", account_id="globex")
    stranger = await create_user(database, username="stranger", account_id="globex")
    await add_task(
        database,
        theirs,
        title="Foreign",
        expected_end=today - timedelta(days=4),
        assignees=[stranger.id],
    )
    logs = [
        (late.id, a, date(2026, 11, 2), 4.0),
        (late.id, b, date(2026, 11, 4), 3.0),
        (later.id, a, date(2026, 11, 10), 5.0),
    ]
    async with database.session() as session:
        session.add_all(
            TaskLog(
                account_id="acme",
                task_id=task,
                user_id=user,
                kind=TaskLogKind.time,
                date_worked=day,
                hours=hours,
            )
            for task, user, day, hours in logs
        )
        await session.commit()
    return Team(boss, alice, b, web.id, other.id, gone.id, theirs.id, late.id, later.id, today)


@pytest.fixture
async def team(client: httpx.AsyncClient, database: Database) -> Team:
    return await _team(client, database)


async def _data(client: httpx.AsyncClient, who: SignedIn, path: str, **params: Any) -> Any:
    response = await client.get(path, headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_workload_per_user(client: httpx.AsyncClient, team: Team) -> None:
    data = await _data(client, team.boss, "/reports/workload")
    rows = {row["user_id"]: row for row in data["users"]}
    assert set(rows) == {team.alice.user_id, team.bob_id}
    alice, bob = rows[team.alice.user_id], rows[team.bob_id]
    # Late: 10 - (4 + 3) = 3 left; Later: 2 - 5 is never below 0.
    assert (alice["open_tasks"], alice["remaining_hours"], alice["hours_logged"]) == (2, 3.0, 9.0)
    assert alice["overdue_tasks"] == 2
    assert (bob["open_tasks"], bob["remaining_hours"], bob["hours_logged"]) == (3, 7.0, 3.0)
    assert bob["overdue_tasks"] == 1
    assert data["today"] == team.today.isoformat()
    ranged = await _data(
        client, team.boss, "/reports/workload", date_from="2026-11-03", date_to="2026-11-30"
    )
    hours = {row["user_id"]: row["hours_logged"] for row in ranged["users"]}
    assert hours == {team.alice.user_id: 5.0, team.bob_id: 3.0}
    mine = await _data(client, team.alice, "/reports/workload")
    assert [row["user_id"] for row in mine["users"]] == [team.alice.user_id]


async def test_overdue_tasks_with_days_and_assignees(client: httpx.AsyncClient, team: Team) -> None:
    data = await _data(client, team.boss, "/reports/overdue")
    assert data["total"] == 2
    assert [(task["title"], task["days_overdue"]) for task in data["tasks"]] == [
        ("Late", 5),
        ("Later", 2),
    ]
    assert sorted(data["tasks"][1]["assignees"]) == ["alice", "bob"]
    assert {task["project_name"] for task in data["tasks"]} == {"Web"}
    by_bob = await _data(client, team.boss, "/reports/overdue", user_id=team.bob_id)
    assert [task["title"] for task in by_bob["tasks"]] == ["Later"]
    mine = await _data(client, team.alice, "/reports/overdue")
    assert mine["total"] == 2


async def test_project_progress(client: httpx.AsyncClient, team: Team) -> None:
    data = await _data(
        client,
        team.boss,
        f"/reports/projects/{team.web_id}/progress",
        date_from="2026-11-01",
        date_to="2026-11-22",
    )
    assert data["tasks_by_status_type"] == {
        "waiting": 1,
        "in_progress": 1,
        "completed": 1,
        "none": 1,
    }
    assert (data["total_tasks"], data["percent_done"], data["overdue_tasks"]) == (4, 25.0, 2)
    assert (data["estimated_hours"], data["logged_hours"]) == (22.0, 12.0)
    assert data["ratio"] == pytest.approx(12 / 22, abs=1e-4)
    assert data["hours_per_week"] == [
        {"week": "2026-10-26", "hours": 0.0},
        {"week": "2026-11-02", "hours": 7.0},
        {"week": "2026-11-09", "hours": 5.0},
        {"week": "2026-11-16", "hours": 0.0},
    ]
    mine = await _data(client, team.alice, f"/reports/projects/{team.web_id}/progress")
    assert mine["logged_hours"] == 9.0
    assert mine["total_tasks"] == 4


async def test_an_unknown_or_invisible_project_is_404(
    client: httpx.AsyncClient, team: Team
) -> None:
    cases = [
        (team.boss, team.gone_id),
        (team.boss, team.foreign_id),
        (team.boss, 999_999),
        (team.alice, team.other_id),
    ]
    for who, project_id in cases:
        for file_format in ("json", "csv", "xlsx"):
            response = await client.get(
                f"/reports/projects/{project_id}/progress",
                headers=who.headers,
                params={"format": file_format},
            )
            assert response.status_code == 404, (project_id, file_format)
            assert response.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "path", ["/reports/workload", "/reports/overdue", "/reports/projects/1/progress"]
)
async def test_bad_filters_are_422(client: httpx.AsyncClient, team: Team, path: str) -> None:
    for params, loc in [
        ({"date_from": "2026-11-30", "date_to": "2026-11-01"}, ["query", "date_to"]),
        ({"user_id": "x"}, ["query", "user_id", 0]),
        ({"status_type": "nope"}, ["query", "status_type", 0]),
    ]:
        response = await client.get(path, headers=team.boss.headers, params=params)
        assert response.status_code == 422, response.text
        assert loc in [error["loc"] for error in response.json()["data"]]


@pytest.mark.parametrize(
    "path",
    ["/reports/time", "/reports/workload", "/reports/overdue", "/reports/projects/1/progress"],
)
async def test_an_empty_filter_item_is_422_not_no_filter(
    client: httpx.AsyncClient, team: Team, path: str
) -> None:
    """Found by the schema fuzz: `status_type=` or `user_id=2,` dropped the empty item, so a
    filter left blank widened the report to everyone; each empty item is now a 422."""
    for params, loc in [
        ({"status_type": ""}, ["query", "status_type", 0]),
        ({"user_id": ""}, ["query", "user_id", 0]),
        ({"user_id": f"{team.boss.user_id},"}, ["query", "user_id", 1]),
        ({"project_id": ",1"}, ["query", "project_id", 0]),
    ]:
        response = await client.get(path, headers=team.boss.headers, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error_code"] == "VALIDATION_ERROR"
        assert loc in [error["loc"] for error in response.json()["data"]], params


@pytest.mark.parametrize(
    "path",
    ["/reports/time", "/reports/workload", "/reports/overdue", "/reports/projects/1/progress"],
)
async def test_a_numeric_date_is_422_not_a_timestamp(
    client: httpx.AsyncClient, team: Team, path: str
) -> None:
    """Found by the schema fuzz: `GET /reports/time?date_to=0` answered 200, as 1970-01-01."""
    for day in ("0", "0.0", "86400", "2026-12-01T00:00:00"):
        response = await client.get(path, headers=team.boss.headers, params={"date_to": day})
        assert response.status_code == 422, (day, response.text)
        assert ["query", "date_to"] in [error["loc"] for error in response.json()["data"]]


async def test_downloads_of_the_task_reports(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.get(
        "/reports/overdue", headers=team.boss.headers, params={"format": "csv"}
    )
    assert response.status_code == 200
    assert 'filename="overdue-report_start_end.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:2] == ["project", "assignee"]
    assert sorted((row[1], row[3], row[6]) for row in rows[1:-1]) == [
        ("alice", "Late", "5"),
        ("alice", "Later", "2"),
        ("bob", "Later", "2"),
    ]
    response = await client.get(
        "/reports/workload", headers=team.boss.headers, params={"format": "xlsx"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows_x = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows_x[-1][0] == "Total"
    assert rows_x[-1][2:] == [5, 10.0, 12.0, 3]
    response = await client.get(
        f"/reports/projects/{team.web_id}/progress",
        headers=team.alice.headers,
        params={"format": "csv", "date_from": "2026-11-01", "date_to": "2026-11-30"},
    )
    assert response.status_code == 200
    assert (
        f'filename="project-{team.web_id}-progress_2026-11-01_2026-11-30.csv"'
        in response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[-1][0] == "Total"
    assert (float(rows[-1][3]), float(rows[-1][4]), int(rows[-1][6])) == (22.0, 9.0, 2)
