"""Answers the sandbox cannot produce, served by `httpx.MockTransport`.

The sandbox is a faithful emulator, so it never sends a login row without `USER_ID`, an
`ok` login with no row or no GUID, rows with wrong field types, a `fail` envelope without
`results`, a non-object JSON body, a list call that ignores paging or omits
`TOTAL_ROW_COUNT`, a transient `fail` on a valid GUID, a user who may sign in but whose
user row says denied, an HTTP-date `Retry-After`, or a connection reset mid-body. Those
shapes are allowed by ace-api.md (or are transport failures), so they are mocked here and
only here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest

from app.ace.breaker import InProcessBreaker
from app.ace.client import AceClient, create_http_client
from app.ace.errors import AceThrottledError
from app.dto.response import ErrorCode
from app.errors import AceError

from .ace_helpers import make_config, make_settings

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
    assert fake.count("login") == 1
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
    error = await expect_code(client.get_tasks(GUID), ErrorCode.ACE_BAD_RESPONSE)
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
    identity = await client.authenticate("demo", "Alice", "pw")
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
    identity = await (await make_client(fake)).authenticate("demo", "alice@example.com", "pw")
    assert identity.user_id == 2
    assert identity.email == "alice@example.com"


async def test_authenticate_when_users_are_not_listed_to_this_user() -> None:
    fake = FakeAce(
        {
            "login": ok([LOGIN_ROW | {"USER_ID": 9, "ACCESS_LEVEL": 2}]),
            "getusers": ok([]),
        }
    )
    identity = await (await make_client(fake)).authenticate("demo", "ada", "pw")
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
    await expect_code(client.authenticate("demo", "alice", "pw"), ErrorCode.ACE_BAD_RESPONSE)
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
    await expect_code(client.authenticate("demo", "alice", "pw"), ErrorCode.ACCOUNT_INACTIVE)
    assert fake.count("logout") == 1  # the GUID is not left behind


async def test_unreachable_account_check_keeps_invalid_credentials() -> None:
    fake = FakeAce({"login": fail(1003), "getpublicsettings": httpx.Response(500)})
    client = await make_client(fake, max_retries=0)
    await expect_code(client.authenticate("demo", "alice", "pw"), ErrorCode.INVALID_CREDENTIALS)


# --- GUID revalidation --------------------------------------------------------------------------


async def test_transient_fail_on_a_valid_guid_is_retried_once() -> None:
    answers = iter([fail(9999), ok([{"TASK_STATUS_ID": 1, "TASK_STATUS_NAME": "Open"}])])
    fake = FakeAce({"gettaskstatuses": lambda *_: next(answers), "getlogininfo": ok([LOGIN_ROW])})
    client = await make_client(fake)
    statuses = await client.get_task_statuses(GUID)
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
    tasks = await (await make_client(fake, page_size=5)).get_tasks(GUID)
    assert [t.task_id for t in tasks] == list(range(10))
    assert fake.count("gettasks") == 3


async def test_a_server_that_ignores_paging_does_not_loop_forever() -> None:
    fake = FakeAce({"gettasks": ok(task_rows(range(5)))})
    tasks = await (await make_client(fake, page_size=5)).get_tasks(GUID)
    assert len(tasks) == 5
    assert fake.count("gettasks") == 2


async def test_a_server_that_sends_everything_at_once_is_read_once() -> None:
    fake = FakeAce({"gettasks": ok(task_rows(range(12)))})
    tasks = await (await make_client(fake, page_size=5)).get_tasks(GUID)
    assert len(tasks) == 12
    assert fake.count("gettasks") == 1


async def test_total_row_count_as_string() -> None:
    def pages(_: str, form: dict[str, str]) -> httpx.Response:
        page = int(form["pagenumber"])
        rows = task_rows(range((page - 1) * 5, page * 5))
        return ok([r | {"total_row_count": "10"} for r in rows])

    fake = FakeAce({"gettasks": pages})
    assert len(await (await make_client(fake, page_size=5)).get_tasks(GUID)) == 10
    assert fake.count("gettasks") == 2


# --- transport shapes ---------------------------------------------------------------------------


async def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    fake = FakeAce({"getpublicsettings": httpx.Response(429, headers={"Retry-After": when})})
    client = await make_client(fake)
    error = await expect_code(client.get_public_settings("demo"), ErrorCode.ACE_UNAVAILABLE)
    assert isinstance(error, AceThrottledError)
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
