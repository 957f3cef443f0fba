"""Fault switches (in-process and through the admin endpoint), stats and admin data edits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from ace_sandbox.app import SandboxConfig, create_app
from ace_sandbox.data import DEMO_PASSWORD, generate
from ace_sandbox.faults import Faults, apply_changes
from ace_sandbox.testing import AceCaller, SandboxServer

LOGIN = {
    "fct": "login",
    "format": "iso8601",
    "accountid": "demo",
    "username": "alice",
    "password": DEMO_PASSWORD,
}


async def _post(client: httpx.AsyncClient, **extra: str) -> httpx.Response:
    return await client.post("/", data={**LOGIN, **extra})


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as client:
        yield client


async def test_admin_faults_endpoint_round_trip(http: httpx.AsyncClient) -> None:
    defaults = (await http.get("/_sandbox/faults")).json()
    assert defaults == Faults().to_dict()
    changed = await http.post("/_sandbox/faults", json={"latency": 0.01, "fcts": ["GetTasks"]})
    assert changed.status_code == 200
    assert changed.json()["latency"] == 0.01
    assert changed.json()["fcts"] == ["gettasks"]
    merged = await http.post("/_sandbox/faults", json={"error_every": 3})
    assert merged.json()["latency"] == 0.01
    replaced = await http.put("/_sandbox/faults", json={"malformed": True})
    assert replaced.json() == {**Faults().to_dict(), "malformed": True}
    cleared = await http.delete("/_sandbox/faults")
    assert cleared.json() == Faults().to_dict()


@pytest.mark.parametrize(
    "body",
    [
        {"nope": 1},
        {"error_rate": 2},
        {"error_rate": "high"},
        {"throttle_status": 418},
        {"latency": -1},
        {"malformed": 1},
        {"redirect_to": "elsewhere"},
        {"redirect_to": "http://bad host/"},
        {"replace_content_type": "text/é"},
        {"block_user_agent": "(unclosed"},
        {"error_status": 404},
        {"fail_next": 1.5},
    ],
)
async def test_admin_faults_rejects_bad_values(
    http: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await http.post("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert (await http.get("/_sandbox/faults")).json() == Faults().to_dict()


async def test_admin_rejects_non_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/_sandbox/faults", content=b"{not json")
    assert response.status_code == 400
    response = await http.post("/_sandbox/faults", content=b"[1]")
    assert response.status_code == 400
    assert (await http.get("/_sandbox/nothing")).status_code == 404


async def test_latency_scoped_to_some_functions(
    sandbox: SandboxServer, http: httpx.AsyncClient
) -> None:
    sandbox.faults.set(latency=0.3, latency_fcts=["gettaskstatuses"])
    started = time.perf_counter()
    login = await _post(http)
    assert time.perf_counter() - started < 0.25
    guid = login.json()["results"][0]["GUID"]
    started = time.perf_counter()
    slow = await http.post(
        "/",
        data={"fct": "gettaskstatuses", "guid": guid, "format": "iso8601", "projectid": "1000"},
    )
    assert time.perf_counter() - started >= 0.3
    assert slow.json()["status"] == "ok"


async def test_latency_triggers_client_timeout(sandbox: SandboxServer) -> None:
    sandbox.faults.set(latency=2.0)
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=0.2) as client:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await _post(client)
        assert time.perf_counter() - started < 1.0


async def test_fail_next_counter(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(fail_next=2)
    statuses = [(await _post(http)).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert sandbox.faults.current.fail_next == 0
    assert sandbox.stats.count("login") == 4


async def test_error_every_nth(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(error_every=3, error_status=503)
    statuses = [(await _post(http)).status_code for _ in range(7)]
    assert statuses == [200, 200, 503, 200, 200, 503, 200]


async def test_error_rate_is_repeatable() -> None:
    def draws(seed: int) -> list[int]:
        app = create_app(generate(), SandboxConfig(faults={"error_rate": 0.5, "error_seed": seed}))
        return [
            1 if app.faults.decide("login", None, "127.0.0.1", "ua").action == "error" else 0
            for _ in range(40)
        ]

    first, again, other = draws(7), draws(7), draws(8)
    assert first == again
    assert first != other
    assert 5 < sum(first) < 35
    never = create_app(generate(), SandboxConfig(faults={"error_rate": 0.0}))
    assert all(never.faults.decide("x", None, "", "").action is None for _ in range(50))
    always = create_app(generate(), SandboxConfig(faults={"error_rate": 1.0}))
    assert all(always.faults.decide("x", None, "", "").action == "error" for _ in range(50))


async def test_error_rate_over_http(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(error_rate=1.0)
    response = await _post(http)
    assert response.status_code == 500
    assert "sandbox fault" in response.text


async def test_malformed_body(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(malformed=True)
    response = await _post(http)
    assert response.status_code == 200
    assert response.text.startswith('{"status":"ok"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


@pytest.mark.parametrize("status", [200, 500, 502])
async def test_html_error_page(
    sandbox: SandboxServer, http: httpx.AsyncClient, status: int
) -> None:
    sandbox.faults.set(html_error=status)
    response = await _post(http)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_with_budget(
    sandbox: SandboxServer, http: httpx.AsyncClient, status: int
) -> None:
    sandbox.faults.set(throttle_status=status, throttle_budget=2, throttle_window=30, retry_after=7)
    codes = [(await _post(http)).status_code for _ in range(3)]
    assert codes == [200, 200, status]
    throttled = await _post(http)
    assert throttled.status_code == status
    assert throttled.headers["retry-after"] == "7"


async def test_throttle_window_resets() -> None:
    now = [100.0]
    app = create_app(generate(), SandboxConfig(clock=lambda: now[0]))
    app.faults.set(throttle_status=429, throttle_budget=1, throttle_window=10)
    assert app.faults.decide("login", "g1", "c", "").action is None
    assert app.faults.decide("login", "g1", "c", "").action == "throttle"
    assert app.faults.decide("login", "g2", "c", "").action is None  # per GUID
    now[0] += 11
    assert app.faults.decide("login", "g1", "c", "").action is None


async def test_user_agent_block(sandbox: SandboxServer) -> None:
    sandbox.faults.set(block_user_agent=r"(?i)httpful|python-httpx")
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        blocked = await _post(client)
        allowed = await client.post(
            "/", data=LOGIN, headers={"User-Agent": "acehub/0.1 (+https://example.com)"}
        )
    assert blocked.status_code == 403
    assert blocked.headers["content-type"].startswith("text/html")
    assert "Forbidden" in blocked.text
    assert allowed.status_code == 200


async def test_redirect(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(redirect_to="http://elsewhere.invalid/")
    response = await _post(http)
    assert response.status_code == 302
    assert response.headers["location"] == "http://elsewhere.invalid/"


async def test_slow_drip_triggers_read_timeout(sandbox: SandboxServer) -> None:
    sandbox.faults.set(drip_bytes=16, drip_delay=0.5)
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=httpx.Timeout(5, read=0.2)) as c:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await _post(c)
        assert time.perf_counter() - started < 1.5


async def test_slow_drip_delivers_whole_body(
    sandbox: SandboxServer, http: httpx.AsyncClient
) -> None:
    sandbox.faults.set(drip_bytes=64, drip_delay=0.01)
    response = await _post(http)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert int(response.headers["content-length"]) == len(response.content)


async def test_oversized_body(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(oversize_mb=3)
    response = await _post(http)
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert len(response.content) >= 3 * 1024 * 1024
    body = response.json()
    assert body["status"] == "ok"
    assert body["results"][0]["TASK_ID"] == 10000


async def test_oversized_body_can_be_abandoned(sandbox: SandboxServer) -> None:
    sandbox.faults.set(oversize_mb=200)
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        async with client.stream("POST", "/", data=LOGIN) as response:
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > 1024 * 1024:
                    break
    assert received > 1024 * 1024
    sandbox.faults.reset()
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        assert (await _post(client)).status_code == 200


async def test_fault_scope_by_function(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(html_error=500, fcts=["gettasks"])
    login = await _post(http)
    assert login.status_code == 200
    guid = login.json()["results"][0]["GUID"]
    tasks = await http.post("/", data={"fct": "GetTasks", "guid": guid, "format": "iso8601"})
    assert tasks.status_code == 500


async def test_forced_guid_expiry(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    ace = AceCaller(http)
    alice = await ace.login("alice")
    carol = await ace.login("carol", account="acme")
    expired = await http.post("/_sandbox/sessions/expire", json={"account": "demo"})
    assert expired.status_code == 200
    assert expired.json()["expired"] >= 1
    assert (await ace.fail("getlogininfo", guid=alice))["ERRORNUMBER"] == 2001
    await ace.ok("getlogininfo", guid=carol)
    bob = await ace.login("bob")
    alice = await ace.login("alice")
    one = await http.post("/_sandbox/sessions/expire", json={"account": "demo", "username": "bob"})
    assert one.json() == {"expired": 1}
    assert (await ace.fail("getlogininfo", guid=bob))["ERRORNUMBER"] == 2001
    await ace.ok("getlogininfo", guid=alice)
    assert sandbox.app.expire_sessions() >= 2
    assert (await ace.fail("getlogininfo", guid=carol))["ERRORNUMBER"] == 2001
    bad = await http.post("/_sandbox/sessions/expire", json={"account": "nope"})
    assert bad.status_code == 404


async def test_stats_and_reset(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    ace = AceCaller(http)
    guid = await ace.login("alice")
    await ace.ok("gettasks", guid=guid)
    await ace.ok("gettasks", guid=guid)
    await ace.call("nosuch")
    stats = (await http.get("/_sandbox/stats")).json()
    assert stats["calls"] == {"login": 1, "gettasks": 2, "nosuch": 1}
    assert stats["total"] == 4
    assert stats["statuses"] == {"200": 4}
    recent = (await http.get("/_sandbox/requests")).json()
    assert [r["fct"] for r in recent] == ["login", "gettasks", "gettasks", "nosuch"]
    assert recent[0]["method"] == "POST"
    assert recent[0]["content_type"].startswith("application/x-www-form-urlencoded")
    assert recent[0]["user_agent"].startswith("python-httpx")
    reset = await http.post("/_sandbox/reset-stats")
    assert reset.json()["total"] == 0
    assert (await http.get("/_sandbox/requests")).json() == []


async def test_faults_given_in_config() -> None:
    config = SandboxConfig(faults=Faults(fail_next=1))
    async with (
        SandboxServer(generate(), config) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        assert (await _post(client)).status_code == 500
        assert (await _post(client)).status_code == 200
        assert server.stats.snapshot()["statuses"] == {"500": 1, "200": 1}


async def test_faults_never_touch_admin_endpoints(
    sandbox: SandboxServer, http: httpx.AsyncClient
) -> None:
    sandbox.faults.set(html_error=500, latency=0.5)
    started = time.perf_counter()
    assert (await http.get("/_sandbox/health")).json() == {"status": "ok"}
    assert time.perf_counter() - started < 0.4


def test_apply_changes_accepts_comma_lists() -> None:
    faults = apply_changes(Faults(), {"fcts": "login, GetTasks", "latency": 1})
    assert faults.fcts == ["login", "gettasks"]
    assert faults.latency == 1.0


async def test_admin_data_endpoints() -> None:
    async with SandboxServer(generate()) as server, httpx.AsyncClient(base_url=server.url) as http:
        ace = AceCaller(http)
        guid = await ace.login("admin")
        base = "/_sandbox/accounts/demo"
        project = server.store["demo"].tasks[10000].project_id
        statuses = server.store["demo"].task_status_list(project)
        done = next(s.task_status_id for s in statuses if s.completed)
        updated = await http.post(
            f"{base}/tasks/10000",
            json={"task_resume": "Renamed", "task_status_id": done, "at": "2025-08-01T10:00:00"},
        )
        assert updated.status_code == 200
        row = (await ace.ok("gettasks", guid=guid, taskid=10000))[0]
        assert row["TASK_RESUME"] == "Renamed"
        assert row["TASK_STATUS_ID"] == done
        assert row["TASK_STATUS_NAME"] == server.store["demo"].task_statuses[done].name
        assert row["DATE_TASK_MODIFIED"] == "2025-08-01T10:00:00"
        created = await http.post(
            f"{base}/tasks",
            json={"project_id": 1000, "task_resume": "New one", "at": "2025-08-02T08:00:00"},
        )
        assert created.status_code == 201
        new_id = created.json()["task_id"]
        assigned = await http.put(
            f"{base}/tasks/{new_id}/assignees/3", json={"assigned_hours": 2.5}
        )
        assert assigned.json()["assigned_hours"] == 2.5
        rows = await ace.ok("gettasks", guid=guid, filterassigneduserid=3, taskid=new_id)
        assert rows[0]["ASSIGNED"] == "Bob Brown"
        assert (await http.delete(f"{base}/tasks/{new_id}/assignees/3")).json() == {"removed": True}
        assert (await http.delete(f"{base}/tasks/{new_id}")).status_code == 200
        assert await ace.ok("gettasks", guid=guid, taskid=new_id) == []
        assert (await http.delete(f"{base}/projects/1002")).status_code == 200
        assert 1002 not in [r["PROJECT_ID"] for r in await ace.ok("getprojects", guid=guid)]
        assert (await http.post(f"{base}/users/3/deactivate")).status_code == 200
        row = await ace.fail("login", accountid="demo", username="bob", password=DEMO_PASSWORD)
        assert row["ERRORNUMBER"] == 1004
        entry = await http.post(
            f"{base}/time-entries",
            json={
                "timesheet_line_id": 5000,
                "date_worked": "2025-06-02",
                "user_id": 1,
                "project_id": 1000,
                "task_id": 10001,
                "total": 3.5,
            },
        )
        assert entry.status_code == 201
        mine = await ace.ok("gettimereport", guid=guid)
        assert [(r["TIMESHEET_LINE_ID"], r["TOTAL"]) for r in mine] == [(5000, 3.5)]
        accounts = (await http.get("/_sandbox/accounts")).json()
        assert {a["account_id"] for a in accounts} == {"demo", "acme"}
        assert (await http.post(f"{base}/tasks/424242", json={})).status_code == 404
        assert (await http.post(f"{base}/tasks/10000", json={"bogus": 1})).status_code == 400
        assert (
            await http.post(f"{base}/tasks/10000", json={"task_status_id": "x"})
        ).status_code == 400
        assert (await http.post("/_sandbox/accounts/nope/tasks/1", json={})).status_code == 404
        assert (await http.get(f"{base}/tasks/10000")).status_code == 405


async def test_admin_endpoints_can_be_disabled() -> None:
    app = create_app(generate(), SandboxConfig(admin_endpoints=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/_sandbox/faults")).status_code == 404


async def test_concurrent_requests_with_latency(sandbox: SandboxServer) -> None:
    sandbox.faults.set(latency=0.3)
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(_post(client) for _ in range(5)))
        assert time.perf_counter() - started < 1.0
    assert all(r.status_code == 200 for r in responses)


async def test_replace_body(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.faults.set(replace_body='{"status":"ok","results":[]}', fcts=["login"])
    response = await _post(http)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "results": []}
    sandbox.faults.set(replace_body="<p>maintenance</p>", replace_content_type="text/plain")
    response = await _post(http)
    assert response.headers["content-type"] == "text/plain"
    assert response.text == "<p>maintenance</p>"
