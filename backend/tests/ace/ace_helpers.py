"""Constants and builders shared by the ACE client tests (imported by conftest and tests)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from app.ace.client import AceClientConfig
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
