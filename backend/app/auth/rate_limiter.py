"""Sign-in and refresh rate limits (the `limits` library; in process, or Redis when set).

Only *failed* sign-ins count, so many honest logins of one person are never refused, and a
limited attempt is refused before ACE (or the password hash) is asked. Three counts, so that
guessing stays as hard as with one lock per username while nobody can lock an owner out
(OWASP Authentication Cheat Sheet, "Account lockout"):

- per (account, username, address): strict; over `login_limit_per_user`, that pair is
  refused (429) until the window frees up;
- per (account, username) from every address: a slowdown, not a lock. Past the free failures
  of `login_slowdown_per_user`, the next attempt waits `base * 2**(failures - free)` seconds
  (capped) after the last failure, so rotating addresses buys an attacker nothing; an
  address that signed in to that username before (known-good, remembered for
  `login_known_good_days`) is exempt, so the owner is never held up by others' guesses;
- per address across usernames: over `login_limit_per_ip` the address is refused, except for
  its known-good usernames (one office behind a NAT keeps working while one host sprays).

Attempts still waiting for ACE count too, so a burst of parallel guesses cannot slip past the
budget before the first failure is recorded: attempts for one (account, username) run one at
a time in a worker, and the attempts in flight from one address may not exceed what is left
of its budget. (With several workers, each worker applies this to its own attempts; the
counts themselves are shared through Redis.) Refreshes count every attempt per address.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, MovingWindowSupport, Storage
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


# Past this many doublings the delay is at its cap whatever the base; bounds the count kept.
_MAX_DOUBLINGS = 40


class AuthRateLimiter:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        assert isinstance(storage, MovingWindowSupport)  # memory and Redis both are
        self._limiter = MovingWindowRateLimiter(storage)
        self._storage = storage
        self._windows: MovingWindowSupport = storage
        self._per_pair = parse(settings.login_limit_per_user)
        self._per_ip = parse(settings.login_limit_per_ip)
        self._refresh_per_ip = parse(settings.refresh_limit_per_ip)
        free = parse(settings.login_slowdown_per_user)
        self._free_failures = free.amount
        # The same window as `free`, room for every failure that still changes the delay.
        self._per_user = type(free)(free.amount + _MAX_DOUBLINGS + 1, free.multiples)
        self._window_seconds = free.get_expiry()
        self._delay_base = settings.login_slowdown_base_seconds
        self._delay_cap = settings.login_slowdown_max_seconds
        self._known_good_seconds = int(settings.login_known_good_days * 86_400)
        self._user_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._ip_in_flight: Counter[str] = Counter()

    @staticmethod
    def _user_key(account_id: str, username: str) -> str:
        return f"{account_id.strip().casefold()}:{username.strip().casefold()}"

    def delay_after(self, failures: int) -> float:
        """Seconds an address that is not known-good waits after the username's last failure,
        given its failures (from every address) in the window."""
        if failures < self._free_failures:
            return 0.0
        doublings = min(failures - self._free_failures, _MAX_DOUBLINGS)
        return float(min(self._delay_cap, self._delay_base * 2**doublings))

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
                await self._refuse_if_spent(self._per_pair, "login-pair", user_key, client_ip)
                known_good = await self._is_known_good(user_key, client_ip)
                if not known_good:
                    await self._refuse_if_slowed(user_key)
                self._ip_in_flight[client_ip] += 1  # before any await: no check-then-act gap
                try:
                    if not known_good:
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
        user_key = self._user_key(account_id, username)
        await self._limiter.hit(self._per_pair, "login-pair", user_key, client_ip)
        await self._limiter.hit(self._per_ip, "login-ip", client_ip)
        # Full once the delay is at its cap: a refused hit then changes nothing that matters.
        await self._limiter.hit(self._per_user, "login-user", user_key)
        # The last failure's time: a one-entry moving window, emptied and written again.
        last_key = self._key("login-user-last", user_key)
        await self._storage.clear(last_key)
        await self._windows.acquire_entry(last_key, 1, self._window_seconds)

    async def record_login_success(self, *, account_id: str, username: str, client_ip: str) -> None:
        """Remember (username, address) as known-good; each success renews the expiry."""
        key = self._key("login-good", self._user_key(account_id, username), client_ip)
        await self._storage.clear(key)
        await self._storage.incr(key, self._known_good_seconds)

    async def _is_known_good(self, user_key: str, client_ip: str) -> bool:
        return await self._storage.get(self._key("login-good", user_key, client_ip)) > 0

    async def _refuse_if_slowed(self, user_key: str) -> None:
        stats = await self._limiter.get_window_stats(self._per_user, "login-user", user_key)
        delay = self.delay_after(self._per_user.amount - stats.remaining)
        if not delay:
            return
        last, count = await self._windows.get_moving_window(
            self._key("login-user-last", user_key), 1, self._window_seconds
        )
        wait = last + delay - time.time() if count else 0.0
        if wait > 0:
            raise _too_many(math.ceil(wait))

    @staticmethod
    def _key(*parts: str) -> str:
        # In the limiter's storage (under its key prefix on Redis), so `reset` clears these too.
        return "/".join(("acehub", *parts))

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
        return _too_many(math.ceil(stats.reset_time - time.time()))


def _too_many(seconds: int) -> AppError:
    retry_after = max(1, seconds)
    return AppError(
        f"Too many attempts; try again in {retry_after} seconds",
        code=ErrorCode.RATE_LIMITED,
        headers=retry_after_header(retry_after),
    )
