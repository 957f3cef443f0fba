"""login, getlogininfo, logout, getpublicsettings, GUID expiry and account isolation."""

from __future__ import annotations

import asyncio
import re

import httpx

from ace_sandbox.app import SandboxApp, SandboxConfig, create_app
from ace_sandbox.data import DEMO_PASSWORD, generate
from ace_sandbox.models import ACCESS_DENIED
from ace_sandbox.testing import AceCaller, SandboxServer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _caller(app: SandboxApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


async def test_login_row(ace: AceCaller) -> None:
    rows = await ace.ok("login", accountid="demo", username="admin", password=DEMO_PASSWORD)
    assert len(rows) == 1
    row = rows[0]
    assert UUID.match(row["GUID"])
    assert len(row["GUID"]) == 36
    assert {k: v for k, v in row.items() if k != "GUID"} == {
        "USER_ID": 1,
        "USERNAME": "admin",
        "FIRST_NAME": "Ada",
        "LAST_NAME": "Admin",
        "EMAIL_ALERT": "admin@demo.example.com",
        "ACCOUNT_ID": "demo",
        "ACCESS_LEVEL": 2,
    }


async def test_each_login_gets_a_new_guid(ace: AceCaller) -> None:
    assert await ace.login("bob") != await ace.login("bob")


async def test_login_by_email(ace: AceCaller) -> None:
    rows = await ace.ok(
        "login", accountid="demo", username="Bob@demo.example.com", password=DEMO_PASSWORD
    )
    assert rows[0]["USERNAME"] == "bob"


async def test_login_missing_parameters_fail_1001(ace: AceCaller) -> None:
    for missing in ("accountid", "username", "password"):
        params = {"accountid": "demo", "username": "alice", "password": DEMO_PASSWORD}
        params[missing] = ""
        row = await ace.fail("login", **params)
        assert row["ERRORNUMBER"] == 1001
        assert missing in row["ERRORDESCRIPTION"]
    row = await ace.fail("login", accountid="", username="", password="")
    assert row["ERRORNUMBER"] == 1001


async def test_login_unknown_account_fails_1002(ace: AceCaller) -> None:
    row = await ace.fail("login", accountid="nope", username="alice", password=DEMO_PASSWORD)
    assert row == {"ERRORNUMBER": 1002, "ERRORDESCRIPTION": "invalid account"}


async def test_login_bad_credentials_fail_1003(ace: AceCaller) -> None:
    wrong = await ace.fail("login", accountid="demo", username="alice", password="nope")
    unknown = await ace.fail("login", accountid="demo", username="zed", password=DEMO_PASSWORD)
    case = await ace.fail(
        "login", accountid="demo", username="alice", password=DEMO_PASSWORD.upper()
    )
    expected = {"ERRORNUMBER": 1003, "ERRORDESCRIPTION": "invalid username or password"}
    assert wrong == unknown == case == expected


async def test_inactive_or_denied_user_fails_1004(app: SandboxApp, local: AceCaller) -> None:
    demo = app.store["demo"]
    demo.deactivate_user(3)
    row = await local.fail("login", accountid="demo", username="bob", password=DEMO_PASSWORD)
    assert row == {"ERRORNUMBER": 1004, "ERRORDESCRIPTION": "user is not active"}
    wrong = await local.fail("login", accountid="demo", username="bob", password="x")
    assert wrong["ERRORNUMBER"] == 1003
    demo.update_user(2, access_status=ACCESS_DENIED)
    row = await local.fail("login", accountid="demo", username="alice", password=DEMO_PASSWORD)
    assert row["ERRORNUMBER"] == 1004


async def test_getlogininfo_returns_the_login_row(ace: AceCaller) -> None:
    login = (await ace.ok("login", accountid="demo", username="bob", password=DEMO_PASSWORD))[0]
    info = await ace.ok("getlogininfo", guid=login["GUID"])
    assert info == [login]
    upper = await ace.ok("getlogininfo", guid=login["GUID"].upper())
    assert upper == [login]


async def test_missing_guid_fails_1001_and_bad_guid_2001(ace: AceCaller) -> None:
    missing = await ace.fail("gettasks")
    assert missing["ERRORNUMBER"] == 1001
    bad = await ace.fail("gettasks", guid="00000000-0000-4000-8000-000000000000")
    assert bad == {"ERRORNUMBER": 2001, "ERRORDESCRIPTION": "invalid or expired GUID"}
    garbage = await ace.fail("getlogininfo", guid="garbage")
    assert garbage["ERRORNUMBER"] == 2001


async def test_logout_invalidates_the_guid(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    assert await ace.ok("logout", guid=guid) == []
    assert (await ace.fail("gettasks", guid=guid))["ERRORNUMBER"] == 2001
    assert (await ace.fail("logout", guid=guid))["ERRORNUMBER"] == 2001


async def test_accountid_is_ignored_when_guid_is_present(ace: AceCaller) -> None:
    guid = await ace.login("alice")
    rows = await ace.ok("getlogininfo", guid=guid, accountid="acme")
    assert rows[0]["ACCOUNT_ID"] == "demo"


async def test_getpublicsettings(ace: AceCaller) -> None:
    rows = await ace.ok("getpublicsettings", accountid="Demo")
    assert rows == [
        {
            "ACCOUNT_ID": "demo",
            "CUSTOM_PRODUCT_NAME": "AceProject Demo",
            "COMPANY_NAME": "Demo Company",
            "DEFAULT_LANGUAGE": "en-US",
            "SSO_ENABLED": False,
        }
    ]
    assert (await ace.fail("getpublicsettings", accountid="nope"))["ERRORNUMBER"] == 1002
    assert (await ace.fail("getpublicsettings"))["ERRORNUMBER"] == 1001


async def test_guid_sliding_idle_expiry_over_real_http() -> None:
    config = SandboxConfig(guid_idle_seconds=1.0)
    async with (
        SandboxServer(generate(), config) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        ace = AceCaller(client)
        guid = await ace.login("alice")
        for _ in range(3):  # each call within the idle time slides the expiry
            await asyncio.sleep(0.6)
            await ace.ok("getlogininfo", guid=guid)
        await asyncio.sleep(1.3)
        row = await ace.fail("getlogininfo", guid=guid)
        assert row["ERRORNUMBER"] == 2001
        assert (await ace.fail("gettasks", guid=guid))["ERRORNUMBER"] == 2001


async def test_failed_calls_do_not_refresh_the_guid() -> None:
    clock = FakeClock()
    app = create_app(generate(), SandboxConfig(guid_idle_seconds=10, clock=clock))
    async with _caller(app) as client:
        ace = AceCaller(client)
        guid = await ace.login("alice")
        clock.now += 8
        assert (await ace.fail("gettasks", guid=guid, projectid="x"))["ERRORNUMBER"] == 3001
        clock.now += 3
        assert (await ace.fail("gettasks", guid=guid))["ERRORNUMBER"] == 2001


async def test_guid_absolute_cap() -> None:
    clock = FakeClock()
    config = SandboxConfig(guid_idle_seconds=10, guid_max_age_seconds=25, clock=clock)
    app = create_app(generate(), config)
    async with _caller(app) as client:
        ace = AceCaller(client)
        guid = await ace.login("alice")
        for _ in range(4):
            clock.now += 6
            await ace.ok("getlogininfo", guid=guid)
        clock.now += 2  # 26 s after login, last use 2 s ago
        assert (await ace.fail("getlogininfo", guid=guid))["ERRORNUMBER"] == 2001


async def test_deactivated_users_guid_stops_working(app: SandboxApp, local: AceCaller) -> None:
    guid = await local.login("bob")
    await local.ok("gettasks", guid=guid)
    app.store["demo"].deactivate_user(3)
    assert (await local.fail("gettasks", guid=guid))["ERRORNUMBER"] == 2001
    app.store["demo"].activate_user(3)
    assert (await local.fail("gettasks", guid=guid))["ERRORNUMBER"] == 2001


async def test_accounts_are_isolated_and_ids_overlap(ace: AceCaller) -> None:
    demo = await ace.login("admin")
    acme = await ace.login("carol", account="acme")
    demo_projects = await ace.ok("getprojects", guid=demo)
    acme_projects = await ace.ok("getprojects", guid=acme)
    assert demo_projects[0]["PROJECT_ID"] == acme_projects[0]["PROJECT_ID"] == 1000
    assert demo_projects[0]["PROJECT_NAME"] == "Website Redesign"
    assert acme_projects[0]["PROJECT_NAME"] == "Rocket Skates"
    acme_users = {u["USERNAME"] for u in await ace.ok("getusers", guid=acme)}
    assert acme_users == {"carol", "dave"}
    acme_tasks = await ace.ok("gettasks", guid=acme)
    demo_tasks = await ace.ok("gettasks", guid=demo)
    assert len(acme_tasks) == 12
    assert len(demo_tasks) == 24
    assert acme_tasks[0]["TASK_ID"] == demo_tasks[0]["TASK_ID"] == 10000
    assert acme_tasks[0]["ASSIGNED"] == "Dave Diaz"
    # a demo user name does not log in to acme
    row = await ace.fail("login", accountid="acme", username="alice", password=DEMO_PASSWORD)
    assert row["ERRORNUMBER"] == 1003
