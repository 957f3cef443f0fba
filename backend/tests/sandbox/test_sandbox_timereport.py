"""gettimereport (view 1): filters, visibility, rounding, order."""

from __future__ import annotations

from datetime import date, datetime

from ace_sandbox.app import SandboxApp
from ace_sandbox.data import generate
from ace_sandbox.models import TimeEntry
from ace_sandbox.store import Account
from ace_sandbox.testing import AceCaller

DEMO: Account = generate()["demo"]
ALICE, BOB = 2, 3


def _keys(rows: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(r["TIMESHEET_LINE_ID"], r["DATE_WORKED"]) for r in rows]


def _expected(**conditions: object) -> list[tuple[int, str]]:
    entries = sorted(DEMO.time_entries.values(), key=lambda e: (e.date_worked, e.timesheet_line_id))
    result = []
    for entry in entries:
        if "user" in conditions and entry.user_id != conditions["user"]:
            continue
        if "project" in conditions and entry.project_id != conditions["project"]:
            continue
        if "task" in conditions and entry.task_id != conditions["task"]:
            continue
        first = conditions.get("first")
        last = conditions.get("last")
        day = entry.date_worked.date()
        if isinstance(first, date) and day < first:
            continue
        if isinstance(last, date) and day > last:
            continue
        result.append((entry.timesheet_line_id, entry.date_worked.isoformat()))
    return result


async def test_default_is_my_own_entries(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    rows = await ace.ok("gettimereport", guid=guid)
    assert _keys(rows) == _expected(user=ALICE)
    assert {r["CREATOR_USER_ID"] for r in rows} == {ALICE}
    assert rows == await ace.ok("gettimereport", guid=guid, view=1, filtermyworkitems=True)


async def test_row_fields(ace: AceCaller) -> None:
    guid = await ace.login("bob")
    row = (await ace.ok("gettimereport", guid=guid))[0]
    entry = DEMO.time_entries[
        (row["TIMESHEET_LINE_ID"], datetime.fromisoformat(row["DATE_WORKED"]))
    ]
    task = DEMO.tasks[entry.task_id]
    assert row["TASK_ID"] == entry.task_id
    assert row["TASK_RESUME"] == task.task_resume
    assert row["PROJECT_ID"] == entry.project_id
    assert row["CREATOR_USERNAME"] == "bob"
    assert row["TOTAL"] == round(entry.total, 2)
    assert row["COMPANY_ID"] == 101
    assert row["DATE_WORKED"].endswith("T00:00:00")
    expected = {
        "DATE_WORKED", "TIMESHEET_LINE_ID", "COMPANY_ID", "PROJECT_ID", "PROJECT_TYPE_NAME",
        "PROJECT_NUMBER", "PROJECT_NAME", "TASK_ID", "TASK_NUMBER", "TASK_RESUME",
        "TASK_GROUP_NAME", "TASK_TYPE_NAME", "TIME_TYPE_ID", "TIME_TYPE_NAME", "DATE_CREATED",
        "DATE_MODIFIED", "DATE_SUBMITTED", "COMMENT", "CREATOR_USER_ID", "CREATOR_USERNAME",
        "USER_GROUP_NAME", "CLIENT_NUMBER", "CLIENT_NAME", "APPROVAL_LEVEL", "TIME_STATUS_NAME",
        "DATE_APPROVAL_DATE", "APPROVAL_USER_ID", "APPROVAL_USERNAME", "TOTAL",
    }  # fmt: skip
    assert set(row) == expected


async def test_admin_sees_everyone_with_filtermyworkitems_false(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    assert await ace.ok("gettimereport", guid=guid) == []  # the admin logged no time
    rows = await ace.ok("gettimereport", guid=guid, filtermyworkitems=False)
    assert _keys(rows) == _expected()
    assert len(rows) == 60
    by_creator = await ace.ok(
        "gettimereport", guid=guid, filtermyworkitems=False, filtertimecreatoruserid=BOB
    )
    assert _keys(by_creator) == _expected(user=BOB)


async def test_date_window_and_other_filters(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    first, last = date(2025, 5, 19), date(2025, 5, 25)
    window = await ace.ok(
        "gettimereport",
        guid=guid,
        filtermyworkitems=False,
        filterdatefrom=first.isoformat(),
        filterdateto=last.isoformat(),
    )
    assert _keys(window) == _expected(first=first, last=last)
    assert window
    project = await ace.ok("gettimereport", guid=guid, filtermyworkitems=False, projectid=1001)
    assert _keys(project) == _expected(project=1001)
    task_id = next(iter(DEMO.time_entries.values())).task_id
    task = await ace.ok("gettimereport", guid=guid, filtermyworkitems=False, filtertaskid=task_id)
    assert _keys(task) == _expected(task=task_id)
    combined = await ace.ok(
        "gettimereport",
        guid=guid,
        filtermyworkitems=False,
        filtertimecreatoruserid=ALICE,
        filterdatefrom=first.isoformat(),
    )
    assert _keys(combined) == _expected(user=ALICE, first=first)
    line = window[0]["TIMESHEET_LINE_ID"]
    by_line = await ace.ok(
        "gettimereport", guid=guid, filtermyworkitems=False, timesheetlineid=line
    )
    assert {r["TIMESHEET_LINE_ID"] for r in by_line} == {line}


async def test_normal_user_sees_time_of_member_projects(ace: AceCaller) -> None:
    guid = await ace.login("bob")
    rows = await ace.ok("gettimereport", guid=guid, filtermyworkitems=False)
    visible = DEMO.projects_by_member[BOB]
    expected = [
        k for k, e in zip(_expected(), _sorted_entries(), strict=True) if e.project_id in visible
    ]
    assert _keys(rows) == expected
    assert any(r["CREATOR_USER_ID"] == ALICE for r in rows)


def _sorted_entries() -> list[TimeEntry]:
    return sorted(DEMO.time_entries.values(), key=lambda e: (e.date_worked, e.timesheet_line_id))


async def test_modified_filters_and_rounding(app: SandboxApp, local: AceCaller) -> None:
    demo = app.store["demo"]
    demo.add_time_entry(
        TimeEntry(
            timesheet_line_id=900,
            date_worked=datetime(2025, 6, 2),
            user_id=ALICE,
            project_id=1000,
            task_id=10000,
            total=1.23456,
            date_created=datetime(2025, 6, 20, 10),
            date_modified=datetime(2025, 6, 20, 10),
        )
    )
    guid = await local.login("alice")
    rows = await local.ok("gettimereport", guid=guid, filtermodifiedfrom="2025-06-20")
    assert len(rows) == 1
    assert rows[0]["TOTAL"] == 1.23
    assert rows[0]["TIMESHEET_LINE_ID"] == 900
    before = await local.ok("gettimereport", guid=guid, filtermodifiedto="2025-06-19")
    assert 900 not in {r["TIMESHEET_LINE_ID"] for r in before}
    assert len(before) == len(await local.ok("gettimereport", guid=guid)) - 1
    # re-adding the same (line, day) replaces the row
    demo.add_time_entry(TimeEntry(900, datetime(2025, 6, 2), ALICE, 1000, 10000, 2.0))
    again = await local.ok("gettimereport", guid=guid, timesheetlineid=900)
    assert [r["TOTAL"] for r in again] == [2.0]
    assert demo.delete_time_entry(900, datetime(2025, 6, 2))
    assert await local.ok("gettimereport", guid=guid, timesheetlineid=900) == []


async def test_only_view_1(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    for view in (2, 3):
        row = await ace.fail("gettimereport", guid=guid, view=view)
        assert row["ERRORNUMBER"] == 3001
        assert "view" in row["ERRORDESCRIPTION"]
    bad = await ace.fail("gettimereport", guid=guid, filterdatefrom="yesterday")
    assert bad["ERRORNUMBER"] == 3001


async def test_no_paging_in_time_report(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    rows = await ace.ok("gettimereport", guid=guid, pagenumber=1, rowsperpage=2)
    assert len(rows) == len(_expected(user=ALICE))
    assert "TOTAL_ROW_COUNT" not in rows[0]
