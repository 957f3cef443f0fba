"""The client's write methods against the sandbox as a real server: each write round-trips
(written, then read back with `gettimereport` / `gettasks`), and each refusal ACE documents
maps to the existing error codes. A sandbox of this module's own: writes change its data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from ace_sandbox.data import DEMO_PASSWORD
from ace_sandbox.testing import SandboxServer
from app.ace.breaker import InProcessBreaker
from app.ace.client import AceClient
from app.ace.errors import AceError, AceRequestRefusedError
from app.ace.transport import create_http_client
from app.errors import ErrorCode

from .ace_helpers import all_tasks, make_config, make_settings

SUNDAY = date(2025, 5, 25)
ALICE, BOB = 2, 3


@pytest.fixture
def writable() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
async def write_http() -> AsyncIterator[httpx.AsyncClient]:
    http = create_http_client(make_settings())
    yield http
    await http.aclose()


def _client_of(server: SandboxServer, http: httpx.AsyncClient, **config: Any) -> AceClient:
    breaker = InProcessBreaker(failure_threshold=1000, reset_seconds=1)
    return AceClient(http, make_config(server.url, **config), breaker=breaker)


@pytest.fixture
def write_client(writable: SandboxServer, write_http: httpx.AsyncClient) -> AceClient:
    return _client_of(writable, write_http)


async def _guid(client: AceClient, username: str) -> str:
    return (await client.login("demo", username, DEMO_PASSWORD)).guid


def _task_of(server: SandboxServer, user_id: int) -> int:
    """A task of one of the user's projects."""
    account = server.store["demo"]
    projects = account.projects_by_member[user_id]
    return min(t for t, task in account.tasks.items() if task.project_id in projects)


async def _refused(call: object, code: ErrorCode = ErrorCode.ACE_BAD_RESPONSE) -> AceError:
    with pytest.raises(AceError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code is code
    return caught.value


async def test_a_time_line_round_trips_create_change_delete(
    write_client: AceClient, writable: SandboxServer
) -> None:
    guid = await _guid(write_client, "alice")
    task_id = _task_of(writable, ALICE)
    line = await write_client.save_work_item(
        guid,
        week_start=SUNDAY,
        hours=[0, 2.5, 1, 0, 0, 0, 0],
        task_id=task_id,
        comments="layout",
    )
    days = await write_client.get_time_line(guid, timesheet_line_id=line, week_start=SUNDAY)
    assert {(e.date_worked, e.total_hours, e.comment, e.task_id) for e in days} == {
        (SUNDAY + timedelta(days=1), 2.5, "layout", task_id),
        (SUNDAY + timedelta(days=2), 1.0, "layout", task_id),
    }

    # A change sends the whole week: the day kept as ACE has it, one day changed.
    same = await write_client.save_work_item(
        guid,
        week_start=SUNDAY,
        hours=[0, 2.5, 3, 0, 0, 0, 0],
        task_id=task_id,
        comments="layout v2",
        timesheet_line_id=line,
    )
    assert same == line
    days = await write_client.get_time_line(guid, timesheet_line_id=line, week_start=SUNDAY)
    assert sorted((e.date_worked.isoformat(), e.total_hours, e.comment) for e in days) == [
        ((SUNDAY + timedelta(days=1)).isoformat(), 2.5, "layout v2"),
        ((SUNDAY + timedelta(days=2)).isoformat(), 3.0, "layout v2"),
    ]

    await write_client.delete_work_item(guid, timesheet_line_id=line)
    assert await write_client.get_time_line(guid, timesheet_line_id=line, week_start=SUNDAY) == []
    await _refused(write_client.delete_work_item(guid, timesheet_line_id=line))


async def test_time_line_refusals(write_client: AceClient, writable: SandboxServer) -> None:
    alice = await _guid(write_client, "alice")
    task_id = _task_of(writable, ALICE)
    week = [1.0, 0, 0, 0, 0, 0, 0]
    unknown_task = write_client.save_work_item(alice, week_start=SUNDAY, hours=week, task_id=1)
    unknown = await _refused(unknown_task)
    assert isinstance(unknown, AceRequestRefusedError)
    assert unknown.error_number is not None
    too_many = write_client.save_work_item(
        alice, week_start=SUNDAY, hours=[25, 0, 0, 0, 0, 0, 0], task_id=task_id
    )
    refused = await _refused(too_many)
    assert isinstance(refused, AceRequestRefusedError)
    for_bob = write_client.save_work_item(
        alice, week_start=SUNDAY, hours=week, task_id=task_id, user_id=BOB
    )
    await _refused(for_bob)
    writable.store["demo"].close_period(SUNDAY + timedelta(days=3))
    closed = write_client.save_work_item(alice, week_start=SUNDAY, hours=week, task_id=task_id)
    await _refused(closed)
    assert writable.stats.count("saveworkitem") == 4  # each refusal asked once, never again


async def test_an_administrator_may_write_for_another_user(
    write_client: AceClient, writable: SandboxServer
) -> None:
    admin = await _guid(write_client, "admin")
    task_id = _task_of(writable, BOB)
    line = await write_client.save_work_item(
        admin, week_start=SUNDAY, hours=[0, 0, 0, 4, 0, 0, 0], task_id=task_id, user_id=BOB
    )
    (day,) = await write_client.get_time_line(admin, timesheet_line_id=line, week_start=SUNDAY)
    assert (day.creator_user_id, day.total_hours) == (BOB, 4.0)


async def test_save_task_round_trips_status_percent_and_comment(
    write_client: AceClient, writable: SandboxServer
) -> None:
    guid = await _guid(write_client, "alice")
    task_id = _task_of(writable, ALICE)
    account = writable.store["demo"]
    project_id = account.tasks[task_id].project_id
    target = account.task_status_list(project_id)[-1]
    await write_client.save_task(
        guid, task_id=task_id, status_id=target.task_status_id, percent_done=70, comment="done?"
    )
    (task,) = [t for t in await all_tasks(write_client, guid) if t.task_id == task_id]
    assert (task.status_id, task.status_name) == (target.task_status_id, target.name)
    assert task.percent_done == 70.0
    assert [c.text for c in account.task_comments[task_id]][-1:] == ["done?"]

    foreign = account.task_status_list(next(p for p in account.projects if p != project_id))
    other_ids = {s.task_status_id for s in foreign} - {
        s.task_status_id for s in account.task_status_list(project_id)
    }
    await _refused(write_client.save_task(guid, task_id=task_id, status_id=min(other_ids)))
    await _refused(write_client.save_task(guid, task_id=999_999, percent_done=10))


async def test_assign_user_task_round_trips_through_the_task_lists(
    write_client: AceClient, writable: SandboxServer
) -> None:
    admin = await _guid(write_client, "admin")
    task_id = _task_of(writable, BOB)
    await write_client.assign_user_task(
        admin, task_id=task_id, user_id=BOB, is_assignee=False, is_reviewer=True
    )
    assert task_id in await write_client.get_task_ids(admin, reviewer_user_id=BOB)
    assert task_id not in await write_client.get_task_ids(admin, assigned_user_id=BOB)
    await write_client.assign_user_task(
        admin, task_id=task_id, user_id=BOB, is_assignee=False, is_reviewer=False
    )
    assert task_id not in await write_client.get_task_ids(admin, reviewer_user_id=BOB)

    alice = await _guid(write_client, "alice")
    await _refused(
        write_client.assign_user_task(alice, task_id=task_id, user_id=BOB, is_assignee=True)
    )


async def test_a_write_with_an_expired_session_is_session_expired(
    write_client: AceClient, writable: SandboxServer
) -> None:
    guid = await _guid(write_client, "alice")
    writable.app.expire_sessions("demo")
    task_id = _task_of(writable, ALICE)
    await _refused(
        write_client.save_task(guid, task_id=task_id, percent_done=10),
        ErrorCode.ACE_SESSION_EXPIRED,
    )


async def test_a_write_that_timed_out_is_not_sent_again(
    write_client: AceClient, writable: SandboxServer, write_http: httpx.AsyncClient
) -> None:
    guid = await _guid(write_client, "alice")
    task_id = _task_of(writable, ALICE)
    writable.faults.set(latency=1.0, latency_fcts=["saveworkitem"])
    client = _client_of(writable, write_http, deadline_seconds=0.3)
    await _refused(
        client.save_work_item(
            guid, week_start=SUNDAY, hours=[1, 0, 0, 0, 0, 0, 0], task_id=task_id
        ),
        ErrorCode.ACE_TIMEOUT,
    )
    await asyncio.sleep(1.2)  # the sandbox answers (and counts) after its latency
    assert writable.stats.count("saveworkitem") == 1
