"""Endpoint mechanics: GET/POST, parameter folding, NULL and booleans, envelope, formats."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_sandbox.app import SandboxApp, SandboxConfig, create_app
from ace_sandbox.data import DEMO_PASSWORD, generate
from ace_sandbox.models import STATUS_WAITING
from ace_sandbox.testing import AceCaller, SandboxServer

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
MS = re.compile(r"^/Date\((\d+)\)/$")
LOGIN = {"accountid": "demo", "username": "alice", "password": DEMO_PASSWORD}


async def test_get_and_post_give_the_same_answer(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    by_post = await ace.call("gettasks", "POST", guid=guid)
    by_get = await ace.call("gettasks", "GET", guid=guid)
    assert by_post["status"] == "ok"
    assert by_post == by_get


async def test_login_works_by_get_too(ace: AceCaller) -> None:
    body = await ace.call("login", "GET", **LOGIN)
    assert body["status"] == "ok"


async def test_form_wins_over_query(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post(
            "/",
            params={"fct": "login", "format": "iso8601", "username": "bob", "accountid": "demo"},
            data={"username": "alice", "password": DEMO_PASSWORD},
        )
    body = response.json()
    assert body["status"] == "ok"
    assert body["results"][0]["USERNAME"] == "alice"


async def test_parameter_names_and_fct_are_case_insensitive(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post(
            "/",
            data={
                "FCT": "LogIn",
                "Format": "ISO8601",
                "AccountId": "DEMO",
                "UserName": "Alice",
                "PassWord": DEMO_PASSWORD,
            },
        )
        login = response.json()
        guid = login["results"][0]["GUID"]
        tasks = await client.get(
            "/",
            params={
                "fct": "getTasks",
                "GUID": guid,
                "FORMAT": "iso8601",
                "Filterassigneduserid": "2",
                "PageNumber": "1",
                "ROWSPERPAGE": "3",
            },
        )
    assert login["status"] == "ok"
    assert login["results"][0]["USERNAME"] == "alice"
    body = tasks.json()
    assert body["status"] == "ok"
    assert len(body["results"]) == 3
    assert all("TOTAL_ROW_COUNT" in row for row in body["results"])


async def test_null_empty_and_missing_are_the_same(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    plain = await ace.ok("gettasks", guid=guid)
    nulls = await ace.ok(
        "gettasks",
        guid=guid,
        projectid="NULL",
        taskid="null",
        filterassigneduserid="",
        pagenumber="Null",
        rowsperpage="NULL",
        filtertaskcompleted=None,
        filterfirstdate="NULL",
        filterfirstdateoperator="NULL",
        filterfirstdatevalue="NULL",
    )
    assert nulls == plain
    assert "TOTAL_ROW_COUNT" not in plain[0]


async def test_booleans_accept_true_false_one_zero_any_case(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    done = [r["TASK_ID"] for r in await ace.ok("gettasks", guid=guid, filtertaskcompleted="1")]
    for spelling in ("true", "TRUE", "True"):
        rows = await ace.ok("gettasks", guid=guid, filtertaskcompleted=spelling)
        assert [r["TASK_ID"] for r in rows] == done
    not_done = await ace.ok("gettasks", guid=guid, filtertaskcompleted="FaLsE")
    zero = await ace.ok("gettasks", guid=guid, filtertaskcompleted="0")
    assert not_done == zero
    assert set(done).isdisjoint(r["TASK_ID"] for r in not_done)
    assert len(done) + len(not_done) == len(await ace.ok("gettasks", guid=guid))
    bad = await ace.fail("gettasks", guid=guid, filtertaskcompleted="yes")
    assert bad["ERRORNUMBER"] == 3001


async def test_bad_integer_fails_with_3001(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    row = await ace.fail("gettasks", guid=guid, projectid="abc")
    assert row["ERRORNUMBER"] == 3001
    assert "projectid" in row["ERRORDESCRIPTION"]


async def test_envelope_shape_and_content_type(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post("/", data={"fct": "login", "format": "iso8601", **LOGIN})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["status", "results"]
    assert isinstance(body["results"], list)
    for name in body["results"][0]:
        assert name == name.upper()


async def test_fail_is_http_200_with_error_row(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post("/", data={"fct": "nosuchfunction", "format": "iso8601"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "fail",
        "results": [{"ERRORNUMBER": 3002, "ERRORDESCRIPTION": "unknown function: nosuchfunction"}],
    }


async def test_missing_fct_fails_with_1001(ace: AceCaller) -> None:
    body = await ace.client.post("/", data={"format": "iso8601"})
    assert body.json()["results"][0]["ERRORNUMBER"] == 1001


async def test_unsupported_or_missing_format_fails_clearly(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        for fmt in ("xml", "DS", "json2", None):
            data = {"fct": "login", **LOGIN}
            if fmt is not None:
                data["format"] = fmt
            response = await client.post("/", data=data)
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "fail"
            assert body["results"][0]["ERRORNUMBER"] == 3004
            assert "iso8601" in body["results"][0]["ERRORDESCRIPTION"]


async def test_iso8601_dates_are_naive_seconds(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    rows = await ace.ok("gettasks", guid=guid)
    for row in rows:
        assert ISO.match(row["DATE_TASK_MODIFIED"])
        assert ISO.match(row["DATE_TASK_CREATED"])


async def test_json_format_dates_are_ms_wall_clock(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    iso = await ace.ok("gettasks", guid=guid)
    js = await ace.ok("gettasks", guid=guid, format="JSON")
    assert len(iso) == len(js)
    for a, b in zip(iso, js, strict=True):
        match = MS.match(b["DATE_TASK_MODIFIED"])
        assert match is not None
        wall = datetime.fromisoformat(a["DATE_TASK_MODIFIED"])
        assert int(match.group(1)) == int((wall - datetime(1970, 1, 1)).total_seconds() * 1000)
        assert b["TASK_ID"] == a["TASK_ID"]


_WAITING_STATUSES = {
    s.task_status_id
    for s in generate()["demo"].task_statuses.values()
    if s.completed_status == STATUS_WAITING
}


async def test_empty_dates_are_null_by_default(ace: AceCaller) -> None:
    guid = await ace.login("admin")
    rows = await ace.ok("gettasks", guid=guid)
    waiting = [r for r in rows if r["TASK_STATUS_ID"] in _WAITING_STATUSES]
    assert waiting
    assert all(r["DATE_ACTUAL_START_DATE"] is None for r in waiting)


async def test_empty_dates_can_be_empty_strings() -> None:
    app = create_app(generate(), SandboxConfig(empty_dates_as_string=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        ace = AceCaller(client)
        guid = await ace.login("admin")
        for fmt in ("iso8601", "json"):
            rows = await ace.ok("gettasks", guid=guid, format=fmt)
            waiting = [r for r in rows if r["TASK_STATUS_ID"] in _WAITING_STATUSES]
            assert all(r["DATE_ACTUAL_START_DATE"] == "" for r in waiting)
            assert all(r["DATE_TASK_MODIFIED"] for r in rows)


async def test_other_paths_and_methods(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        assert (await client.get("/api")).status_code == 404
        response = await client.put("/", data={"fct": "login"})
        assert response.status_code == 405


async def test_non_form_post_body_is_ignored(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post(
            "/?fct=login&format=iso8601", json={"accountid": "demo", "username": "alice"}
        )
    assert response.json()["results"][0]["ERRORNUMBER"] == 1001


async def test_utf8_and_reserved_characters_reach_the_sandbox_intact(app: SandboxApp) -> None:
    secret = "p&ss=wörd#+% ü"
    app.store["demo"].update_user(2, password=secret)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        ace = AceCaller(client)
        guid = await ace.login("alice", password=secret)
    assert len(guid) == 36
    recent = app.stats.recent()[-1]
    assert recent["params"]["password"] == secret
    assert recent["query"] == ""
    assert "password=" in recent["body"]


def _names_variants() -> st.SearchStrategy[str]:
    return st.sampled_from(["fct", "FCT", "Fct", "fCt"])


_APP = create_app(generate())


@settings(max_examples=40, deadline=None)
@given(
    fct_name=_names_variants(),
    fct_value=st.sampled_from(["login", "LOGIN", "Login", "lOgIn"]),
    user_key=st.sampled_from(["username", "USERNAME", "UserName"]),
    account_value=st.sampled_from(["demo", "DEMO", "Demo"]),
)
def test_any_casing_of_names_logs_in(
    fct_name: str, fct_value: str, user_key: str, account_value: str
) -> None:
    raw = {
        fct_name: fct_value,
        "format": "iso8601",
        "AccountID": account_value,
        user_key: "alice",
        "password": DEMO_PASSWORD,
    }
    assert b'"status":"ok"' in _APP.answer(raw)


async def test_oversized_request_body_gets_413() -> None:
    app = create_app(generate(), SandboxConfig(max_request_bytes=1000))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        response = await client.post("/", data={"fct": "login", "password": "x" * 2000})
    assert response.status_code == 413


async def test_unexpected_sandbox_error_is_a_500(app: SandboxApp) -> None:
    def explode(raw: object, xml: bool = False, html: bool = False) -> tuple[bytes, str]:
        raise RuntimeError("boom")

    app.answer_typed = explode  # type: ignore[method-assign]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        response = await client.post("/", data={"fct": "login"})
    assert response.status_code == 500
    assert response.text == "sandbox internal error"
    assert app.stats.snapshot()["statuses"] == {"500": 1}
