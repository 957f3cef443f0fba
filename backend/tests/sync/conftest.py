from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ace_sandbox.store import Account
from ace_sandbox.testing import SandboxServer
from app.config import Settings
from app.connection.database import Database
from tests.conftest import make_settings


@dataclass
class SyncEnv:
    app: FastAPI
    client: httpx.AsyncClient
    sandbox: SandboxServer
    database: Database
    settings: Settings

    async def sign_in(self, username: str = "admin", account_id: str = "demo") -> dict[str, str]:
        response = await self.client.post(
            "/user/login",
            json={"account_id": account_id, "username": username, "password": "demo-password"},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}

    async def run_sync(self, headers: dict[str, str], kind: str = "auto") -> dict[str, object]:
        started = await self.client.post("/sync/jobs", json={"kind": kind}, headers=headers)
        assert started.status_code == 202, started.text
        await self.app.state.jobs.wait_idle()
        job = await self.client.get(f"/sync/jobs/{started.json()['data']['id']}", headers=headers)
        assert job.status_code == 200
        data: dict[str, object] = job.json()["data"]
        return data


@pytest.fixture
def own_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of this test's own, free to change (the shared one must stay as generated)."""
    with SandboxServer() as server:
        yield server


async def open_env(
    database_url: str, database: Database, sandbox: SandboxServer, **overrides: Any
) -> AsyncIterator[SyncEnv]:
    """The app on `database`, talking to `sandbox`; `overrides` change its settings."""
    # The demo data is dated in the past: mirror all of its time entries.
    values: dict[str, Any] = {
        "ace_api_url": sandbox.url,
        "sync_time_entries_days": 800,
        "ace_max_retries": 1,
        "ace_breaker_reset_seconds": 0.3,
    }
    settings = make_settings(database_url, **(values | overrides))
    app = create_app_for(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield SyncEnv(app, client, sandbox, database, settings)


def create_app_for(settings: Settings) -> FastAPI:
    from app.main import create_app

    return create_app(settings)


@pytest.fixture
async def env(
    database_url: str, database: Database, sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(database_url, database, sandbox):
        yield value


@pytest.fixture
async def own_env(
    database_url: str, database: Database, own_sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for value in open_env(database_url, database, own_sandbox):
        yield value


def remove_upstream_user(account: Account, user_id: int) -> None:
    """The sandbox has no delete-user endpoint (ACE deactivates users rather than deleting
    them); drop one from the in-process store, as a deletion would."""
    with account.lock:
        user = account.users.pop(user_id)
        account._user_by_login.pop(user.username.lower(), None)
        account.version += 1  # the sandbox caches listings per data version
