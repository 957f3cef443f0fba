"""Sign-in and refresh rate limits (reliability A19, A20) and the client-address rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.auth.rate_limiter import AuthRateLimiter, create_storage
from app.config import Settings
from app.connection.database import Database
from app.dependencies.client_ip import resolve_client_ip
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, create_user

BAD = {"account_id": "acme", "username": "root", "password": "wrong"}


@pytest.fixture
async def limited_app_client(
    database_url: str, database: Database
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    settings = make_settings(
        database_url,
        login_limit_per_user="3/minute",
        login_limit_per_ip="5/minute",
        refresh_limit_per_ip="4/minute",
        trusted_proxies=["10.0.0.0/8"],
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield settings, client


async def test_failed_logins_per_user_are_limited(
    limited_app_client: tuple[Settings, httpx.AsyncClient], database: Database
) -> None:
    _, client = limited_app_client
    await create_user(database, username="root")
    statuses = [(await client.post("/auth/login", json=BAD)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    limited = await client.post("/auth/login", json=BAD)
    assert limited.status_code == 429
    assert limited.json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Even the right password is refused now, and it does not reset the count.
    right = await client.post("/auth/login", json={**BAD, "password": PASSWORD})
    assert right.status_code == 429
    # Another user is not affected by root's budget.
    other = await client.post("/auth/login", json={**BAD, "username": "someone"})
    assert other.status_code == 401


async def test_username_case_and_spaces_do_not_reset_the_count(
    limited_app_client: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, client = limited_app_client
    for name in ("root", "ROOT", " Root "):
        await client.post("/auth/login", json={**BAD, "username": name})
    assert (await client.post("/auth/login", json=BAD)).status_code == 429


async def test_successful_logins_do_not_count(
    limited_app_client: tuple[Settings, httpx.AsyncClient], database: Database
) -> None:
    _, client = limited_app_client
    await create_user(database, username="root")
    good = {**BAD, "password": PASSWORD}
    statuses = [(await client.post("/auth/login", json=good)).status_code for _ in range(6)]
    assert statuses == [200] * 6


async def test_failed_logins_per_address_are_limited_and_spoofing_does_not_help(
    limited_app_client: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, client = limited_app_client
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"198.51.100.{n}"}
        body = {**BAD, "username": f"guess{n}"}
        assert (await client.post("/auth/login", json=body, headers=spoofed)).status_code == 401
    fresh_user = {**BAD, "username": "fresh"}
    limited = await client.post(
        "/auth/login", json=fresh_user, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert limited.status_code == 429


async def test_trusted_proxy_forwarded_address_is_used(database_url: str) -> None:
    settings = make_settings(
        database_url, login_limit_per_ip="2/minute", trusted_proxies=["10.0.0.0/8"]
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=("10.1.2.3", 5000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for n in range(2):
                headers = {"X-Forwarded-For": "198.51.100.7"}
                body = {**BAD, "username": f"u{n}"}
                assert (
                    await client.post("/auth/login", json=body, headers=headers)
                ).status_code == 401
            same = await client.post(
                "/auth/login",
                json={**BAD, "username": "u9"},
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
            other = await client.post(
                "/auth/login",
                json={**BAD, "username": "u9"},
                headers={"X-Forwarded-For": "198.51.100.8"},
            )
    assert same.status_code == 429
    assert other.status_code == 401


async def test_refresh_attempts_are_limited(
    limited_app_client: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, client = limited_app_client
    statuses = [
        (await client.patch("/auth/refresh", json={"refresh_token": "x"})).status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "9.9.9.9, 1.2.3.4", "1.2.3.4"),  # rightmost untrusted hop wins
        ("10.0.0.1", "1.2.3.4, 10.0.0.7", "1.2.3.4"),  # trusted hops are skipped
        ("10.0.0.1", "garbage", "10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1"),
        (None, None, "unknown"),
    ],
)
def test_client_address_resolution(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert resolve_client_ip(peer, forwarded, [ip_network("10.0.0.0/8")]) == expected


async def test_redis_storage_is_shared_between_workers(tmp_path: Any) -> None:
    import redis.asyncio

    url = "redis://127.0.0.1:6379/14"
    probe = redis.asyncio.Redis.from_url(url)
    try:
        await probe.ping()
    except Exception:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    finally:
        await probe.aclose()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/r.db", login_limit_per_user="2/minute"
    )
    worker_a = AuthRateLimiter(settings, create_storage(url))
    worker_b = AuthRateLimiter(settings, create_storage(url))
    await worker_a.reset()
    key = {"account_id": "acme", "username": "shared", "client_ip": "192.0.2.1"}
    await worker_a.record_login_failure(**key)
    await worker_b.record_login_failure(**key)
    with pytest.raises(Exception, match="Too many attempts"):
        async with worker_a.login_attempt(**key):
            pass
    await worker_a.reset()
