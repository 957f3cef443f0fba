"""The circuit breaker's state machine, in process and in Redis (fake clock, no network)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.ace.breaker import CircuitBreaker, InProcessBreaker, RedisBreaker

from .ace_helpers import BreakerState, breaker_state

REDIS_URL = "redis://127.0.0.1:6379/15"


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_or_none() -> AsyncIterator[Redis | None]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        yield None
        return
    yield client
    await client.aclose()


@pytest.fixture
def redis(redis_or_none: Redis | None) -> Redis:
    if redis_or_none is None:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return redis_or_none


@pytest.fixture(params=["memory", "redis"])
async def breaker_and_clock(
    request: pytest.FixtureRequest, redis_or_none: Redis | None
) -> AsyncIterator[tuple[CircuitBreaker, FakeClock]]:
    clock = FakeClock()
    if request.param == "memory":
        yield InProcessBreaker(failure_threshold=3, reset_seconds=10, clock=clock), clock
        return
    if redis_or_none is None:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    key = f"acehub:test:breaker:{uuid.uuid4()}"
    yield (
        RedisBreaker(redis_or_none, failure_threshold=3, reset_seconds=10, key=key, clock=clock),
        clock,
    )
    await redis_or_none.delete(key)


async def test_opens_after_consecutive_failures_then_probes_once(
    breaker_and_clock: tuple[CircuitBreaker, FakeClock],
) -> None:
    breaker, clock = breaker_and_clock
    for _ in range(2):
        assert await breaker.acquire() is None
        await breaker.record_failure()
    assert (await breaker_state(breaker)).state is BreakerState.closed

    assert await breaker.acquire() is None
    await breaker.record_failure()
    snap = await breaker_state(breaker)
    assert snap.state is BreakerState.open
    assert snap.failures == 3

    wait = await breaker.acquire()
    assert wait == pytest.approx(10)
    clock.now += 4
    assert await breaker.acquire() == pytest.approx(6)

    clock.now += 6
    assert (await breaker_state(breaker)).state is BreakerState.half_open
    assert await breaker.acquire() is None  # the one probe
    assert await breaker.acquire() is not None  # everyone else still fails fast

    await breaker.record_success()
    assert (await breaker_state(breaker)).state is BreakerState.closed
    assert await breaker.acquire() is None


async def test_failed_probe_reopens(breaker_and_clock: tuple[CircuitBreaker, FakeClock]) -> None:
    breaker, clock = breaker_and_clock
    for _ in range(3):
        await breaker.record_failure()
    clock.now += 10
    assert await breaker.acquire() is None
    await breaker.record_failure()
    assert (await breaker_state(breaker)).state is BreakerState.open
    assert await breaker.acquire() == pytest.approx(10)


async def test_success_resets_the_count(
    breaker_and_clock: tuple[CircuitBreaker, FakeClock],
) -> None:
    breaker, _ = breaker_and_clock
    for _ in range(2):
        await breaker.record_failure()
    await breaker.record_success()
    for _ in range(2):
        await breaker.record_failure()
    assert (await breaker_state(breaker)).state is BreakerState.closed


async def test_lost_probe_lease_expires(
    breaker_and_clock: tuple[CircuitBreaker, FakeClock],
) -> None:
    breaker, clock = breaker_and_clock
    for _ in range(3):
        await breaker.record_failure()
    clock.now += 10
    assert await breaker.acquire() is None  # probe taken, never reports back
    clock.now += 9
    assert await breaker.acquire() is not None
    clock.now += 1
    assert await breaker.acquire() is None


async def test_redis_breaker_is_shared_between_instances(redis: Redis) -> None:
    clock = FakeClock()
    key = f"acehub:test:breaker:{uuid.uuid4()}"
    first = RedisBreaker(redis, failure_threshold=2, reset_seconds=5, key=key, clock=clock)
    second = RedisBreaker(redis, failure_threshold=2, reset_seconds=5, key=key, clock=clock)
    try:
        await first.record_failure()
        await second.record_failure()
        assert await first.acquire() is not None
        clock.now += 5
        assert await second.acquire() is None  # second worker takes the probe ...
        assert await first.acquire() is not None  # ... so the first one may not
    finally:
        await redis.delete(key)


async def test_redis_breaker_fails_open_when_redis_is_down() -> None:
    client = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    breaker = RedisBreaker(client, failure_threshold=1, reset_seconds=5)
    try:
        await breaker.record_failure()
        assert await breaker.acquire() is None
        await breaker.record_success()
    finally:
        await client.aclose()
