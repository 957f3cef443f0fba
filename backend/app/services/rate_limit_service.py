"""Sign-in and refresh rate limits (the `limits` library; in process, or Redis when set).

Sign-ins count *failed* attempts, per (account, username) and per client address, so many
honest logins of one person are never refused while guessing is; a limited attempt is refused
before ACE is called. Refreshes count every attempt per client address.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.config import Settings
from app.errors import RateLimitedError


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

    @staticmethod
    def _user_key(account_id: str, username: str) -> str:
        return f"{account_id.strip().casefold()}:{username.strip().casefold()}"

    async def check_login(self, *, account_id: str, username: str, client_ip: str) -> None:
        """Raise `RateLimitedError` when either budget of failed sign-ins is spent."""
        await self._refuse_if_spent(
            self._per_user, "login-user", self._user_key(account_id, username)
        )
        await self._refuse_if_spent(self._per_ip, "login-ip", client_ip)

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

    async def _limited(self, item: RateLimitItem, *keys: str) -> RateLimitedError:
        stats = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitedError(
            f"Too many attempts; try again in {retry_after} seconds", retry_after=retry_after
        )
