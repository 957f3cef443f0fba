"""Answers the sandbox cannot produce, served by `httpx.MockTransport`.

The sandbox is a faithful emulator, so it never sends a login row without `USER_ID`, an
`ok` login with no row or no GUID, rows with wrong field types, a `fail` envelope without
`results`, a non-object JSON body, a list call that ignores paging or omits
`TOTAL_ROW_COUNT`, a transient `fail` on a valid GUID, a user who may sign in but whose
user row says denied, an HTTP-date `Retry-After`, or a connection reset mid-body. Those
shapes are possible from the real ACE (or are transport failures), so they are mocked here and
only here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest

from app.ace.breaker import InProcessBreaker
from app.ace.client import AceClient
from app.ace.errors import AceError, AceRequestRefusedError
from app.ace.transport import create_http_client
from app.errors import ErrorCode
from app.services.ace_identity import authenticate

from .ace_helpers import all_tasks, make_config, make_settings

URL = "http://ace.test/"
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
Handler = Callable[[str, dict[str, str]], httpx.Response]


def ok(rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps({"status": "ok", "results": rows}))


def fail(number: int = 2001) -> httpx.Response:
    row = {"ERRORNUMBER": number, "ERRORDESCRIPTION": "nope"}
    return httpx.Response(200, content=orjson.dumps({"status": "fail", "results": [row]}))


class FakeAce:
    """Routes by `fct` to a handler and records every call's form."""

    def __init__(self, routes: dict[str, Handler | httpx.Response]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        fct = form["fct"]
        self.calls.append((fct, form))
        route = self.routes[fct]
        return route if isinstance(route, httpx.Response) else route(fct, form)

    def count(self, fct: str) -> int:
        return sum(1 for name, _ in self.calls if name == fct)


_OPEN: list[httpx.AsyncClient] = []


@pytest.fixture(autouse=True)
async def _close_http_clients() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


def mock_http(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    http = create_http_client(make_settings(), transport=httpx.MockTransport(handler))
    _OPEN.append(http)
    return http


async def make_client(fake: FakeAce, **config: Any) -> AceClient:
    breaker = InProcessBreaker(failure_threshold=100, reset_seconds=1)
    return AceClient(mock_http(fake), make_config(URL, **config), breaker=breaker)


async def expect_code(call: Any, code: ErrorCode) -> AceError:
    with pytest.raises(AceError) as caught:
        await call
    assert caught.value.code is code, caught.value
    return caught.value


LOGIN_ROW = {"GUID": GUID, "FIRST_NAME": "Alice", "LAST_NAME": "Anders"}
USER_ROW = {
    "USER_ID": 2,
    "USERNAME": "alice",
    "FIRST_NAME": "Alice",
    "LAST_NAME": "Anders",
    "EMAIL_ALERT": "alice@example.com",
    "ACTIVE": True,
    "ACCESS_LEVEL": 1,
    "ACCESS_STATUS": 1,
}


# --- D6: shapes the sandbox never sends ---------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        ok([]),  # ok without the login row
        ok([{"FIRST_NAME": "Alice"}]),  # no GUID
        ok([{"GUID": 1234}]),  # GUID of the wrong type
        ok([{"GUID": ""}]),
        httpx.Response(200, content=b'{"status": "ok"}'),  # no results
        httpx.Response(200, content=b'{"status": "ok", "results": {"GUID": "x"}}'),
        httpx.Response(200, content=b'{"status": "ok", "results": ["x"]}'),
        httpx.Response(200, content=b'{"results": []}'),  # no status
        httpx.Response(200, content=b'{"status": "maybe", "results": []}'),
        httpx.Response(200, content=b"[]"),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b"\xff\xfe not json"),
        httpx.Response(204),
        httpx.Response(
            200,
            content=orjson.dumps({"status": "ok", "results": [LOGIN_ROW]}),
            headers={"Content-Type": "text/html"},
        ),
        httpx.Response(200, content=b"<?xml version='1.0'?><NewDataSet/>"),
    ],
)
async def test_d6_unusable_login_answers_are_bad_response(response: httpx.Response) -> None:
    fake = FakeAce({"login": response})
    client = await make_client(fake)
    error = await expect_code(client.login("demo", "alice", "pw"), ErrorCode.ACE_BAD_RESPONSE)
    # XML or HTML is asked once more with format=JSON; anything else is not.
    not_json = response.content.startswith(b"<") or "html" in response.headers.get(
        "content-type", ""
    )
    assert fake.count("login") == (2 if not_json else 1)
    assert GUID not in str(error)


@pytest.mark.parametrize(
    "row",
    [
        {"TASK_ID": "abc", "PROJECT_ID": 1, "TASK_RESUME": "x"},
        {"TASK_ID": 1, "PROJECT_ID": None, "TASK_RESUME": "x"},
        {"TASK_ID": 1, "PROJECT_ID": 1},
        {"TASK_ID": 1, "PROJECT_ID": 1, "TASK_RESUME": "x", "DATE_TASK_MODIFIED": "soon"},
        {"TASK_ID": 1, "PROJECT_ID": 1, "TASK_RESUME": "x", "ESTIMATED_TIME": {"h": 1}},
    ],
)
async def test_d6_wrong_field_types_are_bad_response(row: dict[str, Any]) -> None:
    client = await make_client(FakeAce({"gettasks": ok([row])}))
    error = await expect_code(all_tasks(client, GUID), ErrorCode.ACE_BAD_RESPONSE)
    assert "gettasks row that could not be read" in error.message
    assert "soon" not in error.message  # values never leak into messages


async def test_fail_envelope_without_results_is_a_refusal() -> None:
    fake = FakeAce({"login": httpx.Response(200, content=b'{"status": "fail"}')})
    client = await make_client(fake)
    await expect_code(client.login("demo", "alice", "pw"), ErrorCode.INVALID_CREDENTIALS)


# --- sign-in shapes -----------------------------------------------------------------------------


async def test_authenticate_without_user_id_in_the_login_row() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW]),
            "getlogininfo": ok([LOGIN_ROW]),  # no USER_ID here either
            "getusers": lambda _, form: ok(
                [USER_ROW] if form.get("filterusername") == "Alice" else []
            ),
        }
    )
    client = await make_client(fake)
    identity = await authenticate(client, "demo", "Alice", "pw")
    assert (identity.user_id, identity.username, identity.is_admin) == (2, "alice", False)
    assert fake.count("getlogininfo") == 1


async def test_authenticate_with_user_id_only_from_getlogininfo() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW]),
            "getlogininfo": ok([LOGIN_ROW | {"USER_ID": "2"}]),
            "getusers": lambda _, form: ok([USER_ROW] if form.get("filteruserid") == "2" else []),
        }
    )
    identity = await authenticate(await make_client(fake), "demo", "alice@example.com", "pw")
    assert identity.user_id == 2
    assert identity.email == "alice@example.com"


async def test_authenticate_when_users_are_not_listed_to_this_user() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW | {"USER_ID": 9, "ACCESS_LEVEL": 2}]),
            "getusers": ok([]),
        }
    )
    identity = await authenticate(await make_client(fake), "demo", "ada", "pw")
    assert (identity.user_id, identity.username, identity.first_name) == (9, "ada", "Alice")
    assert identity.is_admin


async def test_authenticate_without_any_user_id_is_bad_response() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW]),
            "getlogininfo": ok([LOGIN_ROW]),
            "getusers": ok([]),
            "logout": ok([]),
        }
    )
    client = await make_client(fake)
    await expect_code(authenticate(client, "demo", "alice", "pw"), ErrorCode.ACE_BAD_RESPONSE)
    assert fake.count("logout") == 1


@pytest.mark.parametrize("user", [{"ACCESS_STATUS": 2}, {"ACCESS_STATUS": 3}, {"ACTIVE": False}])
async def test_authenticate_denied_user_row_is_inactive(user: dict[str, Any]) -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW | {"USER_ID": 2}]),
            "getusers": ok([USER_ROW | user]),
            "logout": ok([]),
        }
    )
    client = await make_client(fake)
    await expect_code(authenticate(client, "demo", "alice", "pw"), ErrorCode.ACCOUNT_INACTIVE)
    assert fake.count("logout") == 1  # the GUID is not left behind


async def test_unreachable_account_check_keeps_invalid_credentials() -> None:
    fake = FakeAce({"login": fail(1003), "getpublicsettings": httpx.Response(500)})
    client = await make_client(fake, max_retries=0)
    await expect_code(authenticate(client, "demo", "alice", "pw"), ErrorCode.INVALID_CREDENTIALS)


# --- GUID revalidation --------------------------------------------------------------------------


async def test_transient_fail_on_a_valid_guid_is_retried_once() -> None:
    answers = iter([fail(9999), ok([{"TASK_STATUS_ID": 1, "TASK_STATUS_NAME": "Open"}])])
    fake = FakeAce({"gettaskstatuses": lambda *_: next(answers), "getlogininfo": ok([LOGIN_ROW])})
    client = await make_client(fake)
    statuses = await client.get_task_statuses(GUID, project_id=1)
    assert [s.name for s in statuses] == ["Open"]
    assert [name for name, _ in fake.calls] == [
        "gettaskstatuses",
        "getlogininfo",
        "gettaskstatuses",
    ]


# --- paging shapes ------------------------------------------------------------------------------


def task_rows(ids: range, total: int | None = None) -> list[dict[str, Any]]:
    extra = {} if total is None else {"TOTAL_ROW_COUNT": total}
    return [{"TASK_ID": i, "PROJECT_ID": 1, "TASK_RESUME": f"t{i}"} | extra for i in ids]


async def test_exact_multiple_without_total_ends_on_an_empty_page() -> None:
    def pages(_: str, form: dict[str, str]) -> httpx.Response:
        page, size = int(form["pagenumber"]), int(form["rowsperpage"])
        start = (page - 1) * size
        return ok(task_rows(range(start, min(start + size, 10))))

    fake = FakeAce({"gettasks": pages})
    tasks = await all_tasks(await make_client(fake, page_size=5), GUID)
    assert [t.task_id for t in tasks] == list(range(10))
    assert fake.count("gettasks") == 3


async def test_a_server_that_ignores_paging_does_not_loop_forever() -> None:
    fake = FakeAce({"gettasks": ok(task_rows(range(5)))})
    tasks = await all_tasks(await make_client(fake, page_size=5), GUID)
    assert len(tasks) == 5
    assert fake.count("gettasks") == 2


async def test_a_server_that_sends_everything_at_once_is_read_once() -> None:
    fake = FakeAce({"gettasks": ok(task_rows(range(12)))})
    tasks = await all_tasks(await make_client(fake, page_size=5), GUID)
    assert len(tasks) == 12
    assert fake.count("gettasks") == 2  # no total: one more page, which brings nothing new


async def test_total_row_count_as_string() -> None:
    def pages(_: str, form: dict[str, str]) -> httpx.Response:
        page = int(form["pagenumber"])
        rows = task_rows(range((page - 1) * 5, page * 5))
        return ok([r | {"total_row_count": "10"} for r in rows])

    fake = FakeAce({"gettasks": pages})
    assert len(await all_tasks(await make_client(fake, page_size=5), GUID)) == 10
    assert fake.count("gettasks") == 2


# --- transport shapes ---------------------------------------------------------------------------


async def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    fake = FakeAce({"getpublicsettings": httpx.Response(429, headers={"Retry-After": when})})
    client = await make_client(fake)
    error = await expect_code(client.get_public_settings("demo"), ErrorCode.ACE_UNAVAILABLE)
    assert error.message == "ACE asked to slow down; try again later"
    assert 100 <= int(error.headers["Retry-After"]) <= 121
    assert fake.count("getpublicsettings") == 1


async def test_429_without_retry_after_is_not_retried() -> None:
    fake = FakeAce({"getpublicsettings": httpx.Response(429)})
    error = await expect_code(
        (await make_client(fake)).get_public_settings("demo"), ErrorCode.ACE_UNAVAILABLE
    )
    assert error.headers["Retry-After"] == "5"
    assert fake.count("getpublicsettings") == 1


async def test_connection_reset_mid_body_is_retried() -> None:
    attempts = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return ok([{"ACCOUNT_ID": "demo"}])

    client = AceClient(mock_http(flaky), make_config(URL))
    settings = await client.get_public_settings("demo")
    assert settings.values["ACCOUNT_ID"] == "demo"
    assert attempts == 3


# --- pages capped below rowsperpage -------------------------------------------------------------


@pytest.mark.parametrize("offsets_by", ["capped", "requested"])
async def test_short_pages_are_followed_to_the_total(offsets_by: str) -> None:
    """A service that gives at most 3 rows a page, whichever way it counts page offsets."""
    cap, total = 3, 10

    def pages(_: str, form: dict[str, str]) -> httpx.Response:
        page, size = int(form["pagenumber"]), int(form["rowsperpage"])
        step = min(size, cap) if offsets_by == "capped" else size
        start = (page - 1) * step
        return ok(task_rows(range(start, min(start + min(size, cap), total)), total=total))

    fake = FakeAce({"gettasks": pages})
    tasks = await all_tasks(await make_client(fake, page_size=5), GUID)
    assert sorted(t.task_id for t in tasks) == list(range(total))
    assert fake.count("gettasks") == 4  # ceil(10 / 3): the page size follows the cap


async def test_an_empty_page_ends_paging_even_below_the_total() -> None:
    answers = iter([ok(task_rows(range(5), total=50)), ok([])])
    fake = FakeAce({"gettasks": lambda *_: next(answers)})
    tasks = await all_tasks(await make_client(fake, page_size=5), GUID)
    assert len(tasks) == 5
    assert fake.count("gettasks") == 2


# --- format fallback ----------------------------------------------------------------------------


XML_ANSWER = httpx.Response(
    200,
    content=b'<?xml version="1.0"?><results><row TASK_STATUS_ID="1"/></results>',
    headers={"Content-Type": "text/xml; charset=utf-8"},
)


async def test_xml_for_iso8601_falls_back_to_json_once_per_function(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status_row = {"TASK_STATUS_ID": 1, "TASK_STATUS_NAME": "Open", "COMPLETED_STATUS": 0}

    def statuses(_: str, form: dict[str, str]) -> httpx.Response:
        return XML_ANSWER if form["format"] == "iso8601" else ok([status_row])

    def tasks(_: str, form: dict[str, str]) -> httpx.Response:
        row = task_rows(range(1), total=1)[0] | {"DATE_TASK_MODIFIED": "2025-05-01T09:30:15"}
        return ok([row])

    fake = FakeAce({"gettaskstatuses": statuses, "gettasks": tasks})
    client = await make_client(fake)
    with caplog.at_level(logging.WARNING, logger="app.ace.transport"):
        for _ in range(3):
            assert [s.name for s in await client.get_task_statuses(GUID, project_id=1)] == ["Open"]
        await all_tasks(client, GUID)
    formats = [(fct, form["format"]) for fct, form in fake.calls]
    assert formats == [
        ("gettaskstatuses", "iso8601"),
        ("gettaskstatuses", "JSON"),
        ("gettaskstatuses", "JSON"),
        ("gettaskstatuses", "JSON"),
        ("gettasks", "iso8601"),  # the choice is per function
    ]
    assert sum("format=JSON" in r.getMessage() for r in caplog.records) == 1


async def test_xml_in_both_formats_is_bad_response_and_not_remembered() -> None:
    fake = FakeAce({"gettaskstatuses": XML_ANSWER})
    client = await make_client(fake)
    for _ in range(2):
        await expect_code(client.get_task_statuses(GUID, project_id=1), ErrorCode.ACE_BAD_RESPONSE)
    assert [form["format"] for _, form in fake.calls] == ["iso8601", "JSON"] * 2


# --- sign-in without documented error numbers ---------------------------------------------------


async def test_refused_login_is_invalid_credentials_whatever_its_number() -> None:
    for number in (1003, 1004, 424242):
        fake = FakeAce({"login": fail(number), "getpublicsettings": ok([{}])})
        client = await make_client(fake)
        await expect_code(
            authenticate(client, "demo", "alice", "pw"), ErrorCode.INVALID_CREDENTIALS
        )


async def test_sign_in_when_getusers_is_refused_uses_the_login_row() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW]),
            "getlogininfo": ok([LOGIN_ROW | {"USER_ID": 2, "USERNAME": "alice"}]),
            "getusers": fail(4010),
        }
    )
    identity = await authenticate(await make_client(fake), "demo", "alice", "pw")
    assert (identity.user_id, identity.username, identity.first_name) == (2, "alice", "Alice")
    assert not identity.is_admin


async def test_sign_in_with_an_e_mail_address() -> None:
    def users(_: str, form: dict[str, str]) -> httpx.Response:
        # `filterusername` matches usernames only, as a real filter on that field would.
        if form.get("filterusername"):
            return ok([])
        return ok([USER_ROW | {"USER_ID": 1, "USERNAME": "ada", "EMAIL_ALERT": "a@x"}, USER_ROW])

    fake = FakeAce({"login": ok([LOGIN_ROW]), "getlogininfo": ok([LOGIN_ROW]), "getusers": users})
    identity = await authenticate(await make_client(fake), "demo", "Alice@Example.com", "pw")
    assert (identity.user_id, identity.username) == (2, "alice")


# --- writes -------------------------------------------------------------------------------------


SUNDAY = date(2025, 6, 1)


async def test_save_work_item_sends_the_week_once_and_returns_the_line() -> None:
    fake = FakeAce({"saveworkitem": ok([{"TIMESHEET_LINE_ID": "88"}])})
    client = await make_client(fake)
    line = await client.save_work_item(
        GUID, week_start=SUNDAY, hours=[0, 2.5, 0, 0, 0, 0, 1], task_id=7, comments="x"
    )
    assert line == 88
    ((_, form),) = fake.calls
    assert form["weekstart"] == "2025-06-01"
    assert [form[f"hoursday{d}"] for d in range(1, 8)] == [
        "0.00",
        "2.50",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "1.00",
    ]
    assert (form["taskid"], form["comments"], form["format"]) == ("7", "x", "JSON")
    assert "timesheetlineid" not in form
    assert "indatetime" not in {k.lower() for k in form}


@pytest.mark.parametrize(
    ("week_start", "hours"),
    [
        (date(2025, 6, 2), [0] * 7),
        (SUNDAY, [0] * 6),
        (SUNDAY, [float("nan")] + [0] * 6),
        (SUNDAY, [-1] + [0] * 6),
    ],
)
async def test_save_work_item_refuses_bad_input_before_calling(
    week_start: date, hours: list[float]
) -> None:
    fake = FakeAce({})
    client = await make_client(fake)
    with pytest.raises(ValueError, match=r"week_start|hours"):
        await client.save_work_item(GUID, week_start=week_start, hours=hours, task_id=1)
    assert fake.calls == []


async def test_a_refused_write_is_mapped_and_never_repeated() -> None:
    fake = FakeAce({"savetask": fail(4001), "getlogininfo": ok([LOGIN_ROW])})
    client = await make_client(fake)
    error = await expect_code(
        client.save_task(GUID, task_id=1, percent_done=40), ErrorCode.ACE_BAD_RESPONSE
    )
    assert isinstance(error, AceRequestRefusedError)
    assert error.error_number == 4001
    assert [name for name, _ in fake.calls] == ["savetask", "getlogininfo"]
    assert fake.calls[0][1]["percentdone"] == "4"  # tenths on the wire


async def test_a_write_with_an_expired_session_is_session_expired() -> None:
    fake = FakeAce({"deleteworkitem": fail(2001), "getlogininfo": fail(2001)})
    client = await make_client(fake)
    await expect_code(
        client.delete_work_item(GUID, timesheet_line_id=5), ErrorCode.ACE_SESSION_EXPIRED
    )
    assert fake.count("deleteworkitem") == 1


@pytest.mark.parametrize("response", [httpx.Response(500), httpx.Response(503)])
async def test_a_failed_write_is_not_retried(response: httpx.Response) -> None:
    fake = FakeAce({"assignusertask": response})
    client = await make_client(fake, max_retries=3)
    await expect_code(
        client.assign_user_task(GUID, task_id=1, user_id=2, is_assignee=True),
        ErrorCode.ACE_UNAVAILABLE,
    )
    assert fake.count("assignusertask") == 1


async def test_a_write_answered_in_xml_is_not_sent_again() -> None:
    fake = FakeAce({"savetask": XML_ANSWER})
    client = await make_client(fake)
    await expect_code(client.save_task(GUID, task_id=1, status_id=3), ErrorCode.ACE_BAD_RESPONSE)
    assert fake.count("savetask") == 1


@pytest.mark.parametrize("hours", [-1.0, float("inf")])
async def test_assign_user_task_refuses_bad_hours_before_calling(hours: float) -> None:
    fake = FakeAce({})
    client = await make_client(fake)
    with pytest.raises(ValueError, match="hours"):
        await client.assign_user_task(
            GUID, task_id=1, user_id=2, is_assignee=True, assigned_hours=hours
        )
    assert fake.calls == []
