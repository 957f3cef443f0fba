"""No secret reaches a log line, and a sync's lines carry its job id. Every record of a full
run through the app at DEBUG level (sign-ins, a refresh, a sync, tasks, a time log written
back to ACE, a report, failed sign-ins) is searched for the passwords, the tokens issued,
the ACE GUIDs issued and the SECRET_KEY."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ace_sandbox.store import SessionTable
from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.logging_config import JsonFormatter, RequestIdFilter
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, create_user
from tests.sync.conftest import SyncEnv, open_env
from tests.task_logs.helpers import a_day_without_time, task_of

DEMO_PASSWORD = "demo-password"


class _Capture(logging.Handler):
    """Every record, formatted as production writes it (extras and tracebacks included),
    plus its raw arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{self.format(record)} {record.args!r}")


@pytest.fixture
def issued_guids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ACE session GUID the sandbox hands out (recorded as it creates them)."""
    guids: list[str] = []
    create = SessionTable.create

    def recording(self: SessionTable, *args: Any, **kwargs: Any) -> Any:
        session = create(self, *args, **kwargs)
        guids.append(session.guid)
        return session

    monkeypatch.setattr(SessionTable, "create", recording)
    return guids


@pytest.fixture
async def debug_env(database_url: str, database: Database) -> AsyncIterator[SyncEnv]:
    with SandboxServer() as sandbox:  # its own: the run writes a time log to it
        async for value in open_env(database_url, database, sandbox, log_level="DEBUG"):
            yield value


@pytest.fixture
def captured() -> Iterator[_Capture]:
    """All output at DEBUG, every logger included (the app's set-up quiets httpx)."""
    handler = _Capture()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_a_full_run_logs_no_secret(
    debug_env: SyncEnv, issued_guids: list[str], captured: _Capture
) -> None:
    env = debug_env
    client = env.client
    tokens: list[str] = []

    def keep(data: dict[str, Any]) -> dict[str, str]:
        tokens.extend([data["access_token"], data["refresh_token"]])
        return {"Authorization": f"Bearer {data['access_token']}"}

    async def ace_sign_in(username: str) -> dict[str, Any]:
        response = await client.post(
            "/user/login",
            json={"account_id": "demo", "username": username, "password": DEMO_PASSWORD},
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    failed = await client.post(
        "/user/login",
        json={"account_id": "demo", "username": "admin", "password": f"{DEMO_PASSWORD}-not"},
    )
    assert failed.status_code == 401
    admin = keep(await ace_sign_in("admin"))
    job = await env.run_sync(admin, kind="full")
    assert job["state"] == "succeeded"

    alice_data = await ace_sign_in("alice")
    alice = keep(alice_data)
    refreshed = await client.patch(
        "/auth/refresh", json={"refresh_token": alice_data["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    alice = keep(refreshed.json()["data"])
    tasks = await client.get(f"/tasks/{alice_data['user_id']}", headers=alice)
    assert tasks.status_code == 200, tasks.text
    task = await task_of(env, "alice")
    day = a_day_without_time()
    logged = await client.post(
        f"/tasks/{task.id}/logs",
        json={"kind": "time", "date_worked": day.isoformat(), "hours": 2, "comment": "Review"},
        headers=alice,
    )
    assert logged.status_code == 201, logged.text
    report = await client.get("/reports/time", params={"group": "project"}, headers=admin)
    assert report.status_code == 200, report.text

    await create_user(env.database, account_id="acme", username="local-admin")
    local = await client.post(
        "/auth/login",
        json={"account_id": "acme", "username": "local-admin", "password": PASSWORD},
    )
    assert local.status_code == 200, local.text
    keep(local.json()["data"])
    refused = await client.post(
        "/auth/login",
        json={"account_id": "acme", "username": "local-admin", "password": f"{PASSWORD}-not"},
    )
    assert refused.status_code == 401

    assert len(issued_guids) >= 2  # the admin's and alice's ACE sessions
    assert len(tokens) == 8
    output = "\n".join(captured.lines)
    assert f'"job_id": "{job["id"]}"' in output  # the sync's lines carry its job id
    secrets = {
        "the demo password": [DEMO_PASSWORD],
        "the local password": [PASSWORD],
        "a token": tokens,
        "an ACE GUID": issued_guids,
        "the SECRET_KEY": [TEST_SECRET, env.settings.secret_key.get_secret_value()],
    }
    for what, values in secrets.items():
        for value in values:
            for variant in {value, value.lower(), value.upper()}:
                assert variant not in output, f"{what} was logged"
