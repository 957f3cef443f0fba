"""Constants and builders shared by the ACE client tests (imported by conftest and tests)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

import httpx

from app.ace.breaker import CircuitBreaker, InProcessBreaker, RedisBreaker
from app.ace.client import AceClient
from app.ace.dto import AceTask, AceTimeEntry
from app.ace.transport import AceClientConfig
from app.config import Settings

# Timeouts small enough for a fast suite, large enough for a loaded CI machine.
READ_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.5
DEADLINE = 2.5
PAGE_SIZE = 5
MAX_RESPONSE_BYTES = 1024 * 1024

# D9: a user whose credentials hold every character that breaks naive form encoding.
D9_ACCOUNT = "acme"
D9_USERNAME = "zoë+ops&qa=1"
D9_PASSWORD = "p&ss=w#rd+100% €ünï 漢字 ?x=1;y"
INACTIVE_USERNAME = "erin"
DENIED_USERNAME = "frank"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": "s" * 48,
        "ace_api_url": "http://127.0.0.1:9/",
        "ace_timeout_seconds": READ_TIMEOUT,
        "ace_connect_timeout_seconds": CONNECT_TIMEOUT,
        "ace_max_retries": 2,
        "ace_retry_base_seconds": 0.02,
        "ace_max_response_bytes": MAX_RESPONSE_BYTES,
        "ace_breaker_failures": 3,
        "ace_breaker_reset_seconds": 0.5,
        "ace_page_size": PAGE_SIZE,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_config(api_url: str, **overrides: Any) -> AceClientConfig:
    config = AceClientConfig(
        api_url=api_url,
        max_retries=2,
        retry_base_seconds=0.02,
        retry_max_sleep_seconds=0.05,
        retry_after_cap_seconds=1.5,
        deadline_seconds=DEADLINE,
        max_response_bytes=MAX_RESPONSE_BYTES,
        page_size=PAGE_SIZE,
    )
    return replace(config, **overrides)


@dataclass
class RequestLog:
    """Every HTTP request the client's `httpx.AsyncClient` started (method, URL)."""

    requests: list[httpx.Request] = field(default_factory=list)

    async def hook(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def __len__(self) -> int:
        return len(self.requests)


async def all_tasks(client: AceClient, guid: str, **filters: Any) -> list[AceTask]:
    """Every task `iter_task_pages` lists with these filters, all pages."""
    return [task async for page in client.iter_task_pages(guid, **filters) for task in page]


async def all_time_entries(
    client: AceClient, guid: str, *, date_from: date, date_to: date, **filters: Any
) -> list[AceTimeEntry]:
    """Every entry of every window of `iter_time_report`."""
    windows = client.iter_time_report(guid, date_from=date_from, date_to=date_to, **filters)
    return [entry async for window in windows for entry in window]


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass(frozen=True)
class BreakerSnapshot:
    state: BreakerState
    failures: int


async def breaker_state(breaker: CircuitBreaker) -> BreakerSnapshot:
    """A breaker's state, read from its store by the rules of `app.ace.breaker` (the client
    never asks for it, so only the tests read it)."""
    if isinstance(breaker, InProcessBreaker):
        failures, opened_until, now = breaker._failures, breaker._opened_until, breaker._clock()
    else:
        assert isinstance(breaker, RedisBreaker)
        raw: dict[Any, Any] = await breaker._redis.hgetall(breaker.key)
        values = {
            (k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()
        }
        failures = int(values.get("failures", 0))
        opened_until, now = values.get("opened_until", 0.0), breaker._clock()
    if failures < breaker.failure_threshold:
        return BreakerSnapshot(BreakerState.closed, failures)
    if now < opened_until:
        return BreakerSnapshot(BreakerState.open, failures)
    return BreakerSnapshot(BreakerState.half_open, failures)
