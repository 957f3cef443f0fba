"""The client against the sandbox on a loopback port: every method, paging, dates, sign-in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime
from itertools import pairwise

import httpx
import pytest

from ace_sandbox.data import DEMO_PASSWORD
from ace_sandbox.models import Task
from ace_sandbox.testing import SandboxServer
from app.ace.client import AceClient
from app.ace.errors import AceError, AceRequestRefusedError
from app.ace.port import AceApi
from app.ace.transport import USER_AGENT, AceClientConfig, create_http_client
from app.errors import ErrorCode
from app.models.enums import StatusType
from app.services.ace_identity import authenticate, is_ace_admin, may_sign_in

from .ace_helpers import (
    D9_ACCOUNT,
    D9_PASSWORD,
    D9_USERNAME,
    DENIED_USERNAME,
    INACTIVE_USERNAME,
    PAGE_SIZE,
    RequestLog,
    all_tasks,
    all_time_entries,
    make_settings,
)

# --- session ------------------------------------------------------------------------------


async def test_login_returns_guid_and_user(client: AceClient, ace: SandboxServer) -> None:
    login = await client.login("demo", "alice", DEMO_PASSWORD)
    assert len(login.guid) == 36
    assert (login.first_name, login.last_name) == ("Alice", "Anders")
    request = ace.stats.recent()[-1]
    assert request["method"] == "POST"
    assert request["query"] == ""
    assert request["content_type"].startswith("application/x-www-form-urlencoded")
    assert request["params"]["format"] == "iso8601"
    assert request["user_agent"] == USER_AGENT
    assert USER_AGENT.startswith("acehub/")


async def test_get_login_info_and_logout(client: AceClient, ace: SandboxServer) -> None:
    guid = (await client.login("demo", "bob", DEMO_PASSWORD)).guid
    info = await client.get_login_info(guid)
    assert info.username == "bob"
    assert info.user_id == ace.store["demo"].find_login("bob").user_id  # type: ignore[union-attr]
    await client.logout(guid)
    with pytest.raises(AceError) as caught:
        await client.get_login_info(guid)
    assert caught.value.code is ErrorCode.ACE_SESSION_EXPIRED
    await client.logout(guid)  # best-effort: a second logout does not raise


async def test_public_settings(client: AceClient) -> None:
    settings = await client.get_public_settings("demo")
    assert settings.custom_product_name == "AceProject Demo"
    with pytest.raises(AceError) as caught:
        await client.get_public_settings("no-such-account")
    assert caught.value.code is ErrorCode.INVALID_ACCOUNT_ID


@pytest.mark.parametrize(
    ("username", "is_admin"), [("admin", True), ("alice", False), ("BOB", False)]
)
async def test_authenticate_resolves_the_user(
    client: AceClient, ace: SandboxServer, username: str, is_admin: bool
) -> None:
    identity = await authenticate(client, "demo", username, DEMO_PASSWORD)
    user = ace.store["demo"].find_login(username)
    assert user is not None
    assert identity.user_id == user.user_id
    assert identity.username == user.username
    assert identity.email == user.email_alert
    assert identity.is_admin is is_admin
    assert identity.active
    assert identity.guid not in repr(identity)
    assert ace.stats.count("login") == 1


async def test_authenticate_with_email_address(client: AceClient, ace: SandboxServer) -> None:
    user = ace.store["demo"].find_login("alice")
    assert user is not None
    identity = await authenticate(client, "demo", user.email_alert, DEMO_PASSWORD)
    assert identity.user_id == user.user_id


@pytest.mark.parametrize(
    ("account", "username", "password", "code", "public_settings_calls"),
    [
        ("demo", "alice", "wrong-password", ErrorCode.INVALID_CREDENTIALS, 1),
        ("demo", "nobody", DEMO_PASSWORD, ErrorCode.INVALID_CREDENTIALS, 1),
        ("no-such-account", "alice", DEMO_PASSWORD, ErrorCode.INVALID_ACCOUNT_ID, 1),
        # ACE's refusal of an inactive user carries no documented number: it reads as a
        # refused login (ACCOUNT_INACTIVE needs a user row that says so, after a login)
        ("acme", INACTIVE_USERNAME, DEMO_PASSWORD, ErrorCode.INVALID_CREDENTIALS, 1),
        ("acme", DENIED_USERNAME, DEMO_PASSWORD, ErrorCode.INVALID_CREDENTIALS, 1),
        ("acme", INACTIVE_USERNAME, "wrong-password", ErrorCode.INVALID_CREDENTIALS, 1),
        ("demo", "alice", "", ErrorCode.INVALID_CREDENTIALS, 0),
        ("", "alice", DEMO_PASSWORD, ErrorCode.INVALID_ACCOUNT_ID, 0),
    ],
)
async def test_authenticate_refusals(
    client: AceClient,
    ace: SandboxServer,
    account: str,
    username: str,
    password: str,
    code: ErrorCode,
    public_settings_calls: int,
) -> None:
    with pytest.raises(AceError) as caught:
        await authenticate(client, account, username, password)
    assert caught.value.code is code
    assert ace.stats.count("login") == (1 if account and password else 0)  # D5: no retry
    assert ace.stats.count("getpublicsettings") == public_settings_calls
    if password:
        assert password not in str(caught.value)


async def test_d5_refused_login_is_not_retried(client: AceClient, ace: SandboxServer) -> None:
    with pytest.raises(AceError) as caught:
        await client.login("demo", "alice", "wrong-password")
    assert caught.value.code is ErrorCode.INVALID_CREDENTIALS
    assert ace.stats.count("login") == 1
    assert ace.stats.count() == 1


async def test_d9_credentials_arrive_byte_exact(
    client: AceClient, ace: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    identity = await authenticate(client, D9_ACCOUNT, D9_USERNAME, D9_PASSWORD)
    assert identity.username == D9_USERNAME
    login = next(r for r in ace.stats.recent() if r["fct"] == "login")
    assert login["params"]["password"] == D9_PASSWORD
    assert login["params"]["username"] == D9_USERNAME
    assert login["query"] == ""
    # form-encoded as UTF-8: reserved characters escaped, nothing left raw
    assert "p%26ss%3Dw%23rd%2B100%25+%E2%82%AC" in login["body"]
    for record in caplog.records:
        assert D9_PASSWORD not in record.getMessage()
        assert identity.guid not in str(vars(record))


# --- lists --------------------------------------------------------------------------------


async def test_get_users_with_filters(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    users = await client.get_users(admin_guid)
    assert sorted(u.username for u in users) == ["admin", "alice", "bob"]
    alice = await client.get_users(admin_guid, username="ALICE")
    assert [u.username for u in alice] == ["alice"]
    by_id = await client.get_users(admin_guid, user_id=alice[0].user_id)
    assert by_id == alice
    assert len(await client.get_users(admin_guid, active=True)) == 3
    assert await client.get_users(admin_guid, active=False) == []
    admin = next(u for u in users if u.username == "admin")
    assert is_ace_admin(admin)
    assert may_sign_in(admin)
    assert admin.modified_at is not None
    assert admin.modified_at.tzinfo is not None


async def test_get_projects(client: AceClient, ace: SandboxServer, admin_guid: str) -> None:
    account = ace.store["demo"]
    projects = await client.get_projects(admin_guid)
    assert {p.project_id for p in projects} == {
        p.project_id for p in account.projects.values() if not p.deleted
    }
    open_only = await client.get_projects(admin_guid, include_completed=False)
    completed = {
        s.project_status_id for s in account.lookups.project_statuses.values() if s.completed
    }
    assert {p.project_id for p in open_only} == {
        p.project_id
        for p in account.projects.values()
        if not p.deleted and p.project_status_id not in completed
    }
    since = sorted(p.date_modified.date() for p in account.projects.values())[2]
    recent = await client.get_projects(admin_guid, modified_since=since)
    assert {p.project_id for p in recent} == {
        p.project_id
        for p in account.projects.values()
        if not p.deleted and p.date_modified.date() >= since
    }
    request = ace.stats.recent()[-1]["params"]
    assert request["filterfirstdate"] == "DATE_MODIFIED"
    assert request["filterfirstdateoperator"] == "3"
    assert request["filterfirstdatevalue"] == since.isoformat()


async def test_get_tasks_all_fields(client: AceClient, ace: SandboxServer, admin_guid: str) -> None:
    account = ace.store["demo"]
    tasks = await all_tasks(client, admin_guid)
    assert len(tasks) == len(account.tasks)
    assert len({t.task_id for t in tasks}) == len(tasks)
    for task in tasks:
        stored = account.tasks[task.task_id]
        assert task.title == stored.task_resume
        assert task.project_id == stored.project_id
        assert task.modified_at is not None
        assert task.modified_at.replace(tzinfo=None) == stored.date_modified.replace(microsecond=0)
        assert (task.status_id, task.status_name) == (
            stored.task_status_id,
            account.task_statuses[stored.task_status_id].name,
        )
        assert task.percent_done == stored.pourcentage_done * 10  # tenths on the wire
        expected_start = stored.date_expected_start
        assert task.expected_start == (expected_start.date() if expected_start else None)


@pytest.mark.parametrize(
    ("page_size", "requests"),
    [
        (PAGE_SIZE, 5),  # 24 tasks: four full pages and a partial one
        (6, 4),  # exact multiple: TOTAL_ROW_COUNT stops it without an empty fifth page
        (8, 3),
        (24, 1),
        (100, 1),  # one short page
        (1, 24),
    ],
)
async def test_paging_stops_at_the_right_page(
    make_ace: Callable[..., AceClient],
    ace: SandboxServer,
    admin_guid: str,
    page_size: int,
    requests: int,
) -> None:
    assert len(ace.store["demo"].tasks) == 24
    paged = make_ace(page_size=page_size)
    pages = [page async for page in paged.iter_task_pages(admin_guid)]
    assert sum(len(p) for p in pages) == 24
    assert all(0 < len(p) <= page_size for p in pages)
    assert ace.stats.count("gettasks") == requests
    sent = [r["params"] for r in ace.stats.recent() if r["fct"] == "gettasks"]
    assert [int(p["pagenumber"]) for p in sent] == list(range(1, requests + 1))
    assert {p["rowsperpage"] for p in sent} == {str(page_size)}


async def test_rows_shifting_between_pages_are_not_duplicated(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    account = ace.store["demo"]
    first_project = min(account.projects)
    pages = client.iter_task_pages(admin_guid)
    seen = list(await anext(pages))
    # A task sorting before every other one appears: every later row shifts one place
    # down, so page 2 starts with the last row of page 1.
    account.add_task(Task(task_id=1, project_id=first_project, task_resume="Inserted"))
    try:
        seen += [task async for page in pages for task in page]
    finally:
        account.delete_task(1)
    ids = [t.task_id for t in seen]
    assert len(ids) == len(set(ids)) == 24
    assert 1 not in ids  # it landed on a page already read; the next sync picks it up


async def test_tasks_filtered_by_assignee_project_and_modified_since(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    account = ace.store["demo"]
    alice = account.find_login("alice")
    assert alice is not None
    mine = await all_tasks(client, admin_guid, assigned_user_id=alice.user_id)
    assert {t.task_id for t in mine} == account.tasks_by_assignee[alice.user_id]

    project_id = min(account.projects)
    in_project = await all_tasks(client, admin_guid, project_id=project_id)
    assert {t.task_id for t in in_project} == account.tasks_by_project[project_id]

    days = sorted(t.date_modified.date() for t in account.tasks.values())
    since = days[len(days) // 2]
    recent = await all_tasks(client, admin_guid, modified_since=since)
    assert {t.task_id for t in recent} == {
        t.task_id for t in account.tasks.values() if t.date_modified.date() >= since
    }
    assert 0 < len(recent) < len(account.tasks)
    sent = ace.stats.recent()[-1]["params"]
    assert sent["filterfirstdate"] == "DATE_TASK_MODIFIED"
    assert sent["filterfirstdateoperator"] == "3"
    assert sent["filterfirstdatevalue"] == since.isoformat()


async def test_a_normal_user_sees_only_their_projects(
    client: AceClient, ace: SandboxServer
) -> None:
    account = ace.store["demo"]
    bob = await authenticate(client, "demo", "bob", DEMO_PASSWORD)
    tasks = await all_tasks(client, bob.guid)
    visible = account.projects_by_member[bob.user_id]
    assert tasks
    assert {t.project_id for t in tasks} <= visible


async def test_json_date_format_parses_to_the_same_rows(
    client: AceClient, make_ace: Callable[..., AceClient], ace: SandboxServer, admin_guid: str
) -> None:
    iso_tasks = await all_tasks(client, admin_guid)
    iso_time = await all_time_entries(
        client, admin_guid, date_from=date(2025, 4, 1), date_to=date(2025, 6, 30)
    )
    json_client = make_ace(response_format="json")
    json_tasks = await all_tasks(json_client, admin_guid)
    json_time = await all_time_entries(
        json_client, admin_guid, date_from=date(2025, 4, 1), date_to=date(2025, 6, 30)
    )
    assert ace.stats.recent()[-1]["params"]["format"] == "json"
    assert json_tasks == iso_tasks
    assert json_time == iso_time
    assert any(t.actual_end is None for t in iso_tasks)  # null dates present in the data


async def test_empty_dates_as_strings_parse_like_nulls(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    with_nulls = await all_tasks(client, admin_guid)
    ace.app.config.empty_dates_as_string = True
    with_strings = await all_tasks(client, admin_guid)
    assert with_strings == with_nulls
    assert any(t.actual_end is None for t in with_strings)


async def test_task_ids_of_a_user_as_assignee_and_as_reviewer(
    make_ace: Callable[..., AceClient], ace: SandboxServer, admin_guid: str
) -> None:
    """The assignee pass of a sync: all pages, each id once, full rows (no `forcombo`)."""
    account = ace.store["demo"]
    client = make_ace(page_size=2)  # several pages per user
    for user_id in account.users:
        expected_assigned = {
            tid
            for tid, by_user in account.assignments.items()
            if by_user.get(user_id) and by_user[user_id].is_assignee
        }
        expected_reviewing = {
            tid
            for tid, by_user in account.assignments.items()
            if by_user.get(user_id) and by_user[user_id].is_reviewer
        }
        assert await client.get_task_ids(admin_guid, assigned_user_id=user_id) == expected_assigned
        reviewing = await client.get_task_ids(admin_guid, reviewer_user_id=user_id)
        assert reviewing == expected_reviewing
    assert any(a.is_reviewer for by_user in account.assignments.values() for a in by_user.values())
    recent = await client.get_task_ids(
        admin_guid, assigned_user_id=next(iter(account.users)), modified_since=date(2100, 1, 1)
    )
    assert recent == set()


async def test_task_statuses_per_project(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    account = ace.store["demo"]
    types = {0: StatusType.waiting, 1: StatusType.completed, 2: StatusType.in_progress}
    lists = {}
    for project_id in account.projects:
        statuses = await client.get_task_statuses(admin_guid, project_id=project_id)
        stored = account.task_status_list(project_id)
        assert [(s.status_id, s.name) for s in statuses] == [
            (s.task_status_id, s.name) for s in stored
        ]
        assert [s.status_type for s in statuses] == [types[s.completed_status] for s in stored]
        lists[project_id] = {s.status_id for s in statuses}
    assert len({frozenset(ids) for ids in lists.values()}) == len(lists)  # ids differ


async def test_every_paged_function_follows_a_capped_page_size(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    """A service giving fewer rows than `rowsperpage` asks for: every row is still read."""
    account = ace.store["demo"]
    full = (
        await client.get_users(admin_guid),
        await client.get_projects(admin_guid),
        await all_tasks(client, admin_guid),
    )
    ace.app.config.max_rows_per_page = 2
    try:
        ace.stats.reset()
        capped = (
            await client.get_users(admin_guid),
            await client.get_projects(admin_guid),
            await all_tasks(client, admin_guid),
        )
    finally:
        ace.app.config.max_rows_per_page = None
    assert capped == full
    assert len(capped[2]) == len(account.tasks)
    assert ace.stats.count("gettasks") >= len(account.tasks) // 2


async def test_time_report_in_windows(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    account = ace.store["demo"]
    first, last = date(2025, 1, 1), date(2025, 7, 1)  # 182 days: six windows
    entries = await all_time_entries(client, admin_guid, date_from=first, date_to=last)
    expected = {
        (e.timesheet_line_id, e.date_worked.date())
        for e in account.time_entries_between(first, last)
    }
    assert {e.key for e in entries} == expected
    assert len(entries) == len(expected) > 0
    sent = [r["params"] for r in ace.stats.recent() if r["fct"] == "gettimereport"]
    assert len(sent) == 6
    windows = [
        (date.fromisoformat(p["filterdatefrom"]), date.fromisoformat(p["filterdateto"]))
        for p in sent
    ]
    assert windows[0][0] == first
    assert windows[-1][1] == last
    assert all((end - start).days < 31 for start, end in windows)
    assert all((b[0] - a[1]).days == 1 for a, b in pairwise(windows))
    assert {p["view"] for p in sent} == {"1"}
    assert {p["filtermyworkitems"] for p in sent} == {"False"}


async def test_time_report_filters(client: AceClient, ace: SandboxServer, admin_guid: str) -> None:
    account = ace.store["demo"]
    bob = account.find_login("bob")
    assert bob is not None
    first, last = date(2025, 1, 1), date(2025, 7, 1)
    mine = await all_time_entries(
        client, admin_guid, date_from=first, date_to=last, user_id=bob.user_id
    )
    assert mine
    assert {e.creator_user_id for e in mine} == {bob.user_id}
    project_id = mine[0].project_id
    assert project_id is not None
    in_project = await all_time_entries(
        client, admin_guid, date_from=first, date_to=last, project_id=project_id
    )
    assert {e.project_id for e in in_project} == {project_id}
    with pytest.raises(ValueError, match="date_from"):
        await all_time_entries(client, admin_guid, date_from=last, date_to=first)


# --- GUID life cycle ----------------------------------------------------------------------


async def test_expired_guid_is_revalidated_once_then_session_expired(
    client: AceClient, ace: SandboxServer
) -> None:
    ace.app.config.guid_idle_seconds = 1.0
    guid = (await client.login("demo", "alice", DEMO_PASSWORD)).guid
    await asyncio.sleep(1.2)
    ace.stats.reset()
    with pytest.raises(AceError) as caught:
        await all_tasks(client, guid)
    assert caught.value.code is ErrorCode.ACE_SESSION_EXPIRED
    assert ace.stats.count("gettasks") == 1
    assert ace.stats.count("getlogininfo") == 1
    assert ace.stats.count() == 2
    assert guid not in str(caught.value)


async def test_deactivated_user_loses_the_session(client: AceClient, ace: SandboxServer) -> None:
    account = ace.store["demo"]
    guid = (await client.login("demo", "bob", DEMO_PASSWORD)).guid
    bob = account.find_login("bob")
    assert bob is not None
    account.deactivate_user(bob.user_id)
    try:
        with pytest.raises(AceError) as caught:
            await client.get_task_statuses(guid, project_id=1000)
    finally:
        account.activate_user(bob.user_id)
    assert caught.value.code is ErrorCode.ACE_SESSION_EXPIRED


async def test_fail_with_a_valid_guid_is_retried_once_then_bad_response(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    # No public method sends an invalid parameter, so this drives the shared plumbing that
    # every GUID method goes through with one the sandbox refuses (3001).
    with pytest.raises(AceRequestRefusedError) as caught:
        await client.transport.guid_call("gettasks", admin_guid, {"sortorder": "NO_SUCH_FIELD"})
    assert caught.value.code is ErrorCode.ACE_BAD_RESPONSE
    assert caught.value.error_number == 3001
    assert ace.stats.count("gettasks") == 2
    assert ace.stats.count("getlogininfo") == 1


# --- construction -------------------------------------------------------------------------


async def test_from_settings_and_http_client_factory(
    ace: SandboxServer, request_log: RequestLog
) -> None:
    settings = make_settings(ace_api_url=ace.url, ace_page_size=7)
    async with create_http_client(settings) as http:
        assert http.follow_redirects is False
        assert http.headers["User-Agent"] == USER_AGENT
        assert http.timeout.read == settings.ace_timeout_seconds
        assert http.timeout.connect == settings.ace_connect_timeout_seconds
        client = AceClient.from_settings(settings, http)
        assert client.transport.config.page_size == 7
        assert client.transport.config.max_retries == settings.ace_max_retries
        assert client.transport.config.deadline_seconds == pytest.approx(
            settings.ace_timeout_seconds + settings.ace_connect_timeout_seconds
        )
        identity = await authenticate(client, "demo", "admin", DEMO_PASSWORD)
        assert len(await all_tasks(client, identity.guid)) == 24


def test_the_client_is_what_the_services_speak_to(client: AceClient) -> None:
    api: AceApi = client  # mypy checks that the client satisfies the port structurally
    assert api is client


def test_config_rejects_a_non_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        AceClientConfig(api_url="ftp://example.com/")


async def test_parameters_are_encoded_as_ace_expects() -> None:
    async with httpx.AsyncClient() as http:
        client = AceClient(http, AceClientConfig(api_url="http://127.0.0.1:9/"))
        form = client.transport._form(
            "gettasks", {"a": datetime(2025, 5, 1, 23, 59), "b": True, "c": None, "d": 7}
        )
    assert form == {
        "fct": "gettasks",
        "format": "iso8601",
        "a": "2025-05-01",
        "b": "True",
        "d": "7",
    }
