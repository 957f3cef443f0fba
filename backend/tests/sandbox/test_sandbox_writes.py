"""Write functions over real HTTP: saveworkitem, deleteworkitem, savetask, assignusertask.

Each test gets its own server over fresh demo data, since every test here changes data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from ace_sandbox.data import generate
from ace_sandbox.store import Account
from ace_sandbox.testing import AceCaller, SandboxServer

ADMIN, ALICE, BOB = 1, 2, 3
SHARED_TASK = 10000  # project 1000: alice and bob
ALICE_ONLY_TASK = 10002  # project 1002: alice only
SUNDAY = "2025-06-01"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(generate()) as running:
        yield running


@pytest.fixture
async def ace(server: SandboxServer) -> AsyncIterator[AceCaller]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        yield AceCaller(client)


def _demo(server: SandboxServer) -> Account:
    return server.store["demo"]


async def _line_rows(ace: AceCaller, guid: str, line_id: int) -> list[dict[str, Any]]:
    return await ace.ok(
        "gettimereport", guid=guid, view=1, filtermyworkitems=False, timesheetlineid=line_id
    )


async def _task(ace: AceCaller, guid: str, task_id: int) -> dict[str, Any]:
    rows = await ace.ok("gettasks", guid=guid, taskid=task_id)
    assert len(rows) == 1
    return rows[0]


async def _save(ace: AceCaller, guid: str, **params: object) -> int:
    params = {"weekstart": SUNDAY, "taskid": SHARED_TASK, **params}
    rows = await ace.ok("saveworkitem", guid=guid, **params)
    assert len(rows) == 1
    assert set(rows[0]) == {"TIMESHEET_LINE_ID"}
    line_id: int = rows[0]["TIMESHEET_LINE_ID"]
    return line_id


# --- saveworkitem ---------------------------------------------------------------------------


async def test_saveworkitem_creates_a_line(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    before = (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"]
    line_id = await _save(
        ace, guid, projectid=1000, hoursday2=3.5, hoursday4=2, comments="Wrote tests"
    )
    rows = await _line_rows(ace, guid, line_id)
    assert [(r["DATE_WORKED"], r["TOTAL"]) for r in rows] == [
        ("2025-06-02T00:00:00", 3.5),
        ("2025-06-04T00:00:00", 2.0),
    ]
    assert {(r["COMMENT"], r["TASK_ID"], r["PROJECT_ID"], r["CREATOR_USER_ID"]) for r in rows} == {
        ("Wrote tests", SHARED_TASK, 1000, ALICE)
    }
    assert {(r["TIME_TYPE_ID"], r["APPROVAL_LEVEL"]) for r in rows} == {(1, 0)}
    today = date.today().isoformat()
    modified = await ace.ok(
        "gettimereport", guid=guid, filtermyworkitems=False, filtermodifiedfrom=today
    )
    assert {r["TIMESHEET_LINE_ID"] for r in modified} == {line_id}
    assert {r["DATE_CREATED"][:10] for r in rows} == {today}
    assert (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"] == round(before + 5.5, 2)


async def test_saveworkitem_update_replaces_the_week(ace: AceCaller) -> None:
    guid = await ace.login("bob")
    before = (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"]
    line_id = await _save(ace, guid, hoursday2=3, hoursday3=1, comments="First", timetypeid=2)
    # mixed-case names: parameters are case-insensitive
    again = await _save(ace, guid, TimeSheetLineId=line_id, HoursDay5="4.25", TaskId=SHARED_TASK)
    assert again == line_id
    rows = await _line_rows(ace, guid, line_id)
    assert [(r["DATE_WORKED"], r["TOTAL"]) for r in rows] == [("2025-06-05T00:00:00", 4.25)]
    assert (rows[0]["COMMENT"], rows[0]["TIME_TYPE_ID"]) == ("First", 2)  # kept: not sent
    assert (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"] == round(before + 4.25, 2)


async def test_saveworkitem_all_zero_keeps_an_empty_line(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    line_id = await _save(ace, guid, hoursday1=0, hoursday7=None)
    assert await _line_rows(ace, guid, line_id) == []
    assert await _save(ace, guid, timesheetlineid=line_id, hoursday7=8) == line_id
    rows = await _line_rows(ace, guid, line_id)
    assert [(r["DATE_WORKED"], r["TOTAL"]) for r in rows] == [("2025-06-07T00:00:00", 8.0)]


async def test_saveworkitem_for_another_user_needs_an_administrator(ace: AceCaller) -> None:
    admin = await ace.login("admin")
    line_id = await _save(ace, admin, userid=BOB, hoursday2=1)
    rows = await _line_rows(ace, admin, line_id)
    assert [r["CREATOR_USER_ID"] for r in rows] == [BOB]
    alice = await ace.login("alice")
    row = await ace.fail(
        "saveworkitem", guid=alice, weekstart=SUNDAY, taskid=SHARED_TASK, userid=BOB
    )
    assert row["ERRORNUMBER"] == 4004
    row = await ace.fail(
        "saveworkitem", guid=alice, weekstart=SUNDAY, taskid=SHARED_TASK, timesheetlineid=line_id
    )
    assert row["ERRORNUMBER"] == 4004
    bob = await ace.login("bob")
    assert await _save(ace, bob, timesheetlineid=line_id, hoursday3=2) == line_id


@pytest.mark.parametrize(
    ("params", "number"),
    [
        ({"weekstart": None}, 1001),
        ({"taskid": None}, 1001),
        ({"weekstart": "2025-06-02"}, 3001),  # a Monday
        ({"weekstart": "June 1"}, 3001),
        ({"hoursday1": "lots"}, 3001),
        ({"hoursday1": 24.5}, 4003),
        ({"hoursday7": -1}, 4003),
        ({"taskid": 99999}, 4001),
        ({"taskid": ALICE_ONLY_TASK}, 4004),  # bob is no member of project 1002
        ({"timesheetlineid": 999999}, 4005),
        ({"indatetime": None}, 4006),
        ({"OutDateTime": ""}, 4006),
        ({"projectid": 1001}, 3001),
        ({"timetypeid": 9}, 3001),
        ({"userid": 999}, 3001),
    ],
)
async def test_saveworkitem_refusals(
    ace: AceCaller, server: SandboxServer, params: dict[str, object], number: int
) -> None:
    guid = await ace.login("bob")
    lines = len(_demo(server).time_lines)
    sent = {"weekstart": SUNDAY, "taskid": SHARED_TASK, "hoursday2": 1, **params}
    row = await ace.fail("saveworkitem", guid=guid, **sent)
    assert row["ERRORNUMBER"] == number
    assert row["ERRORDESCRIPTION"]
    assert len(_demo(server).time_lines) == lines


async def test_closed_period_refuses_create_change_and_delete(
    ace: AceCaller, server: SandboxServer
) -> None:
    guid = await ace.login("alice")
    open_line = await _save(ace, guid, hoursday2=1)
    async with httpx.AsyncClient(base_url=server.url) as admin:
        answer = await admin.post(
            "/_sandbox/accounts/demo/closed-through", json={"closed_through": "2025-06-01"}
        )
    assert answer.json() == {"closed_through": "2025-06-01"}
    assert _demo(server).closed_through == date(2025, 6, 1)
    for params in (
        {"weekstart": SUNDAY, "taskid": SHARED_TASK},
        {"weekstart": "2025-06-08", "taskid": SHARED_TASK, "timesheetlineid": open_line},
    ):
        assert (await ace.fail("saveworkitem", guid=guid, **params))["ERRORNUMBER"] == 4002
    row = await ace.fail("deleteworkitem", guid=guid, timesheetlineid=open_line)
    assert row["ERRORNUMBER"] == 4002
    later = await _save(ace, guid, weekstart="2025-06-08", hoursday1=2)
    assert [r["DATE_WORKED"] for r in await _line_rows(ace, guid, later)] == ["2025-06-08T00:00:00"]
    _demo(server).close_period(None)
    assert await _save(ace, guid, timesheetlineid=open_line, hoursday3=2) == open_line


async def test_submitted_or_approved_lines_are_frozen(
    ace: AceCaller, server: SandboxServer
) -> None:
    frozen = next(
        line
        for line in _demo(server).time_lines.values()
        if line.user_id == ALICE and line.approval_level > 0
    )
    guid = await ace.login("alice")
    row = await ace.fail(
        "saveworkitem",
        guid=guid,
        weekstart=frozen.week_start.isoformat(),
        taskid=SHARED_TASK,
        timesheetlineid=frozen.timesheet_line_id,
    )
    assert row["ERRORNUMBER"] == 4002
    row = await ace.fail("deleteworkitem", guid=guid, timesheetlineid=frozen.timesheet_line_id)
    assert row["ERRORNUMBER"] == 4002


# --- deleteworkitem -------------------------------------------------------------------------


async def test_deleteworkitem_removes_every_day(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    before = (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"]
    line_id = await _save(ace, guid, hoursday2=2, hoursday3=3, hoursday6=1.5)
    assert len(await _line_rows(ace, guid, line_id)) == 3
    assert await ace.ok("deleteworkitem", guid=guid, TimeSheetLineID=line_id) == []
    assert await _line_rows(ace, guid, line_id) == []
    assert (await _task(ace, guid, SHARED_TASK))["ACTUAL_HOURS"] == before
    row = await ace.fail("deleteworkitem", guid=guid, timesheetlineid=line_id)
    assert row["ERRORNUMBER"] == 4005


async def test_deleteworkitem_refusals_and_admin_right(ace: AceCaller) -> None:
    alice = await ace.login("alice")
    line_id = await _save(ace, alice, hoursday2=2)
    bob = await ace.login("bob")
    assert (await ace.fail("deleteworkitem", guid=bob))["ERRORNUMBER"] == 1001
    row = await ace.fail("deleteworkitem", guid=bob, timesheetlineid=line_id)
    assert row["ERRORNUMBER"] == 4004
    admin = await ace.login("admin")
    assert await ace.ok("deleteworkitem", guid=admin, timesheetlineid=line_id) == []
    assert await _line_rows(ace, admin, line_id) == []


# --- savetask -------------------------------------------------------------------------------


async def test_savetask_round_trip(ace: AceCaller, server: SandboxServer) -> None:
    demo = _demo(server)
    demo.update_task(SHARED_TASK, at=datetime(2020, 1, 1))
    listed = [s.task_status_id for s in demo.task_status_list(1000)]
    status_id = next(s for s in listed if s != demo.tasks[SHARED_TASK].task_status_id)
    guid = await ace.login("bob")
    rows = await ace.ok(
        "savetask",
        guid=guid,
        taskid=SHARED_TASK,
        projectid=1000,
        statusid=status_id,
        percentdone=4.5,
        addcomments="Halfway there",
        notaparameter="ignored",
    )
    assert rows == [{"TASK_ID": SHARED_TASK}]
    task = await _task(ace, guid, SHARED_TASK)
    assert task["TASK_STATUS_ID"] == status_id
    assert task["POURCENTAGE_DONE"] == 4.5
    assert task["UPDATE_USER_ID"] == BOB
    assert task["DATE_TASK_MODIFIED"] > "2020-01-01T00:00:00"
    assert [(c.user_id, c.text) for c in demo.task_comments[SHARED_TASK]] == [
        (BOB, "Halfway there")
    ]


async def test_savetask_estimated_hours_and_dates(ace: AceCaller, server: SandboxServer) -> None:
    before = _demo(server).tasks[SHARED_TASK]
    guid = await ace.login("alice")
    await ace.ok(
        "SaveTask",
        guid=guid,
        TaskId=SHARED_TASK,
        EstimatedHours=12.5,
        EstimatedStartDate="2025-07-01",
        EstimatedDueDate="2025-07-31T00:00:00",
        ActualStartDate="2025-07-02",
        ActualDueDate=None,  # NULL leaves the date alone
    )
    task = await _task(ace, guid, SHARED_TASK)
    assert task["ESTIMATED_TIME"] == 12.5
    assert task["DATE_EXPECTED_START_TASK"] == "2025-07-01T00:00:00"
    assert task["DATE_EXPECTED_END_TASK"] == "2025-07-31T00:00:00"
    assert task["DATE_ACTUAL_START_DATE"] == "2025-07-02T00:00:00"
    end = before.date_actual_end
    assert task["DATE_ACTUAL_END_DATE"] == (end.isoformat() if end is not None else None)


async def test_savetask_with_nothing_to_change_still_bumps(
    ace: AceCaller, server: SandboxServer
) -> None:
    _demo(server).update_task(SHARED_TASK, at=datetime(2020, 1, 1))
    guid = await ace.login("alice")
    assert await ace.ok("savetask", guid=guid, taskid=SHARED_TASK) == [{"TASK_ID": SHARED_TASK}]
    assert (await _task(ace, guid, SHARED_TASK))["DATE_TASK_MODIFIED"] > "2020-01-01T00:00:00"
    assert SHARED_TASK not in _demo(server).task_comments


@pytest.mark.parametrize(
    ("params", "number"),
    [
        ({"taskid": None}, 1001),
        ({"taskid": 99999}, 4001),
        ({"taskid": ALICE_ONLY_TASK}, 4004),  # bob is no member of project 1002
        ({"projectid": 1001}, 3001),
        ({"statusid": "other"}, 4007),
        ({"statusid": 99999}, 4007),
        ({"percentdone": 10.5}, 4003),
        ({"percentdone": -0.5}, 4003),
        ({"percentdone": "half"}, 3001),
        ({"percentdone": "nan"}, 4003),
        ({"estimatedhours": -1}, 4003),
        ({"estimatedhours": "nan"}, 4003),
        ({"estimatedduedate": "soon"}, 3001),
    ],
)
async def test_savetask_refusals(
    ace: AceCaller, server: SandboxServer, params: dict[str, object], number: int
) -> None:
    demo = _demo(server)
    if params.get("statusid") == "other":  # a status of another project's list
        params = {"statusid": demo.task_status_list(1001)[0].task_status_id}
    before = demo.tasks[SHARED_TASK].date_modified
    guid = await ace.login("bob")
    sent = {"taskid": SHARED_TASK, "addcomments": "never stored", **params}
    row = await ace.fail("savetask", guid=guid, **sent)
    assert row["ERRORNUMBER"] == number
    assert demo.tasks[SHARED_TASK].date_modified == before
    assert not demo.task_comments.get(SHARED_TASK)


# --- assignusertask -------------------------------------------------------------------------


async def test_assignusertask_round_trip(ace: AceCaller, server: SandboxServer) -> None:
    _demo(server).update_task(ALICE_ONLY_TASK, at=datetime(2020, 1, 1))
    admin = await ace.login("admin")
    sent = {"guid": admin, "taskid": ALICE_ONLY_TASK, "userid": BOB}
    assert await ace.ok("assignusertask", **sent, isassignee=True, assignedhours=6) == []
    task = await _task(ace, admin, ALICE_ONLY_TASK)
    assert "Bob Brown" in task["ASSIGNED"]
    assert task["DATE_TASK_MODIFIED"] > "2020-01-01T00:00:00"
    assigned = await ace.ok("gettasks", guid=admin, filterassigneduserid=BOB)
    assert ALICE_ONLY_TASK in {r["TASK_ID"] for r in assigned}
    assert _demo(server).assignments[ALICE_ONLY_TASK][BOB].assigned_hours == 6.0
    bob = await ace.login("bob")  # assigned, bob is now a member of project 1002
    assert (await _task(ace, bob, ALICE_ONLY_TASK))["TASK_ID"] == ALICE_ONLY_TASK

    assert await ace.ok("assignusertask", **sent, isassignee=False, isreviewer=True) == []
    task = await _task(ace, admin, ALICE_ONLY_TASK)
    assert "Bob Brown" in task["REVIEWER"]
    assert "Bob Brown" not in task["ASSIGNED"]
    reviewing = await ace.ok("gettasks", guid=admin, filterrevieweruserid=BOB)
    assert ALICE_ONLY_TASK in {r["TASK_ID"] for r in reviewing}
    assignment = _demo(server).assignments[ALICE_ONLY_TASK][BOB]
    assert assignment.assigned_hours == 6.0  # kept: not sent

    assert await ace.ok("assignusertask", **sent, isassignee=False, isreviewer=False) == []
    task = await _task(ace, admin, ALICE_ONLY_TASK)
    assert "Bob Brown" not in f"{task['ASSIGNED']} {task['REVIEWER']}"
    assert BOB not in _demo(server).assignments[ALICE_ONLY_TASK]


@pytest.mark.parametrize(
    ("who", "params", "number"),
    [
        ("admin", {"taskid": None}, 1001),
        ("admin", {"userid": None}, 1001),
        ("alice", {}, 4004),
        ("admin", {"taskid": 99999}, 4001),
        ("admin", {"userid": 999}, 3001),
        ("admin", {"assignedhours": -1}, 4003),
        ("admin", {"isassignee": "maybe"}, 3001),
    ],
)
async def test_assignusertask_refusals(
    ace: AceCaller, server: SandboxServer, who: str, params: dict[str, object], number: int
) -> None:
    guid = await ace.login(who)
    sent = {"taskid": ALICE_ONLY_TASK, "userid": BOB, "notify": True, **params}
    row = await ace.fail("assignusertask", guid=guid, **sent)
    assert row["ERRORNUMBER"] == number
    assert BOB not in _demo(server).assignments[ALICE_ONLY_TASK]


async def test_writes_need_a_valid_guid(ace: AceCaller) -> None:
    for fct in ("saveworkitem", "deleteworkitem", "savetask", "assignusertask"):
        row = await ace.fail(fct, guid="00000000-0000-4000-8000-000000000000")
        assert row["ERRORNUMBER"] == 2001
