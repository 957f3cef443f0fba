"""`GET /reports/time` as JSON: every group and sub_group pair, rounding, week start,
fill_gaps, filters and scope, checked against sums computed in the test from the generated
rows, on both databases."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.connection.database import Database
from app.dto.report_dto import TimeReport
from app.dto.response import SuccessResponse
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import sign_in_local
from tests.reports.helpers import DAYS, START, World, build_world, expected, flatten

DIMENSIONS = ["user", "project", "task", "day", "week", "month", "status_type", "source"]
TIME = "/reports/time"


@pytest.fixture
async def world(client: httpx.AsyncClient, database: Database) -> World:
    return await build_world(client, database)


async def _report(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(TIME, headers=headers, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = (
        SuccessResponse[TimeReport].model_validate(response.json()).model_dump(mode="json")["data"]
    )
    return data


def _assert_matches(
    report: dict[str, Any], sums: dict[tuple[Any, ...], tuple[Decimal, int]]
) -> None:
    got = flatten(report)
    assert set(got) == set(sums)
    for key, (hours, entries) in sums.items():
        assert got[key][1] == entries, key
        assert got[key][0] == pytest.approx(float(hours), abs=1e-6), key


async def test_every_group_and_sub_group_pair_sums_like_the_rows(
    client: httpx.AsyncClient, world: World
) -> None:
    pairs: list[tuple[str, str | None]] = [(group, None) for group in DIMENSIONS]
    pairs += list(itertools.permutations(DIMENSIONS, 2))
    for group, sub_group in pairs:
        params: dict[str, Any] = {"group": group}
        levels = [group]
        if sub_group is not None:
            params["sub_group"] = sub_group
            levels.append(sub_group)
        report = await _report(client, world.boss.headers, **params)
        _assert_matches(report, expected(world, world.visible, levels))
    assert report["rounding"] == {"mode": None, "minutes": None}


async def test_nodes_carry_labels_and_estimates(client: httpx.AsyncClient, world: World) -> None:
    report = await _report(client, world.boss.headers, group="project", sub_group="task")
    for project in report["groups"]:
        assert project["label"] == world.projects[project["key"]]
        estimates = [
            estimate
            for project_id, _, estimate, _ in world.tasks.values()
            if project_id == project["key"] and estimate is not None
        ]
        assert project["estimated_hours"] == pytest.approx(sum(estimates))
        assert project["ratio"] == pytest.approx(project["hours"] / sum(estimates), abs=1e-4)
        for task in project["groups"]:
            _, title, estimate, _ = world.tasks[task["key"]]
            assert task["label"] == title
            assert task["estimated_hours"] == estimate
            if estimate is None:
                assert task["ratio"] is None
            else:
                assert task["ratio"] == pytest.approx(task["hours"] / estimate, abs=1e-4)
    users = await _report(client, world.boss.headers, group="user")
    assert {node["key"]: node["label"] for node in users["groups"]}.items() <= (world.users.items())
    assert all("ratio" in node and node["ratio"] is None for node in users["groups"])
    months = await _report(client, world.boss.headers, group="month")
    assert [node["label"] for node in months["groups"]] == [
        "2026-10",
        "2026-11",
        "2026-12",
        "2027-01",
    ]


@pytest.mark.parametrize(("mode", "minutes"), [("up", 15), ("down", 6), ("nearest", 15), ("up", 6)])
async def test_rounding_is_per_entry_and_groups_sum_their_rounded_entries(
    client: httpx.AsyncClient, world: World, mode: str, minutes: int
) -> None:
    report = await _report(
        client,
        world.boss.headers,
        group="user",
        sub_group="week",
        rounding=mode,
        rounding_minutes=minutes,
    )
    assert report["rounding"] == {"mode": mode, "minutes": minutes}
    sums = expected(world, world.visible, ["user", "week"], mode=mode, minutes=minutes)
    _assert_matches(report, sums)
    unrounded = expected(world, world.visible, [])[()][0]
    if mode == "up":
        assert report["hours"] >= float(unrounded)
    if mode == "down":
        assert report["hours"] <= float(unrounded)


@pytest.fixture
async def sunday_client(database_url: str, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(make_settings(database_url, report_week_start="Sunday"))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_weeks_start_on_the_configured_day(
    sunday_client: httpx.AsyncClient, world: World
) -> None:
    boss = await sign_in_local(sunday_client, account_id="acme", username="boss")
    report = await _report(sunday_client, boss.headers, group="week", sub_group="project")
    assert report["week_start"] == "sunday"
    _assert_matches(report, expected(world, world.visible, ["week", "project"], first_weekday=6))
    assert all(
        __import__("datetime").date.fromisoformat(node["key"]).weekday() == 6
        for node in report["groups"]
    )


@pytest.mark.parametrize("unit", ["day", "week", "month"])
async def test_fill_gaps_adds_the_empty_buckets_of_the_range(
    client: httpx.AsyncClient, world: World, unit: str
) -> None:
    date_from = START - timedelta(days=40)
    date_to = START + timedelta(days=DAYS + 40)
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    plain = await _report(client, world.boss.headers, group=unit, **params)
    filled = await _report(client, world.boss.headers, group=unit, fill_gaps="true", **params)
    keys = [node["key"] for node in filled["groups"]]
    assert keys == sorted(keys)
    step = {"day": 1, "week": 7}.get(unit)
    if step is not None:
        days = [__import__("datetime").date.fromisoformat(key) for key in keys]
        assert all((b - a).days == step for a, b in itertools.pairwise(days))
        assert days[0] <= date_from < days[0] + timedelta(days=step)
        assert date_to < days[-1] + timedelta(days=step)
    else:
        assert keys[0] == "2026-09-01"
        assert keys[-1] == "2027-02-01"
        assert len(keys) == 6
    by_key = {node["key"]: node for node in plain["groups"]}
    for node in filled["groups"]:
        if node["key"] in by_key:
            assert node["hours"] == by_key[node["key"]]["hours"]
        else:
            assert (node["hours"], node["entries"], node["groups"]) == (0, 0, [])
    assert filled["hours"] == plain["hours"]
    nested = await _report(
        client, world.boss.headers, group="project", sub_group=unit, fill_gaps="true", **params
    )
    for project in nested["groups"]:
        assert [node["key"] for node in project["groups"]] == keys


async def test_filters_narrow_the_rows(client: httpx.AsyncClient, world: World) -> None:
    task_ids = list(world.tasks)
    project_id = next(iter(world.projects))
    date_from, date_to = START + timedelta(days=10), START + timedelta(days=30)
    cases: list[tuple[dict[str, Any], Any]] = [
        (
            {"user_id": [world.bob_id, world.alice.user_id]},
            lambda log: log.user in {world.bob_id, world.alice.user_id},
        ),
        ({"project_id": project_id}, lambda log: world.tasks[log.task][0] == project_id),
        (
            {"task_id": f"{task_ids[0]},{task_ids[3]}"},
            lambda log: log.task in {task_ids[0], task_ids[3]},
        ),
        (
            {"status_type": ["waiting", "completed"]},
            lambda log: world.tasks[log.task][3] in {"waiting", "completed"},
        ),
        (
            {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
            lambda log: date_from <= log.day <= date_to,
        ),
    ]
    for params, keep in cases:
        report = await _report(client, world.boss.headers, group="task", sub_group="user", **params)
        logs = [log for log in world.visible if keep(log)]
        assert logs, params
        _assert_matches(report, expected(world, logs, ["task", "user"]))


async def test_members_see_only_their_own_hours_and_nobody_sees_another_account(
    client: httpx.AsyncClient, world: World
) -> None:
    mine = [log for log in world.visible if log.user == world.alice.user_id]
    report = await _report(client, world.alice.headers, group="user", sub_group="project")
    _assert_matches(report, expected(world, mine, ["user", "project"]))
    assert [node["key"] for node in report["groups"]] == [world.alice.user_id]
    # Asking for someone else narrows to nothing rather than widening the scope.
    other = await _report(client, world.alice.headers, group="user", user_id=world.bob_id)
    assert (other["hours"], other["groups"]) == (0, [])
    for who in (world.boss, world.alice):
        foreign = await _report(
            client,
            who.headers,
            group="task",
            task_id=world.foreign_task,
            user_id=world.foreign_user,
        )
        assert (foreign["hours"], foreign["entries"], foreign["groups"]) == (0, 0, [])
        deleted = await _report(client, who.headers, group="task", project_id=world.deleted_project)
        assert deleted["groups"] == []


async def test_an_empty_range_answers_zero(client: httpx.AsyncClient, world: World) -> None:
    report = await _report(
        client, world.boss.headers, group="day", date_from="2030-01-01", date_to="2030-01-31"
    )
    assert (report["hours"], report["entries"], report["groups"]) == (0, 0, [])
    same_day = await _report(
        client,
        world.boss.headers,
        group="day",
        date_from=START.isoformat(),
        date_to=START.isoformat(),
    )
    assert [node["key"] for node in same_day["groups"]] in ([], [START.isoformat()])


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"group": "colour"}, ["query", "group"]),
        ({}, ["query", "group"]),
        ({"group": "user", "sub_group": "planet"}, ["query", "sub_group"]),
        ({"group": "user", "sub_group": "user"}, ["query", "sub_group"]),
        (
            {"group": "user", "date_from": "2026-11-30", "date_to": "2026-11-01"},
            ["query", "date_to"],
        ),
        ({"group": "user", "date_from": "yesterday"}, ["query", "date_from"]),
        ({"group": "user", "user_id": "abc"}, ["query", "user_id", 0]),
        ({"group": "user", "project_id": "0"}, ["query", "project_id", 0]),
        ({"group": "user", "status_type": "done"}, ["query", "status_type", 0]),
        ({"group": "user", "rounding": "sideways"}, ["query", "rounding"]),
        (
            {"group": "user", "rounding": "up", "rounding_minutes": "0"},
            ["query", "rounding_minutes"],
        ),
        ({"group": "day", "fill_gaps": "true", "date_from": "2026-11-01"}, ["query", "date_to"]),
        ({"group": "day", "fill_gaps": "true", "date_to": "2026-11-01"}, ["query", "date_from"]),
        ({"group": "user", "format": "pdf"}, ["query", "format"]),
    ],
)
async def test_bad_parameters_are_422_naming_the_parameter(
    client: httpx.AsyncClient, database: Database, params: dict[str, Any], loc: list[Any]
) -> None:
    from tests.factories import local_user_signed_in

    boss = await local_user_signed_in(client, database, username="boss")
    for file_format in ("json", "csv"):
        response = await client.get(
            TIME, headers=boss.headers, params={"format": file_format, **params}
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error_code"] == "VALIDATION_ERROR"
        assert loc in [error["loc"] for error in body["data"]]


async def test_the_report_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(TIME, params={"group": "user"})
    assert response.status_code == 401


async def test_fill_gaps_refuses_a_range_of_too_many_buckets(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        TIME,
        headers=world.boss.headers,
        params={
            "group": "day",
            "fill_gaps": "true",
            "date_from": "2000-01-01",
            "date_to": "2026-12-31",
        },
    )
    assert response.status_code == 422
    assert ["query", "fill_gaps"] in [error["loc"] for error in response.json()["data"]]
    # Without fill_gaps the same range is fine.
    report = await _report(
        client, world.boss.headers, group="day", date_from="2000-01-01", date_to="2030-12-31"
    )
    assert report["entries"] == len(world.visible)


def test_the_week_start_setting_is_checked() -> None:
    assert make_settings("sqlite:///x.db", report_week_start="Friday").report_week_start == (
        "friday"
    )
    with pytest.raises(ValueError, match="report_week_start"):
        make_settings("sqlite:///x.db", report_week_start="someday")
