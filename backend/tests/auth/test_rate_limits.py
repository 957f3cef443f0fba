"""Sign-in and refresh rate limits (reliability A19, A20) and the client-address rules.

The attack cases run on the in-process storage and on Redis, with the limiter's clock
frozen and moved by hand (no sleeping)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import ip_network
from types import SimpleNamespace
from typing import Any

import httpx
import limits.aio.storage.memory
import limits.aio.storage.redis.coredis
import limits.aio.storage.redis.redispy
import limits.aio.strategies
import pytest
from asgi_lifespan import LifespanManager
from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string

import app.auth.rate_limiter
from ace_sandbox.testing import SandboxServer
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


# --- failures per (username, address), the username's slowdown, known-good addresses ------

REDIS_URL = "redis://127.0.0.1:6379/14"
USUAL = "198.51.100.1"  # the owner's known-good address
PROXY_PEER = ("10.0.0.1", 5000)  # a trusted proxy: its X-Forwarded-For is the client
DOUBLING = [2, 4, 8, 16, 32, 64, 128, 256, 512, 900]  # the default waits past the free failures


class FakeClock:
    """The limiter's clock (and its storage's): frozen, moved by `advance`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    import time

    # Whole seconds: Redis hands timestamps back with 14 significant digits.
    fake = FakeClock(float(int(time.time())))
    patched = SimpleNamespace(time=fake.time)
    for module in (
        app.auth.rate_limiter,
        limits.aio.strategies,
        limits.aio.storage.memory,
        limits.aio.storage.redis.coredis,  # the async Redis client it picks when installed
        limits.aio.storage.redis.redispy,
    ):
        monkeypatch.setattr(module, "time", patched)
    return fake


@dataclass(frozen=True)
class Owner:
    """Whose sign-in is attacked, and the limits of the case."""

    path: str
    body: dict[str, str]
    limits: dict[str, str]

    @property
    def ace(self) -> bool:
        return self.path == "/user/login"

    @property
    def free(self) -> int:
        """Failures per (username, address) before 429, and per username before the wait."""
        return int(self.limits.get("login_limit_per_user", "10/").split("/")[0])


# ACE sign-ins run with the default limits, on both storages. Local accounts run with smaller
# budgets on the in-process storage: each of their guesses costs a real password hash, and
# the limiter is the same code whoever checks the password.
@pytest.fixture(
    params=[
        pytest.param(("ace", "memory"), id="ace-memory"),
        pytest.param(("ace", "redis"), id="ace-redis", marks=pytest.mark.redis),
        pytest.param(("local", "memory"), id="local-memory"),
    ]
)
async def owner(request: pytest.FixtureRequest, database: Database) -> Owner:
    if request.param[0] == "ace":
        body = {"account_id": "demo", "username": "alice", "password": "demo-password"}
        return Owner("/user/login", body, {})
    await create_user(database, username="root")
    body = {"account_id": "acme", "username": "root", "password": PASSWORD}
    budgets = {"login_limit_per_user": "3/15 minutes", "login_slowdown_per_user": "3/30 minutes"}
    return Owner("/auth/login", body, budgets)


@pytest.fixture
async def limiter_storage(request: pytest.FixtureRequest, owner: Owner) -> AsyncIterator[Storage]:
    if "redis" not in request.node.callspec.id:
        yield MemoryStorage()
        return
    # A key prefix of its own, so parallel runs never reset each other's counts.
    storage = storage_from_string(
        f"async+{REDIS_URL}", key_prefix=f"acehub-test-{uuid.uuid4().hex}"
    )
    assert isinstance(storage, Storage)
    try:
        reachable = await storage.check()
    except Exception:
        reachable = False
    if not reachable:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    yield storage
    await storage.reset()


@pytest.fixture
async def attack(
    database_url: str,
    database: Database,
    sandbox: SandboxServer,
    owner: Owner,
    limiter_storage: Storage,
    clock: FakeClock,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the owner's limits, behind a trusted proxy."""
    settings = make_settings(
        database_url, ace_api_url=sandbox.url, trusted_proxies=["10.0.0.0/8"], **owner.limits
    )
    application = create_app(settings)
    async with LifespanManager(application):
        application.state.rate_limiter = AuthRateLimiter(settings, limiter_storage)
        transport = httpx.ASGITransport(
            app=application, raise_app_exceptions=False, client=PROXY_PEER
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _sign_in(
    client: httpx.AsyncClient, owner: Owner, address: str, password: str | None = None
) -> httpx.Response:
    body = owner.body if password is None else {**owner.body, "password": password}
    return await client.post(owner.path, json=body, headers={"X-Forwarded-For": address})


def test_delay_doubles_past_the_free_failures_and_is_capped() -> None:
    limiter = AuthRateLimiter(make_settings("sqlite+aiosqlite://"), MemoryStorage())
    delays = [limiter.delay_after(failures) for failures in range(8, 22)]
    assert delays == [0, 0, *DOUBLING, 900, 900]


async def test_one_address_guessing_is_stopped_and_the_owner_still_gets_in(
    attack: httpx.AsyncClient, sandbox: SandboxServer, owner: Owner
) -> None:
    assert (await _sign_in(attack, owner, USUAL)).status_code == 200  # known-good now
    calls = sandbox.stats.count("login")
    guesser = "203.0.113.66"
    statuses = [
        (await _sign_in(attack, owner, guesser, "guess")).status_code for _ in range(owner.free)
    ]
    assert statuses == [401] * owner.free
    refused = [await _sign_in(attack, owner, guesser, "guess") for _ in range(5)]
    refused.append(await _sign_in(attack, owner, guesser))  # even the right password
    assert {r.status_code for r in refused} == {429}
    assert {r.json()["error_code"] for r in refused} == {"RATE_LIMITED"}
    assert all(1 <= int(r.headers["retry-after"]) <= 900 for r in refused)
    if owner.ace:  # a refused guess never reached ACE
        assert sandbox.stats.count("login") == calls + owner.free
    # The owner, from the usual address, is not touched by the guesser's failures.
    assert (await _sign_in(attack, owner, USUAL)).status_code == 200


async def test_rotating_addresses_are_slowed_and_the_owner_still_gets_in(
    attack: httpx.AsyncClient, sandbox: SandboxServer, owner: Owner, clock: FakeClock
) -> None:
    """One guess from each of 200 addresses (12 for a local account); whenever one is
    refused, the clock moves on by its Retry-After, as a patient attacker would."""
    assert (await _sign_in(attack, owner, USUAL)).status_code == 200
    calls, start = sandbox.stats.count("login"), clock.now
    failures, waits, owner_logins = 0, [], 1
    for n in range(200 if owner.ace else 12):
        response = await _sign_in(attack, owner, f"192.0.2.{n + 1}", "guess")
        if response.status_code == 429:
            assert response.json()["error_code"] == "RATE_LIMITED"
            waits.append(int(response.headers["retry-after"]))
            clock.advance(waits[-1])
        else:
            assert response.status_code == 401
            failures += 1
        if n % 50 == 8:  # mid-attack, the owner from the usual address gets in at once
            assert (await _sign_in(attack, owner, USUAL)).status_code == 200
            owner_logins += 1
    # The free failures pass, then each guess waits twice as long, never longer than the cap.
    assert waits[:10] == DOUBLING[: len(waits)]
    assert max(waits) <= 900
    if owner.ace:
        hours = (clock.now - start) / 3600
        assert failures <= 40 * hours  # no faster than one lock of 10 per 15 minutes allowed
        # Every refused guess was refused before ACE.
        assert sandbox.stats.count("login") == calls + failures + owner_logins - 1


async def test_a_new_owner_address_waits_once_then_is_known_good(
    attack: httpx.AsyncClient, sandbox: SandboxServer, owner: Owner, clock: FakeClock
) -> None:
    """A first-time address during a rotating attack is slowed like the attacker's (never
    more than the cap, and never locked out); once it has signed in it is exempt."""
    for n in range(owner.free + 2):  # the free failures, then two more after their waits
        response = await _sign_in(attack, owner, f"192.0.2.{n + 1}", "guess")
        if response.status_code == 429:
            clock.advance(int(response.headers["retry-after"]))
            response = await _sign_in(attack, owner, f"192.0.2.{n + 1}", "guess")
        assert response.status_code == 401
    new_address = "198.51.100.77"
    calls = sandbox.stats.count("login")
    slowed = await _sign_in(attack, owner, new_address)
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) == 8  # 2 * 2**2, from the last failure
    if owner.ace:
        assert sandbox.stats.count("login") == calls
    clock.advance(8)
    assert (await _sign_in(attack, owner, new_address)).status_code == 200
    # The attack goes on; the new address is known-good now and is not made to wait.
    assert (await _sign_in(attack, owner, "192.0.2.99", "guess")).status_code == 401
    assert (await _sign_in(attack, owner, "192.0.2.98", "guess")).status_code == 429
    assert (await _sign_in(attack, owner, new_address)).status_code == 200


async def test_known_good_users_are_not_refused_by_the_address_limit(
    limited_app_client: tuple[Settings, httpx.AsyncClient], database: Database
) -> None:
    _, client = limited_app_client
    await create_user(database, username="root")
    good = {**BAD, "password": PASSWORD}
    assert (await client.post("/auth/login", json=good)).status_code == 200
    for n in range(5):  # one address spraying usernames spends its budget
        assert (
            await client.post("/auth/login", json={**BAD, "username": f"guess{n}"})
        ).status_code == 401
    assert (await client.post("/auth/login", json={**BAD, "username": "fresh"})).status_code == 429
    # root signed in from here before: not refused by the address's limit, only by its own.
    assert (await client.post("/auth/login", json=BAD)).status_code == 401
    assert (await client.post("/auth/login", json=good)).status_code == 200
