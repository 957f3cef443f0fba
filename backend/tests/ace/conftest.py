"""Fixtures for the ACE client tests: the sandbox as a real loopback server, and clients
with short timeouts and back-off so the fault cases stay fast.

The sandbox runs once per session; every test that uses `ace` starts with no faults, zeroed
call counts and the default sandbox configuration, and restores them afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from ace_sandbox.data import DEMO_PASSWORD, generate
from ace_sandbox.models import ACCESS_DENIED, ACCESS_INACTIVE, User
from ace_sandbox.testing import SandboxServer
from app.ace.breaker import InProcessBreaker
from app.ace.client import AceClient
from app.ace.transport import create_http_client

from .ace_helpers import (
    D9_ACCOUNT,
    D9_PASSWORD,
    D9_USERNAME,
    DENIED_USERNAME,
    INACTIVE_USERNAME,
    RequestLog,
    make_config,
    make_settings,
)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    store = generate()
    acme = store[D9_ACCOUNT]
    next_id = max(acme.users) + 1
    for offset, (username, status, password) in enumerate(
        [
            (D9_USERNAME, None, D9_PASSWORD),
            (INACTIVE_USERNAME, ACCESS_INACTIVE, DEMO_PASSWORD),
            (DENIED_USERNAME, ACCESS_DENIED, DEMO_PASSWORD),
        ]
    ):
        user = User(
            next_id + offset,
            username,
            "Zoë" if status is None else username.title(),
            "Ünïcode",
            f"user{offset}@acme.example.com",
            password,
        )
        if status is not None:
            user.access_status = status
        acme.add_user(user)
    with SandboxServer(store) as server:
        yield server


@pytest.fixture
def ace(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    config = sandbox.app.config
    saved = (config.guid_idle_seconds, config.empty_dates_as_string)
    sandbox.faults.reset()
    sandbox.stats.reset()
    yield sandbox
    sandbox.faults.reset()
    config.guid_idle_seconds, config.empty_dates_as_string = saved


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def http(request_log: RequestLog) -> AsyncIterator[httpx.AsyncClient]:
    client = create_http_client(make_settings())
    client.event_hooks["request"].append(request_log.hook)
    yield client
    await client.aclose()


@pytest.fixture
def make_ace(ace: SandboxServer, http: httpx.AsyncClient) -> Callable[..., AceClient]:
    """Clients of the sandbox, with some knobs of the test configuration changed."""

    def build(**config: Any) -> AceClient:
        # A breaker that does not trip in ordinary tests; the breaker tests build their own.
        breaker = InProcessBreaker(failure_threshold=1000, reset_seconds=1)
        return AceClient(http, make_config(ace.url, **config), breaker=breaker)

    return build


@pytest.fixture
def client(make_ace: Callable[..., AceClient]) -> AceClient:
    return make_ace()


@pytest.fixture
async def admin_guid(client: AceClient, ace: SandboxServer) -> str:
    guid = (await client.login("demo", "admin", DEMO_PASSWORD)).guid
    ace.stats.reset()
    return guid
