"""Behaviour switches: the page cap, XML answers to ``format=iso8601``, task rows without
TASK_STATUS_ID, ``forcombo`` against user filters, and ``getusers`` for administrators only."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest

from ace_sandbox.__main__ import parser
from ace_sandbox.app import create_app
from ace_sandbox.data import generate
from ace_sandbox.server import build_app
from ace_sandbox.testing import AceCaller, SandboxServer

DEMO = generate()["demo"]
ALICE, BOB = 2, 3


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(generate()) as server:
        yield server


@pytest.fixture
async def http(server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the module's server; config and faults are restored afterwards."""
    saved = replace(server.app.config)
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        yield client
    server.app.config = saved
    server.faults.reset()


@pytest.fixture
def ace(http: httpx.AsyncClient) -> AceCaller:
    return AceCaller(http)


def _ids(rows: list[dict[str, object]], field: str = "TASK_ID") -> list[object]:
    return [row[field] for row in rows]


# --- page cap ------------------------------------------------------------------------------


async def test_page_cap_limits_paged_requests(server: SandboxServer, ace: AceCaller) -> None:
    guid = await ace.login("admin")
    server.app.config.max_rows_per_page = 5
    everything = sorted(DEMO.tasks)
    first = await ace.ok("gettasks", guid=guid, pagenumber=1, rowsperpage=10)
    assert _ids(first) == everything[:5]
    assert {row["TOTAL_ROW_COUNT"] for row in first} == {len(everything)}
    second = await ace.ok("gettasks", guid=guid, pagenumber=2, rowsperpage=10)
    assert _ids(second) == everything[5:10]  # offsets computed with the cap
    last = await ace.ok("gettasks", guid=guid, pagenumber=5, rowsperpage=500)
    assert _ids(last) == everything[20:]
    assert await ace.ok("gettasks", guid=guid, pagenumber=6, rowsperpage=10) == []
    small = await ace.ok("gettasks", guid=guid, pagenumber=2, rowsperpage=3)
    assert _ids(small) == everything[3:6]


async def test_page_cap_cuts_unpaged_lists(server: SandboxServer, ace: AceCaller) -> None:
    guid = await ace.login("admin")
    server.app.config.max_rows_per_page = 2
    assert _ids(await ace.ok("gettasks", guid=guid)) == sorted(DEMO.tasks)[:2]
    assert _ids(await ace.ok("getusers", guid=guid), "USER_ID") == [1, 2]
    assert _ids(await ace.ok("getprojects", guid=guid), "PROJECT_ID") == [1000, 1001]
    users = await ace.ok("getusers", guid=guid, pagenumber=2, rowsperpage=50)
    assert _ids(users, "USER_ID") == [3]
    assert users[0]["TOTAL_ROW_COUNT"] == 3
    time_rows = await ace.ok("gettimereport", guid=guid, view=1, filtermyworkitems=False)
    assert len(time_rows) == len(DEMO.time_entries)  # no paging, so no cap


def test_page_cap_options() -> None:
    assert parser().parse_args(["--max-rows-per-page", "7"]).max_rows_per_page == 7
    assert parser().parse_args([]).max_rows_per_page is None
    with pytest.raises(SystemExit):
        parser().parse_args(["--max-rows-per-page", "0"])
    assert build_app(max_rows_per_page=7).config.max_rows_per_page == 7


def test_behaviour_switch_options() -> None:
    defaults = parser().parse_args([])
    assert not defaults.task_rows_without_status_id
    assert not defaults.forcombo_keeps_user_filters
    assert not defaults.getusers_admin_only
    args = parser().parse_args(
        [
            "--task-rows-without-status-id", "--forcombo-keeps-user-filters",
            "--getusers-admin-only", "--fault", "iso8601_as_html=true",
        ]
    )  # fmt: skip
    assert (args.task_rows_without_status_id, args.getusers_admin_only) == (True, True)
    assert args.forcombo_keeps_user_filters
    assert dict(args.fault) == {"iso8601_as_html": True}
    config = build_app(
        task_rows_without_status_id=True,
        forcombo_ignores_user_filters=False,
        getusers_admin_only=True,
    ).config
    assert config.task_rows_without_status_id
    assert not config.forcombo_ignores_user_filters
    assert config.getusers_admin_only


# --- XML for format=iso8601 --------------------------------------------------------------


async def _post(http: httpx.AsyncClient, **data: str) -> httpx.Response:
    response = await http.post("/", data=data)
    assert response.status_code == 200
    return response


def _xml_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith("<?xml ")
    root = ET.fromstring(response.content)
    assert root.tag == "results"
    assert all(child.tag == "row" for child in root)
    return [dict(child.attrib) for child in root]


async def test_iso8601_as_xml(server: SandboxServer, http: httpx.AsyncClient) -> None:
    server.faults.set(iso8601_as_xml=True)
    login = _xml_rows(
        await _post(
            http,
            fct="login",
            format="iso8601",
            accountid="demo",
            username="admin",
            password="demo-password",
        )
    )
    guid = login[0]["GUID"]
    rows = _xml_rows(await _post(http, fct="gettasks", format="iso8601", guid=guid, taskid="10021"))
    task = DEMO.tasks[10021]
    assert rows[0]["TASK_ID"] == "10021"
    assert rows[0]["TASK_RESUME"] == task.task_resume
    assert rows[0]["DATE_TASK_MODIFIED"] == task.date_modified.isoformat()
    assert rows[0]["DATE_ACTUAL_END_DATE"] == ""  # every field, nulls empty
    failed = _xml_rows(await _post(http, fct="gettasks", format="iso8601", guid="nope"))
    assert failed == [{"ERRORNUMBER": "2001", "ERRORDESCRIPTION": "invalid or expired GUID"}]
    for fmt in ("json", "JSON"):
        answer = await _post(http, fct="gettasks", format=fmt, guid=guid, taskid="10021")
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["results"][0]["DATE_TASK_MODIFIED"].startswith("/Date(")


async def test_iso8601_as_xml_honours_fcts(
    server: SandboxServer, http: httpx.AsyncClient, ace: AceCaller
) -> None:
    switched = await http.post(
        "/_sandbox/faults", json={"iso8601_as_xml": True, "fcts": "gettasks"}
    )
    assert switched.json()["iso8601_as_xml"] is True
    guid = await ace.login("admin")  # still JSON
    rows = _xml_rows(await _post(http, fct="gettasks", format="iso8601", guid=guid))
    assert len(rows) == len(DEMO.tasks)
    assert await ace.ok("getusers", guid=guid)
    bad = await http.post("/_sandbox/faults", json={"iso8601_as_xml": "yes"})
    assert bad.status_code == 400


async def test_iso8601_as_html() -> None:
    app = create_app(generate())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as http:
        ace = AceCaller(http)
        guid = await ace.login("admin")
        app.faults.set(iso8601_as_html=True, iso8601_as_xml=True, fcts=["savetask", "gettasks"])
        page = await _post(http, fct="gettasks", format="iso8601", guid=guid, taskid="10021")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text.startswith("<!DOCTYPE html>")
        answer = await _post(http, fct="gettasks", format="json", guid=guid, taskid="10021")
        assert answer.json()["results"][0]["TASK_ID"] == 10021
        hidden = await _post(
            http, fct="savetask", format="iso8601", guid=guid, taskid="10021", addcomments="Hi"
        )
        assert hidden.headers["content-type"].startswith("text/html")
        comments = app.store["demo"].task_comments[10021]
        assert [c.text for c in comments] == ["Hi"]  # the write still happened
        assert await ace.ok("getusers", guid=guid)  # outside fcts: JSON


# --- task rows without TASK_STATUS_ID ------------------------------------------------------


async def test_task_rows_without_status_id(server: SandboxServer, ace: AceCaller) -> None:
    guid = await ace.login("admin")
    server.app.config.task_rows_without_status_id = True
    rows = await ace.ok("gettasks", guid=guid, projectid=1000)
    assert rows
    assert all("TASK_STATUS_ID" not in row for row in rows)
    listed = await ace.ok("gettaskstatuses", guid=guid, projectid=1000)
    by_name = {s["TASK_STATUS_NAME"]: s["TASK_STATUS_ID"] for s in listed}
    for row in rows:  # a client matches by name
        assert by_name[row["TASK_STATUS_NAME"]] == DEMO.tasks[row["TASK_ID"]].task_status_id
    server.app.config.task_rows_without_status_id = False
    assert all("TASK_STATUS_ID" in row for row in await ace.ok("gettasks", guid=guid))


# --- forcombo and user filters -----------------------------------------------------------


async def test_forcombo_ignores_user_filters(server: SandboxServer, ace: AceCaller) -> None:
    guid = await ace.login("admin")
    alices = sorted(DEMO.tasks_by_assignee[ALICE])
    assert _ids(await ace.ok("gettasks", guid=guid, filterassigneduserid=ALICE)) == alices
    combo = await ace.ok("gettasks", guid=guid, forcombo=True, filterassigneduserid=ALICE)
    assert _ids(combo) == sorted(DEMO.tasks)
    reviewed = await ace.ok("gettasks", guid=guid, forcombo=True, filterrevieweruserid=1)
    assert _ids(reviewed) == sorted(DEMO.tasks)
    server.app.config.forcombo_ignores_user_filters = False
    combo = await ace.ok("gettasks", guid=guid, forcombo=True, filterassigneduserid=ALICE)
    assert _ids(combo) == alices


# --- getusers for administrators only ------------------------------------------------------


async def test_getusers_admin_only(server: SandboxServer, ace: AceCaller) -> None:
    alice = await ace.login("alice")
    admin = await ace.login("admin")
    assert len(await ace.ok("getusers", guid=alice)) == 3  # default: everyone may list
    server.app.config.getusers_admin_only = True
    refused = await ace.fail("getusers", guid=alice)
    assert refused["ERRORNUMBER"] == 4004
    assert len(await ace.ok("getusers", guid=admin)) == 3
