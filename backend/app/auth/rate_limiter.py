"""Sign-in and refresh rate limits (the `limits` library; in process, or Redis when set).

Sign-ins count *failed* attempts, per (account, username) and per client address, so many
honest logins of one person are never refused while guessing is; a limited attempt is refused
before ACE is called. Attempts still waiting for ACE count too, so a burst of parallel guesses
cannot slip past the budget before the first failure is recorded: attempts for one
(account, username) run one at a time in a worker, and the attempts in flight from one
address may not exceed what is left of its budget. (With several workers, each worker applies
this to its own attempts; the failure counts themselves are shared through Redis.)
Refreshes count every attempt per client address.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.config import Settings
from app.errors import AppError, ErrorCode, retry_after_header


def create_storage(redis_url: str | None) -> Storage:
    if redis_url:
        storage = storage_from_string(f"async+{redis_url}")
        assert isinstance(storage, Storage)
        return storage
    return MemoryStorage()


class AuthRateLimiter:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._storage = storage
        self._per_user = parse(settings.login_limit_per_user)
        self._per_ip = parse(settings.login_limit_per_ip)
        self._refresh_per_ip = parse(settings.refresh_limit_per_ip)
        self._user_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._ip_in_flight: Counter[str] = Counter()

    @staticmethod
    def _user_key(account_id: str, username: str) -> str:
        return f"{account_id.strip().casefold()}:{username.strip().casefold()}"

    @asynccontextmanager
    async def login_attempt(
        self, *, account_id: str, username: str, client_ip: str
    ) -> AsyncIterator[None]:
        """Admit one sign-in attempt, or raise RATE_LIMITED (429) before it starts."""
        user_key = self._user_key(account_id, username)
        lock, holders = self._user_locks.get(user_key, (asyncio.Lock(), 0))
        self._user_locks[user_key] = (lock, holders + 1)
        try:
            async with lock:
                await self._refuse_if_spent(self._per_user, "login-user", user_key)
                self._ip_in_flight[client_ip] += 1  # before any await: no check-then-act gap
                try:
                    stats = await self._limiter.get_window_stats(
                        self._per_ip, "login-ip", client_ip
                    )
                    if self._ip_in_flight[client_ip] > stats.remaining:
                        raise await self._limited(self._per_ip, "login-ip", client_ip)
                    yield
                finally:
                    self._ip_in_flight[client_ip] -= 1
                    if self._ip_in_flight[client_ip] <= 0:
                        del self._ip_in_flight[client_ip]
        finally:
            lock, holders = self._user_locks[user_key]
            if holders <= 1:
                del self._user_locks[user_key]
            else:
                self._user_locks[user_key] = (lock, holders - 1)

    async def record_login_failure(self, *, account_id: str, username: str, client_ip: str) -> None:
        await self._limiter.hit(self._per_user, "login-user", self._user_key(account_id, username))
        await self._limiter.hit(self._per_ip, "login-ip", client_ip)

    async def hit_refresh(self, *, client_ip: str) -> None:
        if not await self._limiter.hit(self._refresh_per_ip, "refresh-ip", client_ip):
            raise await self._limited(self._refresh_per_ip, "refresh-ip", client_ip)

    async def reset(self) -> None:
        await self._storage.reset()

    async def _refuse_if_spent(self, item: RateLimitItem, *keys: str) -> None:
        if not await self._limiter.test(item, *keys):
            raise await self._limited(item, *keys)

    async def _limited(self, item: RateLimitItem, *keys: str) -> AppError:
        stats = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return AppError(
            f"Too many attempts; try again in {retry_after} seconds",
            code=ErrorCode.RATE_LIMITED,
            headers=retry_after_header(retry_after),
        )
