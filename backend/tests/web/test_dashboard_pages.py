"""The dashboard's pages through the ASGI app, on both databases, with the sandbox as ACE:
the cookie session (flags, refresh, sign-out), CSRF, the security headers, escaping, the
forms, and that a member sees only their own data through every page and parameter."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import pytest
from sqlalchemy import select, update

from app.auth import jwt_handler
from app.config import AppEnv
from app.models import Task, TaskAssignee, TaskLog
from app.web.session import ACCESS_COOKIE, REFRESH_COOKIE
from tests.sync.conftest import SyncEnv
from tests.task_logs.helpers import all_logs, ready, task_of, user_named
from tests.web.dashboard_helpers import csrf_of, sign_in_form, signed_in


def _client(env: SyncEnv) -> httpx.AsyncClient:
    """A browser-like client of its own (its own cookie jar)."""
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_sign_in_sets_http_only_lax_cookies_and_shows_my_tasks(env: SyncEnv) -> None:
    await ready(env)
    alice_task = await task_of(env, "alice")
    other_task = await task_of(env, "alice", mine=False)
    async with _client(env) as browser:
        response = await sign_in_form(browser, "alice")

        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            [cookie] = [c for c in cookies if c.startswith(f"{name}=")]
            flags = {part.strip().lower() for part in cookie.split(";")}
            assert {"httponly", "samesite=lax", "path=/dashboard"} <= flags
            assert "secure" not in flags  # not production
        page = await browser.get("/dashboard")
        assert page.status_code == 200
        assert alice_task.title in page.text
        assert f'data-task-id="{other_task.id}"' not in page.text
        assert "Mirror synced through" in page.text
        assert "Sign out" in page.text


async def test_cookies_are_secure_in_production(env: SyncEnv) -> None:
    from starlette.responses import Response

    from app.dto.auth_dto import TokenPair
    from app.web.session import set_session_cookies

    production = env.settings.model_copy(update={"app_env": AppEnv.production})
    response = Response()
    set_session_cookies(
        response, production, TokenPair(access_token="a", refresh_token="r", expires_in=1)
    )
    for cookie in response.headers.getlist("set-cookie"):
        assert "secure" in cookie.lower()
        assert "httponly" in cookie.lower()


async def test_sign_in_errors_appear_on_the_page(env: SyncEnv) -> None:
    async with _client(env) as browser:
        wrong = await sign_in_form(browser, "alice", password="not-it")
        assert wrong.status_code == 401
        assert "Wrong username or password." in wrong.text
        unknown = await sign_in_form(browser, "alice", account_id="no-such-account")
        assert unknown.status_code == 401
        assert "No such ACE account." in unknown.text
        env.sandbox.faults.set(fail_next=20)
        down = await sign_in_form(browser, "alice")
        env.sandbox.faults.reset()
        assert down.status_code in (502, 503)
        assert "ACE" in down.text
        assert "try again" in down.text
        assert ACCESS_COOKIE not in browser.cookies


async def test_a_sign_in_without_the_form_s_token_is_refused(env: SyncEnv) -> None:
    async with _client(env) as browser:
        await browser.get("/dashboard/login")
        forged = await browser.post(
            "/dashboard/login",
            data={"account_id": "demo", "username": "alice", "password": "demo-password"},
        )
        assert forged.status_code == 403
        assert ACCESS_COOKIE not in browser.cookies


async def test_pages_carry_the_security_headers(env: SyncEnv) -> None:
    await ready(env)
    async with _client(env) as browser:
        await signed_in(browser, "alice")
        for path in ("/dashboard", "/dashboard/login", "/dashboard/tasks"):
            headers = (await browser.get(path)).headers
            policy = headers["content-security-policy"]
            assert "script-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert "unsafe-inline" not in policy
            assert "http" not in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"
        page = (await browser.get("/dashboard")).text
        assert "<script>" not in page
        assert "<style" not in page
        assert " style=" not in page
        assert 'src="/static/vendor/htmx.org/htmx.min.js"' in page


async def test_a_task_title_is_escaped(env: SyncEnv) -> None:
    await ready(env)
    task = await task_of(env, "alice")
    async with env.database.session() as session, session.begin():
        await session.execute(
            update(Task).where(Task.id == task.id).values(title="<script>alert(1)</script>")
        )
    async with _client(env) as browser:
        page = await signed_in(browser, "alice")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_forms_without_a_valid_csrf_token_change_nothing(own_env: SyncEnv) -> None:
    env = own_env
    await ready(env)
    task = await task_of(env, "alice")
    async with _client(env) as browser:
        await signed_in(browser, "alice")
        for token in (None, "forged", csrf_of((await browser.get("/dashboard/login")).text)):
            form = {"date_worked": date.today().isoformat(), "hours": "1"}
            if token is not None:
                form["csrf_token"] = token
            refused = await browser.post(f"/dashboard/tasks/{task.id}/logs", data=form)
            assert refused.status_code == 403, refused.text
            assert "did not come from acehub" in refused.text
        status = await browser.post(
            f"/dashboard/tasks/{task.id}/status", data={"status_type": "completed"}
        )
        assert status.status_code == 403
        signed_out = await browser.post("/dashboard/logout", data={"csrf_token": "x"})
        assert signed_out.status_code == 403
    assert await all_logs(env, task_id=task.id, date_worked=date.today()) == []


async def test_logging_time_goes_to_ace_and_shows_in_the_time_table(own_env: SyncEnv) -> None:
    env = own_env
    await ready(env)
    task = await task_of(env, "alice")
    async with _client(env) as browser:
        page = await signed_in(browser, "alice")
        logged = await browser.post(
            f"/dashboard/tasks/{task.id}/logs",
            data={
                "csrf_token": csrf_of(page),
                "date_worked": date.today().isoformat(),
                "hours": "1.5",
                "comment": "From the page",
            },
        )
        assert logged.status_code == 303, logged.text
        after = await browser.get(logged.headers["location"])
        assert "Time logged." in after.text
        assert 'My time <span class="count">(1.5 h)</span>' in after.text
        export = await browser.get("/dashboard/time.csv?bucket=day")
        assert export.status_code == 200
        assert "attachment" in export.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(export.text)))
        assert any("1.5" in row for row in rows[1:])
        bad = await browser.post(
            f"/dashboard/tasks/{task.id}/logs",
            data={
                "csrf_token": csrf_of(page),
                "date_worked": date.today().isoformat(),
                "hours": "25",
            },
        )
        assert bad.status_code == 422
        assert "hours" in bad.text
    [log] = await all_logs(env, task_id=task.id, kind="time", date_worked=date.today())
    assert (log.hours, log.source.value, log.comment) == (1.5, "ace", "From the page")
    line = env.sandbox.store["demo"].time_lines[log.ace_timesheet_line_id or 0]
    assert [entry.total for entry in line.days.values()] == [1.5]


async def test_an_expired_access_token_is_refreshed_on_the_way(env: SyncEnv) -> None:
    await ready(env)
    async with _client(env) as browser:
        await signed_in(browser, "alice")
        claims = jwt_handler.decode_token(
            browser.cookies[ACCESS_COOKIE], settings=env.settings, expected="access"
        )
        stale = env.settings.model_copy(update={"access_token_expire_minutes": -10})
        expired = jwt_handler.create_access_token(
            settings=stale, sub=claims.sub, role=claims.role, sid=claims.sid or ""
        )
        old_refresh = browser.cookies[REFRESH_COOKIE]
        browser.cookies.set(ACCESS_COOKIE, expired.token, path="/dashboard")

        page = await browser.get("/dashboard")

        assert page.status_code == 200
        assert browser.cookies[REFRESH_COOKIE] != old_refresh  # rotated, set on the answer
        again = await browser.get("/dashboard")
        assert again.status_code == 200


async def test_sign_out_revokes_the_session(env: SyncEnv) -> None:
    await ready(env)
    async with _client(env) as browser:
        page = await signed_in(browser, "alice")
        access = browser.cookies[ACCESS_COOKIE]
        out = await browser.post("/dashboard/logout", data={"csrf_token": csrf_of(page)})
        assert out.status_code == 303
        assert out.headers["location"].startswith("/dashboard/login")
        assert ACCESS_COOKIE not in browser.cookies
        # the old cookie, replayed: back to the sign-in page, and refused by the API too
        browser.cookies.set(ACCESS_COOKIE, access, path="/dashboard")
        replay = await browser.get("/dashboard")
        assert replay.status_code == 303
        assert replay.headers["location"] == "/dashboard/login"
        partial = await browser.get("/dashboard/tasks", headers={"HX-Request": "true"})
        assert partial.headers["hx-redirect"] == "/dashboard/login"
    api = await env.client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert api.status_code == 401
    assert api.json()["error_code"] == "TOKEN_REVOKED"


async def test_without_a_session_every_page_goes_to_sign_in(env: SyncEnv) -> None:
    async with _client(env) as browser:
        for path in ("/dashboard", "/dashboard/tasks", "/dashboard/time.csv"):
            response = await browser.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/dashboard/login"
        posted = await browser.post("/dashboard/sync", data={"csrf_token": "x"})
        assert posted.status_code == 303


async def _task_of_bob_only(env: SyncEnv) -> Task:
    alice, bob = await user_named(env, "alice"), await user_named(env, "bob")
    async with env.database.session() as session:
        theirs = select(TaskAssignee.task_id).where(TaskAssignee.user_id == bob.id)
        hers = select(TaskAssignee.task_id).where(TaskAssignee.user_id == alice.id)
        task = await session.scalar(
            select(Task).where(Task.id.in_(theirs), Task.id.not_in(hers)).order_by(Task.id)
        )
    assert task is not None
    return task


async def test_a_member_sees_only_their_own_data(env: SyncEnv) -> None:
    await ready(env)
    bob_task = await _task_of_bob_only(env)
    bob = await user_named(env, "bob")
    today = date.today().isoformat()
    async with env.database.session() as session, session.begin():
        session.add(
            TaskLog(
                account_id="demo",
                task_id=bob_task.id,
                user_id=bob.id,
                kind="time",
                date_worked=date.today(),
                hours=7.25,
                comment="Bob's private work",
                source="local",
            )
        )
    async with _client(env) as browser:
        await signed_in(browser, "alice")
        probes = [
            "/dashboard",
            f"/dashboard?user_id={bob.id}",
            f"/dashboard?project_id={bob_task.project_id}",
            f"/dashboard/tasks?user_id={bob.id}",
            f"/dashboard/tasks?project_id={bob_task.project_id}",
            f"/dashboard/time.csv?user_id={bob.id}&date_from={today}",
            f"/dashboard/time.xlsx?user_id={bob.id}&date_from={today}",
        ]
        for path in probes:
            response = await browser.get(path)
            assert response.status_code == 200, (path, response.text)
            assert b"7.25" not in response.content, path
            assert f'data-task-id="{bob_task.id}"' not in response.text, path
            assert bob_task.title not in response.text, path
        page = (await browser.get("/dashboard")).text
        assert 'id="workload"' not in page
        assert 'id="sync"' not in page
        refused = await browser.post("/dashboard/sync", data={"csrf_token": csrf_of(page)})
        assert refused.status_code == 403
        assert "Only managers and admins" in refused.text
    # the same data is there for a manager to see
    async with _client(env) as browser:
        admin_page = await signed_in(browser, "admin")
        csv_text = (await browser.get(f"/dashboard/time.csv?date_from={today}")).text
    assert 'id="workload"' in admin_page
    assert "7.25" in csv_text
    assert "7.25" in admin_page.split('id="workload"')[1]


async def test_an_admin_sees_progress_workload_overdue_and_the_sync(own_env: SyncEnv) -> None:
    env = own_env
    await ready(env)
    async with _client(env) as browser:
        page = await signed_in(browser, "admin")
        for section in ('id="projects"', 'id="workload"', 'id="overdue-list"', 'id="sync"'):
            assert section in page
        assert "succeeded" in page
        started = await browser.post("/dashboard/sync", data={"csrf_token": csrf_of(page)})
        assert started.status_code == 303, started.text
        await env.app.state.jobs.wait_idle()
        after = await browser.get("/dashboard")
        assert after.status_code == 200


@pytest.mark.parametrize("query", ["bucket=year", "offset=-1", "project_id=abc"])
async def test_bad_filters_are_refused_by_name(env: SyncEnv, query: str) -> None:
    await ready(env)
    async with _client(env) as browser:
        await signed_in(browser, "alice")
        response = await browser.get(f"/dashboard?{query}")
    assert response.status_code == 422
    assert query.split("=")[0] in response.text
