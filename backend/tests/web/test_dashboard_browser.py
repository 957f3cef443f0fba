"""The dashboard end to end in Debian's Chromium: acehub served on a loopback port, the ACE
sandbox as ACE. alice signs in and sees her tasks, logs 1.5 hours (ACE gets the entry, the
chart and the table show it), signs out (the old session is refused afterwards); the admin
sees the projects' progress and the sync. Screenshots at 1440 and 375 px wide."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.main import create_app
from app.models import Task, TaskAssignee, TaskLog, User
from tests.conftest import make_settings
from tests.web.conftest import LiveServer, save_screenshot

PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1440, "height": 900}

# A browser run is slow and the pages do not depend on the database: once, on SQLite.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def server(
    database_url: str, database: Database, own_sandbox: SandboxServer
) -> AsyncIterator[LiveServer]:
    """acehub on a sandbox of this test's own (the test writes to ACE)."""
    settings = make_settings(database_url, ace_api_url=own_sandbox.url, sync_time_entries_days=800)
    live = LiveServer(app=create_app(settings), settings=settings)
    await asyncio.to_thread(live.start)
    try:
        yield live
    finally:
        await asyncio.to_thread(live.stop)


async def _mirror(server: LiveServer) -> None:
    """The demo account synced once (through the API, as an admin would)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
        login = await api.post(
            "/user/login",
            json={"account_id": "demo", "username": "admin", "password": "demo-password"},
        )
        headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
        job = (await api.post("/sync/jobs", json={"kind": "full"}, headers=headers)).json()
        for _ in range(300):
            state = (await api.get(f"/sync/jobs/{job['data']['id']}", headers=headers)).json()
            if state["data"]["state"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
    assert state["data"]["state"] == "succeeded", state


async def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    await page.goto(f"{server.url}/dashboard/login")
    await page.get_by_label("ACE account id").fill("demo")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill("demo-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{server.url}/dashboard")


async def _both_widths(page: Page, name: str) -> None:
    await save_screenshot(page, f"{name}-1440", full_page=True)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await save_screenshot(page, f"{name}-375", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


async def _alice_tasks(database: Database) -> list[Task]:
    async with database.session() as session:
        alice = await session.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        hers = select(TaskAssignee.task_id).where(TaskAssignee.user_id == alice.id)
        return list(await session.scalars(select(Task).where(Task.id.in_(hers))))


async def test_alice_logs_time_and_the_admin_sees_the_team(
    server: LiveServer,
    database: Database,
    own_sandbox: SandboxServer,
    page: Page,
    blocked_requests: list[str],
    refused_by_policy: list[str],
    page_errors: list[str],
) -> None:
    await _mirror(server)

    await _sign_in(page, server, "alice")
    tasks = await _alice_tasks(database)
    assert tasks
    rows = page.locator("table.tasks tbody tr")
    await expect(rows.first).to_be_visible()
    ids = await rows.evaluate_all("rows => rows.map(row => Number(row.dataset.taskId))")
    live = {task.id for task in tasks if task.deleted_at is None}
    assert set(ids) <= live
    assert len(ids) == min(len(live), 20)
    await expect(page.locator("#freshness")).to_contain_text("Mirror synced through")

    first = rows.first
    task_id = int(await first.get_attribute("data-task-id") or 0)
    await first.get_by_label("Hours on").fill("1.5")
    await first.get_by_label("Comment on").fill("Browser test")
    await first.get_by_role("button", name="Log").click()
    await expect(page.get_by_role("status")).to_have_text("Time logged.")
    await expect(page.locator("#time-heading")).to_contain_text("(1.5 h)")
    await expect(page.locator("table.time tfoot")).to_contain_text("1.5")
    await expect(page.locator("#time svg rect title").first).to_contain_text("1.5 h")
    async with database.session() as session:
        log = await session.scalar(
            select(TaskLog).where(TaskLog.task_id == task_id, TaskLog.date_worked == date.today())
        )
    assert log is not None
    line = own_sandbox.store["demo"].time_lines[log.ace_timesheet_line_id or 0]
    assert [(e.total, e.comment) for e in line.days.values()] == [(1.5, "Browser test")]
    await save_screenshot(page, "dashboard", full_page=True)  # the README's picture
    await _both_widths(page, "dashboard-alice")

    cookies = await page.context.cookies()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{server.url}/dashboard/login?notice=signed-out")
    await page.context.add_cookies(  # the old session, replayed
        [
            {"name": c["name"], "value": c["value"], "domain": c["domain"], "path": c["path"]}
            for c in cookies
        ]
    )
    await page.goto(f"{server.url}/dashboard")
    await expect(page).to_have_url(f"{server.url}/dashboard/login")

    await _sign_in(page, server, "admin")
    await expect(page.locator("#projects li.project").first).to_be_visible()
    await expect(page.locator("#sync .job")).to_contain_text("succeeded")
    await expect(page.locator("#workload tbody tr").first).to_be_visible()
    await _both_widths(page, "dashboard-admin")

    assert blocked_requests == []
    assert refused_by_policy == []
    assert page_errors == []


async def test_the_filters_refresh_the_task_table_in_place(
    server: LiveServer, page: Page, refused_by_policy: list[str], page_errors: list[str]
) -> None:
    await _mirror(server)
    await _sign_in(page, server, "alice")
    before = await page.locator("table.tasks tbody tr").count()
    assert before > 0
    marker = await page.evaluate("() => { window.notReloaded = true; return 1 }")
    assert marker == 1
    await page.get_by_label("completed").check()
    await expect(page.locator("#tasks-heading")).not_to_contain_text(f"({before} task")
    # htmx swapped the table: the page itself was not reloaded
    assert await page.evaluate("() => window.notReloaded === true")
    statuses = await page.locator("table.tasks tbody .tag").all_inner_texts()
    assert all(text in ("completed", "overdue") for text in statuses)
    assert refused_by_policy == []
    assert page_errors == []
