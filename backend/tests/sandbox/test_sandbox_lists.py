"""List functions: getusers, getprojects, getprojectinfo, gettasks, getassigneduserlist,
gettaskstatuses; paging, sorting, forcombo, date triples and visibility."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ace_sandbox.app import SandboxApp
from ace_sandbox.data import generate
from ace_sandbox.models import STATUS_COMPLETED, Project, Task, status_type_code
from ace_sandbox.store import Account
from ace_sandbox.testing import AceCaller

DEMO: Account = generate()["demo"]
ALICE, BOB, ADMIN = 2, 3, 1


def _ids(rows: list[dict[str, object]], field: str = "TASK_ID") -> list[object]:
    return [row[field] for row in rows]


# --- users ---------------------------------------------------------------------------------


async def test_getusers_rows(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    rows = await ace.ok("getusers", guid=guid)
    assert _ids(rows, "USERNAME") == ["admin", "alice", "bob"]
    assert rows[1] == {
        "USER_ID": 2,
        "USERNAME": "alice",
        "FIRST_NAME": "Alice",
        "LAST_NAME": "Anders",
        "EMAIL_ALERT": "alice@demo.example.com",
        "USER_GROUP_ID": 1,
        "USER_GROUP_NAME": "Staff",
        "ACTIVE": True,
        "ACCESS_LEVEL": 1,
        "ACCESS_STATUS": 1,
        "DATE_MODIFIED": DEMO.users[2].date_modified.isoformat(),
    }
    assert rows[0]["ACCESS_LEVEL"] == 2


async def test_getusers_filters(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    by_name = await ace.ok("getusers", guid=guid, filterusername="BOB")
    assert _ids(by_name, "USER_ID") == [3]
    assert _ids(await ace.ok("getusers", guid=guid, filteruserid=2), "USERNAME") == ["alice"]
    assert len(await ace.ok("getusers", guid=guid, filteractive=True)) == 3
    assert await ace.ok("getusers", guid=guid, filteractive=False) == []
    assert len(await ace.ok("getusers", guid=guid, filteraccessstatus=1)) == 3
    admins = await ace.ok("getusers", guid=guid, filteraccesslevel=2)
    assert _ids(admins, "USERNAME") == ["admin"]
    members = await ace.ok("getusers", guid=guid, filterassignedprojectid=1002)
    assert _ids(members, "USERNAME") == ["alice"]
    combo = await ace.ok("getusers", guid=guid, forcombo=True)
    assert combo[0] == {
        "USER_ID": 1,
        "USERNAME": "admin",
        "FIRST_NAME": "Ada",
        "LAST_NAME": "Admin",
    }


async def test_getusers_inactive_filters(app: SandboxApp, local: AceCaller) -> None:
    app.store["demo"].deactivate_user(BOB)
    guid = await local.login("admin")
    inactive = await local.ok("getusers", guid=guid, filteractive=False)
    assert _ids(inactive, "USERNAME") == ["bob"]
    assert inactive[0]["ACTIVE"] is False
    assert inactive[0]["ACCESS_STATUS"] == 3
    assert _ids(await local.ok("getusers", guid=guid, filteraccessstatus=3), "USER_ID") == [3]


async def test_getusers_paging(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    page = await ace.ok("getusers", guid=guid, pagenumber=2, rowsperpage=2)
    assert _ids(page, "USERNAME") == ["bob"]
    assert page[0]["TOTAL_ROW_COUNT"] == 3


# --- projects --------------------------------------------------------------------------------


async def test_getprojects_admin_sees_all(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    rows = await ace.ok("getprojects", guid=guid)
    assert _ids(rows, "PROJECT_ID") == [1000, 1001, 1002, 1003]
    first = rows[0]
    project = DEMO.projects[1000]
    assert first["PROJECT_NAME"] == "Website Redesign"
    assert first["PROJECT_STATUS_ID"] == project.project_status_id
    assert first["PROJECT_STATUS_NAME"] == "Not started"
    assert first["CLIENT_ID"] == project.client_id
    assert first["DATE_CREATED"] == project.date_created.isoformat()
    assert first["DATE_MODIFIED"] == project.date_modified.isoformat()
    assert first["ASSIGNED_USERS"] == "Alice Anders, Bob Brown"
    assert first["USERNAME"] == "admin"
    assert first["POURCENTAGE"] == project.pourcentage
    for name in ("PROJECT_NUMBER", "PROJECT_TYPE_NAME", "PROJECT_PRIORITY_ID", "CLIENT_NAME"):
        assert name in first


async def test_getprojects_normal_user_sees_member_projects(ace: AceCaller) -> None:
    alice = await ace.login("alice")
    bob = await ace.login("bob")
    assert _ids(await ace.ok("getprojects", guid=alice), "PROJECT_ID") == [1000, 1001, 1002]
    assert _ids(await ace.ok("getprojects", guid=bob), "PROJECT_ID") == [1000, 1001, 1003]
    row = await ace.fail("getprojectinfo", guid=bob, projectid=1002)
    assert row["ERRORNUMBER"] == 3003


async def test_getprojects_filters(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    one = await ace.ok("getprojects", guid=guid, projectid=1001)
    assert _ids(one, "PROJECT_ID") == [1001]
    on_hold = await ace.ok("getprojects", guid=guid, filterprojectstatusid="3")
    assert _ids(on_hold, "PROJECT_ID") == [1003]
    assert await ace.ok("getprojects", guid=guid, filtercompletedproject=True) == []
    assert len(await ace.ok("getprojects", guid=guid, filtercompletedproject=False)) == 4
    of_bob = await ace.ok("getprojects", guid=guid, filterassigneduserid=BOB)
    assert _ids(of_bob, "PROJECT_ID") == [1000, 1001, 1003]
    combo = await ace.ok("getprojects", guid=guid, forcombo=True)
    assert combo[0] == {"PROJECT_ID": 1000, "PROJECT_NAME": "Website Redesign"}
    mine = await ace.ok("getprojects", guid=guid, assignedonly=True)
    assert _ids(mine, "PROJECT_ID") == [1003]
    found = await ace.ok("getprojects", guid=guid, texttosearch="mobile")
    assert _ids(found, "PROJECT_ID") == [1001]


async def test_getprojects_date_triples(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    for field in ("DATE_CREATED", "DATE_MODIFIED"):
        values = sorted(getattr(p, field.lower()).date() for p in DEMO.projects.values())
        pivot = values[1]
        rows = await ace.ok(
            "getprojects",
            guid=guid,
            filterfirstdate=field.lower(),
            filterfirstdateoperator=3,
            filterfirstdatevalue=pivot.isoformat(),
        )
        expected = [
            p.project_id
            for p in DEMO.projects.values()
            if getattr(p, field.lower()).date() >= pivot
        ]
        assert _ids(rows, "PROJECT_ID") == expected
    bad = await ace.fail(
        "getprojects",
        guid=guid,
        filterfirstdate="DATE_TASK_MODIFIED",
        filterfirstdateoperator=3,
        filterfirstdatevalue="2025-01-01",
    )
    assert bad["ERRORNUMBER"] == 3001


async def test_deleted_projects(app: SandboxApp, local: AceCaller) -> None:
    demo = app.store["demo"]
    demo.delete_project(1001)
    guid = await local.login("admin")
    assert _ids(await local.ok("getprojects", guid=guid), "PROJECT_ID") == [1000, 1002, 1003]
    deleted = await local.ok("getprojects", guid=guid, deletedprojects=True)
    assert _ids(deleted, "PROJECT_ID") == [1001]
    assert (await local.fail("getprojectinfo", guid=guid, projectid=1001))["ERRORNUMBER"] == 3003
    tasks = await local.ok("gettasks", guid=guid)
    assert all(row["PROJECT_ID"] != 1001 for row in tasks)
    assert await local.ok("gettasks", guid=guid, projectid=1001) == []


async def test_completed_project_filter(app: SandboxApp, local: AceCaller) -> None:
    app.store["demo"].update_project(1002, project_status_id=4)
    guid = await local.login("admin")
    done = await local.ok("getprojects", guid=guid, filtercompletedproject=True)
    assert _ids(done, "PROJECT_ID") == [1002]
    assert done[0]["PROJECT_STATUS_NAME"] == "Completed"
    assert len(await local.ok("getprojects", guid=guid, filtercompletedproject=False)) == 3


async def test_getprojectinfo(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    rows = await ace.ok("getprojectinfo", guid=guid, projectid=1002)
    listed = await ace.ok("getprojects", guid=guid, projectid=1002)
    assert rows == listed
    assert (await ace.fail("getprojectinfo", guid=guid))["ERRORNUMBER"] == 1001
    assert (await ace.fail("getprojectinfo", guid=guid, projectid=9))["ERRORNUMBER"] == 3003


# --- tasks ---------------------------------------------------------------------------------


def _visible_tasks(user_id: int) -> list[int]:
    projects = DEMO.projects_by_member.get(user_id, set())
    return sorted(t.task_id for t in DEMO.tasks.values() if t.project_id in projects)


async def test_gettasks_row(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    rows = await ace.ok("gettasks", guid=guid, taskid=10021)
    assert len(rows) == 1
    row = rows[0]
    task = DEMO.tasks[10021]
    assert row["TASK_ID"] == 10021
    assert row["PROJECT_ID"] == task.project_id
    assert row["PROJECT_NAME"] == "Mobile App"
    assert row["TASK_RESUME"] == task.task_resume
    status = DEMO.task_statuses[task.task_status_id]
    assert row["TASK_STATUS_ID"] == task.task_status_id
    assert row["TASK_STATUS_NAME"] == status.name
    assert row["STATUS_TYPE_ID"] == status_type_code(task.project_id, status.completed_status)
    assert "STATUS_TYPE_NAME" not in row
    assert row["POURCENTAGE_DONE"] == row["ACTUAL_PERCENT_DONE"] == task.pourcentage_done
    assert 0 < row["POURCENTAGE_DONE"] < 10  # tenths: an in-progress task
    assert row["ASSIGNED"] == "Bob Brown, Alice Anders"
    assert row["REVIEWER"] == ""
    assert row["DATE_TASK_MODIFIED"] == task.date_modified.isoformat()
    assert row["DATE_TASK_CREATED"] == task.date_created.isoformat()
    assert row["ESTIMATED_TIME"] == task.estimated_time
    assert row["ACTUAL_HOURS"] == task.actual_hours
    expected_fields = {
        "TASK_NUMBER", "TASK_DESC_CREATOR", "PROJECT_NUMBER", "TASK_GROUP_ID",
        "TASK_GROUP_NAME", "TASK_TYPE_ID", "TASK_TYPE_NAME", "TASK_STATUS_NAME",
        "TASK_PRIORITY_ID", "TASK_PRIORITY_NAME", "DATE_EXPECTED_START_TASK",
        "DATE_EXPECTED_END_TASK", "DATE_ACTUAL_START_DATE", "DATE_ACTUAL_END_DATE",
        "POURCENTAGE_DONE", "ACTUAL_PERCENT_DONE", "USER_CREATOR_ID", "USERNAME",
        "UPDATE_USER_ID", "UPDATE_USERNAME",
    }  # fmt: skip
    assert expected_fields <= set(row)
    reviewed = await ace.ok("gettasks", guid=guid, taskid=10019)
    assert reviewed[0]["REVIEWER"] == "Ada Admin"


async def test_gettasks_visibility(ace: AceCaller) -> None:
    admin = await ace.login("admin")
    assert _ids(await ace.ok("gettasks", guid=admin)) == sorted(DEMO.tasks)
    for name, user_id in (("alice", ALICE), ("bob", BOB)):
        guid = await ace.login(name)
        assert _ids(await ace.ok("gettasks", guid=guid)) == _visible_tasks(user_id)
    bob = await ace.login("bob")
    assert await ace.ok("gettasks", guid=bob, projectid=1002) == []
    assert await ace.ok("gettasks", guid=bob, taskid=10002) == []
    only = await ace.ok("gettasks", guid=admin, assignedprojectsonly=True)
    assert _ids(only) == _visible_tasks(ADMIN)


async def test_filterassigneduserid(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    for user_id in (ALICE, BOB, ADMIN):
        rows = await ace.ok("gettasks", guid=guid, filterassigneduserid=user_id)
        expected = sorted(
            tid for tid, assigned in DEMO.assignments.items()
            if user_id in assigned and assigned[user_id].is_assignee
        )  # fmt: skip
        assert _ids(rows) == expected
    assert await ace.ok("gettasks", guid=guid, filterassigneduserid=ADMIN) == []
    reviewed = await ace.ok("gettasks", guid=guid, filterrevieweruserid=ADMIN)
    assert _ids(reviewed) == [10019, 10023]


async def test_gettasks_other_filters(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    by_project = await ace.ok("gettasks", guid=guid, projectid=1002)
    assert _ids(by_project) == sorted(
        t.task_id for t in DEMO.tasks.values() if t.project_id == 1002
    )
    wanted = sorted({t.task_status_id for t in DEMO.tasks.values()})[:2]
    by_status = await ace.ok("gettasks", guid=guid, filtertaskstatusid=",".join(map(str, wanted)))
    assert _ids(by_status) == sorted(
        t.task_id for t in DEMO.tasks.values() if t.task_status_id in wanted
    )
    assert by_status
    combined = await ace.ok(
        "gettasks", guid=guid, projectid=1000, filterassigneduserid=BOB, filtertaskcompleted=False
    )
    assert all(row["PROJECT_ID"] == 1000 and "Bob Brown" in row["ASSIGNED"] for row in combined)
    assert all(not DEMO.task_statuses[row["TASK_STATUS_ID"]].completed for row in combined)
    assert combined
    done = await ace.ok("gettasks", guid=guid, filtertaskcompleted=True)
    assert _ids(done) == sorted(
        t.task_id
        for t in DEMO.tasks.values()
        if DEMO.task_statuses[t.task_status_id].completed_status == STATUS_COMPLETED
    )


async def test_gettasks_forcombo(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    combo = await ace.ok("gettasks", guid=guid, forcombo=1, pagenumber=1, rowsperpage=2)
    first = DEMO.tasks[10000]
    assert combo[0] == {
        "TASK_ID": 10000,
        "TASK_RESUME": first.task_resume,
        "PROJECT_ID": 1000,
        "TOTAL_ROW_COUNT": len(_visible_tasks(ALICE)),
    }
    assert set(combo[1]) == {"TASK_ID", "TASK_RESUME", "PROJECT_ID", "TOTAL_ROW_COUNT"}


def _expected(field: str, op: int, bound: date) -> list[int]:
    checks = {
        1: lambda d: d <= bound,
        2: lambda d: d < bound,
        3: lambda d: d >= bound,
        4: lambda d: d > bound,
        5: lambda d: d == bound,
    }
    attr = "date_modified" if field == "DATE_TASK_MODIFIED" else "date_created"
    return sorted(t.task_id for t in DEMO.tasks.values() if checks[op](getattr(t, attr).date()))


@pytest.mark.parametrize("op", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("field", ["DATE_TASK_MODIFIED", "date_task_created"])
async def test_gettasks_date_operators(ace: AceCaller, field: str, op: int) -> None:
    guid = await ace.login("admin")
    pivot = sorted(t.date_modified.date() for t in DEMO.tasks.values())[12]
    if field != "DATE_TASK_MODIFIED":
        pivot = sorted(t.date_created.date() for t in DEMO.tasks.values())[12]
    rows = await ace.ok(
        "gettasks",
        guid=guid,
        filterfirstdate=field,
        filterfirstdateoperator=op,
        filterfirstdatevalue=pivot.isoformat(),
    )
    assert _ids(rows) == _expected(field.upper(), op, pivot)


async def test_gettasks_date_value_with_time_compares_days(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    task = DEMO.tasks[10005]
    day = task.date_modified.date()
    late = datetime.combine(day, datetime.max.time()).replace(microsecond=0)
    rows = await ace.ok(
        "gettasks",
        guid=guid,
        filterfirstdate="DATE_TASK_MODIFIED",
        filterfirstdateoperator=5,
        filterfirstdatevalue=late.isoformat() + "Z",
    )
    assert 10005 in _ids(rows)
    assert _ids(rows) == _expected("DATE_TASK_MODIFIED", 5, day)


async def test_gettasks_two_triples_are_anded(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    low, high = date(2025, 5, 10), date(2025, 5, 31)
    rows = await ace.ok(
        "gettasks",
        guid=guid,
        filterfirstdate="DATE_TASK_MODIFIED",
        filterfirstdateoperator=3,
        filterfirstdatevalue=low.isoformat(),
        filterseconddate="DATE_TASK_MODIFIED",
        filterseconddateoperator=1,
        filterseconddatevalue=high.isoformat(),
    )
    expected = sorted(
        t.task_id for t in DEMO.tasks.values() if low <= t.date_modified.date() <= high
    )
    assert _ids(rows) == expected
    assert 0 < len(expected) < len(DEMO.tasks)


async def test_gettasks_bad_date_triples_fail(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    unknown_field = await ace.fail(
        "gettasks",
        guid=guid,
        filterfirstdate="DATE_CREATED",
        filterfirstdateoperator=3,
        filterfirstdatevalue="2025-05-01",
    )
    assert unknown_field["ERRORNUMBER"] == 3001
    for op in (0, 6, -1):
        row = await ace.fail(
            "gettasks",
            guid=guid,
            filterfirstdate="DATE_TASK_MODIFIED",
            filterfirstdateoperator=op,
            filterfirstdatevalue="2025-05-01",
        )
        assert row["ERRORNUMBER"] == 3001
    bad_value = await ace.fail(
        "gettasks",
        guid=guid,
        filterfirstdate="DATE_TASK_MODIFIED",
        filterfirstdateoperator=3,
        filterfirstdatevalue="01/05/2025",
    )
    assert bad_value["ERRORNUMBER"] == 3001
    incomplete = await ace.fail(
        "gettasks", guid=guid, filterfirstdate="DATE_TASK_MODIFIED", filterfirstdateoperator=3
    )
    assert incomplete["ERRORNUMBER"] == 1001


# --- paging and sorting --------------------------------------------------------------------


async def test_paging_edge_cases(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    everything = _ids(await ace.ok("gettasks", guid=guid))
    assert len(everything) == 24
    pages = []
    for number in (1, 2, 3):  # 24 = 3 x 8: exact multiple
        page = await ace.ok("gettasks", guid=guid, pagenumber=number, rowsperpage=8)
        assert len(page) == 8
        assert {row["TOTAL_ROW_COUNT"] for row in page} == {24}
        pages.extend(_ids(page))
    assert pages == everything
    assert await ace.ok("gettasks", guid=guid, pagenumber=4, rowsperpage=8) == []
    last = await ace.ok("gettasks", guid=guid, pagenumber=3, rowsperpage=10)
    assert _ids(last) == everything[20:]
    assert await ace.ok("gettasks", guid=guid, pagenumber=99, rowsperpage=10) == []
    for bad in (0, -1):
        row = await ace.fail("gettasks", guid=guid, pagenumber=bad, rowsperpage=10)
        assert row["ERRORNUMBER"] == 3001
    assert (await ace.fail("gettasks", guid=guid, pagenumber=1, rowsperpage=0))[
        "ERRORNUMBER"
    ] == 3001
    unpaged = await ace.ok("gettasks", guid=guid, pagenumber="NULL", rowsperpage=5)
    assert _ids(unpaged) == everything
    assert "TOTAL_ROW_COUNT" not in unpaged[0]
    default_size = await ace.ok("gettasks", guid=guid, pagenumber=1)
    assert len(default_size) == 24
    one = await ace.ok("gettasks", guid=guid, pagenumber=1, rowsperpage=1)
    assert one[0]["TOTAL_ROW_COUNT"] == 24
    empty_total = await ace.ok("gettasks", guid=guid, projectid=4242, pagenumber=1, rowsperpage=10)
    assert empty_total == []


async def test_sortorder(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    rows = await ace.ok("gettasks", guid=guid, sortorder="task_resume desc, PROJECT_ID")
    keys = [(r["TASK_RESUME"].casefold(), -r["PROJECT_ID"], -r["TASK_ID"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    by_project = await ace.ok("gettasks", guid=guid, sortorder="PROJECT_ID ASC")
    pairs = [(r["PROJECT_ID"], r["TASK_ID"]) for r in by_project]
    assert pairs == sorted(pairs)
    paged = []
    for number in (1, 2, 3):
        paged.extend(
            await ace.ok(
                "gettasks", guid=guid, sortorder="PROJECT_ID", pagenumber=number, rowsperpage=10
            )
        )
    assert _ids(paged) == _ids(by_project)
    projects = await ace.ok("getprojects", guid=guid, sortorder="project_name")
    assert _ids(projects, "PROJECT_NAME") == sorted(p.project_name for p in DEMO.projects.values())
    bad = await ace.fail("gettasks", guid=guid, sortorder="NOPE")
    assert bad["ERRORNUMBER"] == 3001
    bad_direction = await ace.fail("gettasks", guid=guid, sortorder="TASK_ID sideways")
    assert bad_direction["ERRORNUMBER"] == 3001


async def test_paging_sees_changes_between_pages(app: SandboxApp, local: AceCaller) -> None:
    guid = await local.login("admin")
    first = await local.ok("gettasks", guid=guid, pagenumber=1, rowsperpage=10)
    demo = app.store["demo"]
    demo.add_task(
        Task(
            task_id=9999,
            project_id=1000,
            task_resume="Inserted first",
            date_modified=datetime.now(),
        )
    )
    second = await local.ok("gettasks", guid=guid, pagenumber=2, rowsperpage=10)
    assert second[0]["TOTAL_ROW_COUNT"] == 25
    assert second[0]["TASK_ID"] == first[-1]["TASK_ID"]  # rows shifted by one


# --- assignees and statuses ----------------------------------------------------------------


def _user_row(user_id: int) -> dict[str, object]:
    user = DEMO.users[user_id]
    return {
        "USER_ID": user_id,
        "USERNAME": user.username,
        "FIRST_NAME": user.first_name,
        "LAST_NAME": user.last_name,
    }


async def test_getassigneduserlist_lists_assignable_users(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    by_task = await ace.ok("getassigneduserlist", guid=guid, taskid=10019)
    members = sorted(DEMO.project_members[DEMO.tasks[10019].project_id])
    assert by_task == [_user_row(uid) for uid in members]  # the admin reviewer is no member
    by_project = await ace.ok("getassigneduserlist", guid=guid, projectid=1001)
    assert by_project == [_user_row(uid) for uid in sorted(DEMO.project_members[1001])]
    unassigned = next(
        t
        for t in DEMO.tasks.values()
        if t.project_id == 1000 and len(DEMO.assignments[t.task_id]) < 2
    )
    rows = await ace.ok("getassigneduserlist", guid=guid, taskid=unassigned.task_id)
    assert {r["USER_ID"] for r in rows} == DEMO.project_members[1000]  # may, not is, assigned


async def test_getassigneduserlist_params(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    both = await ace.ok("getassigneduserlist", guid=guid, projectid=1001, taskid=10021)
    assert {r["USER_ID"] for r in both} == {ALICE, BOB}
    mismatch = await ace.ok("getassigneduserlist", guid=guid, projectid=1000, taskid=10021)
    assert mismatch == []
    missing = await ace.fail("getassigneduserlist", guid=guid)
    assert missing["ERRORNUMBER"] == 1001
    bob = await ace.login("bob")
    assert await ace.ok("getassigneduserlist", guid=bob, projectid=1002) == []


async def test_getassigneduserlist_inactive_users(app: SandboxApp, local: AceCaller) -> None:
    app.store["demo"].deactivate_user(ALICE)
    guid = await local.login("admin")
    everyone = await local.ok("getassigneduserlist", guid=guid, taskid=10021)
    active = await local.ok(
        "getassigneduserlist", guid=guid, taskid=10021, includeinactivesusers=False
    )
    assert {r["USER_ID"] for r in everyone} == {ALICE, BOB}
    assert {r["USER_ID"] for r in active} == {BOB}


async def test_assignment_changes_show_up_and_bump_modified(
    app: SandboxApp, local: AceCaller
) -> None:
    demo = app.store["demo"]
    stamp = datetime(2025, 7, 1, 9, 30)
    demo.assign(10003, ALICE, assigned_hours=4, at=stamp)
    guid = await local.login("admin")
    row = (await local.ok("gettasks", guid=guid, taskid=10003))[0]
    assert row["ASSIGNED"] == "Bob Brown, Alice Anders"
    assert row["DATE_TASK_MODIFIED"] == "2025-07-01T09:30:00"
    recent = await local.ok(
        "gettasks",
        guid=guid,
        filterfirstdate="DATE_TASK_MODIFIED",
        filterfirstdateoperator=3,
        filterfirstdatevalue="2025-07-01",
    )
    assert _ids(recent) == [10003]
    alice = await local.login("alice")
    assert 10003 in _ids(await local.ok("gettasks", guid=alice))  # membership follows
    demo.unassign(10003, ALICE, at=stamp + timedelta(days=1))
    row = (await local.ok("gettasks", guid=guid, taskid=10003))[0]
    assert row["ASSIGNED"] == "Bob Brown"
    assert row["DATE_TASK_MODIFIED"] == "2025-07-02T09:30:00"
    assert 10003 not in _ids(await local.ok("gettasks", guid=guid, filterassigneduserid=ALICE))


async def test_gettaskstatuses_per_project(ace: AceCaller) -> None:
    guid = await ace.login("bob")
    lists = {}
    for project_id in (1000, 1001, 1003):
        rows = await ace.ok("gettaskstatuses", guid=guid, projectid=project_id)
        assert rows == [
            {
                "TASK_STATUS_ID": s.task_status_id,
                "TASK_STATUS_NAME": s.name,
                "COMPLETED_STATUS": s.completed_status,
                "SORT_ORDER": s.sort_order,
            }
            for s in DEMO.task_status_list(project_id)
        ]
        lists[project_id] = {r["TASK_STATUS_NAME"]: r["COMPLETED_STATUS"] for r in rows}
    assert lists[1000]["Review"] == 0  # waiting here,
    assert lists[1001]["Review"] == 2  # in progress there
    assert lists[1003]["Done"] == lists[1003]["Cancelled"] == 1
    assert len({len(v) for v in lists.values()}) > 1
    missing = await ace.fail("gettaskstatuses", guid=guid)
    assert missing["ERRORNUMBER"] == 1001


async def test_task_rows_match_their_project_status_list(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    for row in await ace.ok("gettasks", guid=guid):
        listed = await ace.ok("gettaskstatuses", guid=guid, projectid=row["PROJECT_ID"])
        by_id = {s["TASK_STATUS_ID"]: s for s in listed}
        assert by_id[row["TASK_STATUS_ID"]]["TASK_STATUS_NAME"] == row["TASK_STATUS_NAME"]


async def test_status_type_id_fits_no_fixed_table(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    codes_by_kind: dict[int, set[int]] = {}
    for row in await ace.ok("gettasks", guid=guid):
        kind = DEMO.task_statuses[row["TASK_STATUS_ID"]].completed_status
        codes_by_kind.setdefault(kind, set()).add(row["STATUS_TYPE_ID"])
    assert all(len(codes) > 1 for codes in codes_by_kind.values())


async def test_unlisted_task_status(app: SandboxApp, local: AceCaller) -> None:
    app.store["demo"].set_task_status(10000, 777, "Parked")
    guid = await local.login("admin")
    row = (await local.ok("gettasks", guid=guid, taskid=10000))[0]
    assert (row["TASK_STATUS_ID"], row["TASK_STATUS_NAME"]) == (777, "Parked")
    listed = await local.ok("gettaskstatuses", guid=guid, projectid=row["PROJECT_ID"])
    assert 777 not in {s["TASK_STATUS_ID"] for s in listed}


async def test_new_project_and_task_via_store(app: SandboxApp, local: AceCaller) -> None:
    demo = app.store["demo"]
    demo.add_project(Project(project_id=2000, project_name="Secret"), members=[ALICE])
    demo.add_task(Task(task_id=20000, project_id=2000, task_resume="Hidden from bob"))
    demo.assign(20000, ALICE, bump=False)
    bob = await local.login("bob")
    alice = await local.login("alice")
    assert 20000 not in _ids(await local.ok("gettasks", guid=bob))
    assert 20000 in _ids(await local.ok("gettasks", guid=alice, filterassigneduserid=ALICE))
    demo.delete_task(20000)
    assert await local.ok("gettasks", guid=alice, taskid=20000) == []
