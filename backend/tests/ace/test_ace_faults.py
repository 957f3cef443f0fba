"""Upstream faults D1-D10 (timeouts, refusals, bad bodies, outages) against the sandbox.

Each case checks the ErrorCode, that the time spent is bounded, and that retries are
bounded (the sandbox's per-function call counts, or the requests the HTTP client started).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from ace_sandbox.data import DEMO_PASSWORD
from ace_sandbox.testing import SandboxServer
from app.ace.breaker import CircuitBreaker, InProcessBreaker, RedisBreaker
from app.ace.client import AceClient
from app.ace.errors import AceError
from app.errors import ErrorCode

from .ace_helpers import (
    DEADLINE,
    READ_TIMEOUT,
    BreakerState,
    RequestLog,
    all_tasks,
    breaker_state,
    make_config,
)

# Room for a slow CI machine on top of the configured deadline.
SLACK = 1.0
ATTEMPTS = 3  # 1 + max_retries in the test configuration


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def answered_statuses(ace: SandboxServer) -> dict[str, int]:
    """The sandbox's status counts once every request has been finished on its side (the
    client can read a response a moment before the server thread records it)."""
    deadline = time.monotonic() + 2
    while any(r["status"] is None for r in ace.stats.recent()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    statuses: dict[str, int] = ace.stats.snapshot()["statuses"]
    return statuses


async def expect_error(call: object, code: ErrorCode) -> tuple[AceError, float]:
    started = time.monotonic()
    with pytest.raises(AceError) as caught:
        await call  # type: ignore[misc]
    elapsed = time.monotonic() - started
    assert caught.value.code is code, caught.value
    return caught.value, elapsed


# --- D1: unreachable ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [closed_port_url(), "http://nonexistent.invalid/"])
async def test_d1_unreachable_is_unavailable_within_budget(
    http: httpx.AsyncClient, request_log: RequestLog, url: str
) -> None:
    client = AceClient(http, make_config(url))
    error, elapsed = await expect_error(
        client.login("demo", "alice", DEMO_PASSWORD), ErrorCode.ACE_UNAVAILABLE
    )
    assert elapsed < DEADLINE + SLACK
    assert len(request_log) == ATTEMPTS
    assert DEMO_PASSWORD not in str(error)


# --- D2: too slow -----------------------------------------------------------------------------


async def test_d2_latency_beyond_read_timeout_is_timeout(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(latency=READ_TIMEOUT * 4, latency_fcts=["gettaskstatuses"])
    _, elapsed = await expect_error(
        client.get_task_statuses(admin_guid, project_id=1000), ErrorCode.ACE_TIMEOUT
    )
    # every attempt waits one read timeout; the overall deadline caps the total
    assert elapsed < DEADLINE + SLACK
    assert 1 <= ace.stats.count("gettaskstatuses") <= ATTEMPTS


async def test_d2_slow_drip_hits_the_overall_deadline(
    make_ace: Callable[..., AceClient], ace: SandboxServer, admin_guid: str
) -> None:
    # Each chunk arrives well within the read timeout; only the deadline can stop it.
    ace.faults.set(drip_bytes=64, drip_delay=READ_TIMEOUT / 5, fcts=["gettasks"])
    deadline = 1.0
    slow = make_ace(deadline_seconds=deadline)
    _, elapsed = await expect_error(all_tasks(slow, admin_guid), ErrorCode.ACE_TIMEOUT)
    assert deadline - 0.1 < elapsed < deadline + SLACK
    assert ace.stats.count("gettasks") == 1  # a spent deadline is not retried


async def test_d2_drip_within_the_deadline_succeeds(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(drip_bytes=256, drip_delay=0.01, fcts=["gettaskstatuses"])
    assert len(await client.get_task_statuses(admin_guid, project_id=1000)) > 0


# --- D3: 5xx ----------------------------------------------------------------------------------


async def test_d3_transient_5xx_is_retried_then_succeeds(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(fail_next=2, fcts=["gettaskstatuses"])
    statuses = await client.get_task_statuses(admin_guid, project_id=1000)
    assert len(statuses) > 0
    assert ace.stats.count("gettaskstatuses") == 3


async def test_d3_persistent_5xx_gives_up_after_bounded_attempts(
    client: AceClient, ace: SandboxServer, admin_guid: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.ace.transport")
    ace.faults.set(error_every=1, error_status=502, fcts=["gettasks"])
    error, elapsed = await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_UNAVAILABLE)
    assert ace.stats.count("gettasks") == ATTEMPTS
    assert elapsed < DEADLINE
    assert error.headers == {}
    # one warning per failed attempt, with what is safe to log and nothing else
    failures = [r for r in caplog.records if r.getMessage() == "ACE call failed"]
    assert [r.attempt for r in failures] == [1, 2, 3]  # type: ignore[attr-defined]
    assert {r.fct for r in failures} == {"gettasks"}  # type: ignore[attr-defined]
    assert {r.status for r in failures} == {502}  # type: ignore[attr-defined]
    assert all(r.elapsed_ms >= 0 for r in failures)  # type: ignore[attr-defined]
    for record in caplog.records:
        assert admin_guid not in str(vars(record))
    assert admin_guid not in str(error)


async def test_d3_html_500_page_is_retried_like_any_5xx(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(html_error=500, fcts=["gettaskstatuses"])
    await expect_error(
        client.get_task_statuses(admin_guid, project_id=1000), ErrorCode.ACE_UNAVAILABLE
    )
    assert ace.stats.count("gettaskstatuses") == ATTEMPTS


# --- D4: throttling and other 4xx -------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_d4_long_retry_after_is_not_waited_for(
    client: AceClient, ace: SandboxServer, admin_guid: str, status: int
) -> None:
    ace.faults.set(throttle_status=status, throttle_budget=0, retry_after=30, fcts=["gettasks"])
    error, elapsed = await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_UNAVAILABLE)
    assert error.message == "ACE asked to slow down; try again later"
    assert error.headers["Retry-After"] == "30"
    assert ace.stats.count("gettasks") == 1
    assert elapsed < 0.5


async def test_d4_short_retry_after_is_honoured(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    # two calls per second are fine; the third is told to come back in a second
    ace.faults.set(
        throttle_status=429,
        throttle_budget=2,
        throttle_window=1.0,
        retry_after=1,
        fcts=["gettaskstatuses"],
    )
    await client.get_task_statuses(admin_guid, project_id=1000)
    await client.get_task_statuses(admin_guid, project_id=1000)
    started = time.monotonic()
    assert len(await client.get_task_statuses(admin_guid, project_id=1000)) > 0
    assert time.monotonic() - started >= 0.9
    assert ace.stats.count("gettaskstatuses") == 4
    assert (await answered_statuses(ace))["429"] == 1


async def test_d4_throttled_on_every_attempt_gives_up(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(throttle_status=429, throttle_budget=0, retry_after=0, fcts=["gettasks"])
    error, _ = await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_UNAVAILABLE)
    assert error.headers["Retry-After"] == "1"
    assert ace.stats.count("gettasks") == ATTEMPTS


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_d4_other_4xx_is_bad_response_and_not_retried(
    client: AceClient, ace: SandboxServer, admin_guid: str, status: int
) -> None:
    ace.faults.set(html_error=status, fcts=["gettasks"])
    await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_BAD_RESPONSE)
    assert ace.stats.count("gettasks") == 1


async def test_d4_user_agent_block_is_bad_response(client: AceClient, ace: SandboxServer) -> None:
    ace.faults.set(block_user_agent=r"^acehub/")
    await expect_error(client.login("demo", "alice", DEMO_PASSWORD), ErrorCode.ACE_BAD_RESPONSE)
    assert ace.stats.count("login") == 1
    assert await answered_statuses(ace) == {"403": 1}


# --- D6: unusable answers ---------------------------------------------------------------------


async def test_d6_html_page_with_200_is_bad_response(client: AceClient, ace: SandboxServer) -> None:
    ace.faults.set(html_error=200)
    await expect_error(client.login("demo", "alice", DEMO_PASSWORD), ErrorCode.ACE_BAD_RESPONSE)
    # asked once more with format=JSON (which an HTML error page answers too), then given up
    assert ace.stats.count("login") == 2


async def test_d6_truncated_json_is_bad_response(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    ace.faults.set(malformed=True, fcts=["gettasks"])
    await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_BAD_RESPONSE)
    assert ace.stats.count("gettasks") == 1


# --- D7: oversized body -----------------------------------------------------------------------


async def test_d7_oversized_body_is_refused_with_bounded_memory(
    client: AceClient, ace: SandboxServer, admin_guid: str
) -> None:
    cap = client.transport.config.max_response_bytes
    ace.faults.set(oversize_mb=40, fcts=["gettasks"])
    tracemalloc.start()
    try:
        _, elapsed = await expect_error(all_tasks(client, admin_guid), ErrorCode.ACE_BAD_RESPONSE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < cap * 6  # nowhere near the 40 MB on offer
    assert elapsed < DEADLINE
    assert ace.stats.count("gettasks") == 1


async def test_d7_declared_content_length_over_the_cap_is_refused_unread(
    make_ace: Callable[..., AceClient], ace: SandboxServer, admin_guid: str
) -> None:
    tiny = make_ace(max_response_bytes=1024)
    error, _ = await expect_error(all_tasks(tiny, admin_guid), ErrorCode.ACE_BAD_RESPONSE)
    assert "larger than 1024 bytes" in error.message


# --- D8: redirects ----------------------------------------------------------------------------


async def test_d8_redirect_is_not_followed(
    client: AceClient, ace: SandboxServer, request_log: RequestLog
) -> None:
    ace.faults.set(redirect_to="http://attacker.invalid/steal")
    error, _ = await expect_error(
        client.login("demo", "alice", DEMO_PASSWORD), ErrorCode.ACE_BAD_RESPONSE
    )
    assert error.message.startswith("ACE answered with a redirect")
    assert [r.url.host for r in request_log.requests] == ["127.0.0.1"]
    assert ace.stats.count("login") == 1


# --- D10: circuit breaker ---------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def breaker(request: pytest.FixtureRequest) -> AsyncIterator[CircuitBreaker]:
    if request.param == "memory":
        yield InProcessBreaker(failure_threshold=3, reset_seconds=0.5)
        return
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    redis = Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5)
    try:
        await redis.ping()
    except (RedisError, OSError):
        await redis.aclose()
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    key = f"acehub:test:d10:{time.monotonic_ns()}"
    yield RedisBreaker(redis, failure_threshold=3, reset_seconds=0.5, key=key)
    await redis.delete(key)
    await redis.aclose()


async def test_d10_breaker_opens_fails_fast_probes_and_closes(
    http: httpx.AsyncClient, ace: SandboxServer, breaker: CircuitBreaker
) -> None:
    client = AceClient(http, make_config(ace.url, max_retries=0), breaker=breaker)
    guid = (await client.login("demo", "admin", DEMO_PASSWORD)).guid
    ace.faults.set(error_every=1, fcts=["gettaskstatuses"])
    for _ in range(3):
        await expect_error(
            client.get_task_statuses(guid, project_id=1000), ErrorCode.ACE_UNAVAILABLE
        )
    assert (await breaker_state(breaker)).state is BreakerState.open
    calls = ace.stats.count()

    # open: fails fast, upstream untouched, with a Retry-After hint
    error, elapsed = await expect_error(
        client.get_task_statuses(guid, project_id=1000), ErrorCode.ACE_UNAVAILABLE
    )
    assert error.message == "ACE is unavailable (circuit open); try again later"
    assert error.headers["Retry-After"] == "1"
    await expect_error(client.login("demo", "admin", DEMO_PASSWORD), ErrorCode.ACE_UNAVAILABLE)
    assert elapsed < 0.1
    assert ace.stats.count() == calls

    # half-open: one probe goes through; it fails, so the breaker opens again
    await _wait_half_open(breaker)
    await expect_error(client.get_task_statuses(guid, project_id=1000), ErrorCode.ACE_UNAVAILABLE)
    assert ace.stats.count() == calls + 1
    assert (await breaker_state(breaker)).state is BreakerState.open

    # ACE recovers: the next probe succeeds and closes the breaker
    ace.faults.reset()
    await _wait_half_open(breaker)
    assert len(await client.get_task_statuses(guid, project_id=1000)) > 0
    assert (await breaker_state(breaker)).state is BreakerState.closed
    assert len(await client.get_task_statuses(guid, project_id=1000)) > 0
    assert ace.stats.count() == calls + 3


async def _wait_half_open(breaker: CircuitBreaker) -> None:
    deadline = time.monotonic() + 2
    while (await breaker_state(breaker)).state is not BreakerState.half_open:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_d10_refusals_do_not_open_the_breaker(
    http: httpx.AsyncClient, ace: SandboxServer
) -> None:
    breaker = InProcessBreaker(failure_threshold=2, reset_seconds=5)
    client = AceClient(http, make_config(ace.url), breaker=breaker)
    for _ in range(4):
        await expect_error(client.login("demo", "alice", "wrong"), ErrorCode.INVALID_CREDENTIALS)
    ace.faults.set(html_error=200)
    for _ in range(4):
        await expect_error(client.login("demo", "alice", DEMO_PASSWORD), ErrorCode.ACE_BAD_RESPONSE)
    assert (await breaker_state(breaker)).state is BreakerState.closed


async def test_d10_retries_count_towards_the_breaker(
    http: httpx.AsyncClient, ace: SandboxServer
) -> None:
    breaker = InProcessBreaker(failure_threshold=3, reset_seconds=5)
    client = AceClient(http, make_config(ace.url), breaker=breaker)
    ace.faults.set(error_every=1, fcts=["getpublicsettings"])
    await expect_error(client.get_public_settings("demo"), ErrorCode.ACE_UNAVAILABLE)
    assert ace.stats.count("getpublicsettings") == ATTEMPTS
    assert (await breaker_state(breaker)).state is BreakerState.open
