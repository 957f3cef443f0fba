"""Circuit breaker in front of ACE (after martinfowler.com/bliki/CircuitBreaker.html).

The breaker counts *consecutive failed HTTP attempts* to ACE: transport errors, timeouts and
5xx answers. Any other answer (2xx, including `status: fail`, 3xx and 4xx) shows ACE is
reachable and counts as a success. Retries inside one client call are separate attempts, so
one call that exhausts its retries adds up to `1 + max_retries` failures.

States:

* **closed** — calls go through; `failure_threshold` consecutive failures open it.
* **open** — for `reset_seconds` every call fails fast with `ACE_UNAVAILABLE` without
  touching the network.
* **half-open** — after `reset_seconds`, exactly one probe is let through (it holds a lease
  of `reset_seconds`, so a probe that never reports back cannot wedge the breaker).
  Its success closes the breaker; its failure opens it again for another `reset_seconds`.

Two stores share this logic: `InProcessBreaker` (the default; per process) and
`RedisBreaker` (when `REDIS_URL` is set, so every worker sees the same state). The Redis one
fails open: if Redis is unreachable, calls proceed as if the breaker were closed.

Both publish their transitions to the `acehub_ace_breaker_state` gauge (`app.metrics`), and
`state()` reads the current state for a scrape.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.metrics import BreakerState, set_breaker_state

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class CircuitBreaker(Protocol):
    """What the client needs from a breaker."""

    async def acquire(self) -> float | None:
        """None to go ahead; otherwise the seconds until a call may be tried again."""
        ...

    async def record_success(self) -> None: ...

    async def record_failure(self) -> None: ...

    async def state(self) -> BreakerState:
        """The current state (for the metrics)."""
        ...


def _state_of(
    failures: int, threshold: int, opened_until: float, probe_until: float, now: float
) -> BreakerState:
    if failures < threshold:
        return BreakerState.closed
    if now >= opened_until and now < probe_until:
        return BreakerState.half_open
    return BreakerState.open


class InProcessBreaker:
    """The breaker's state in this process only. `clock` is injectable for tests."""

    def __init__(
        self, *, failure_threshold: int, reset_seconds: float, clock: Clock = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_until = 0.0
        self._probe_until = 0.0
        self._published: BreakerState | None = None

    async def acquire(self) -> float | None:
        now = self._clock()
        if self._failures < self.failure_threshold:
            return None
        if now < self._opened_until:
            return self._opened_until - now
        if now < self._probe_until:
            return self._probe_until - now
        self._probe_until = now + self.reset_seconds
        self._publish(BreakerState.half_open)
        return None

    async def record_success(self) -> None:
        self._failures = 0
        self._opened_until = 0.0
        self._probe_until = 0.0
        self._publish(BreakerState.closed)

    async def record_failure(self) -> None:
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_until = self._clock() + self.reset_seconds
            self._probe_until = 0.0
            self._publish(BreakerState.open)

    async def state(self) -> BreakerState:
        state = _state_of(
            self._failures,
            self.failure_threshold,
            self._opened_until,
            self._probe_until,
            self._clock(),
        )
        self._publish(state)
        return state

    def _publish(self, state: BreakerState) -> None:
        # Only changes are written: in multi-process mode a write touches a shared file.
        if state is not self._published:
            self._published = state
            set_breaker_state(state)


# Each script runs atomically in Redis, so concurrent workers cannot both take the probe.
_ACQUIRE = """
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if failures < tonumber(ARGV[2]) then return '' end
local now = tonumber(ARGV[1])
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
if now < opened_until then return tostring(opened_until - now) end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return tostring(probe_until - now) end
redis.call('HSET', KEYS[1], 'probe_until', tostring(now + tonumber(ARGV[3])))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return ''
"""

_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'opened_until', tostring(tonumber(ARGV[1]) + tonumber(ARGV[3])))
  redis.call('HDEL', KEYS[1], 'probe_until')
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return failures
"""


class RedisBreaker:
    """The breaker's state in one Redis hash shared by every worker (wall-clock based)."""

    def __init__(
        self,
        redis: Redis,
        *,
        failure_threshold: int,
        reset_seconds: float,
        key: str = "acehub:ace:breaker",
        clock: Clock = time.time,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.key = key
        self._redis = redis
        self._clock = clock
        self._ttl = max(60, math.ceil(reset_seconds * 10))
        self._acquire = redis.register_script(_ACQUIRE)
        self._failure = redis.register_script(_FAILURE)

    def _args(self) -> list[Any]:
        return [repr(self._clock()), self.failure_threshold, repr(self.reset_seconds), self._ttl]

    async def acquire(self) -> float | None:
        try:
            answer = await self._acquire(keys=[self.key], args=self._args())
        except (RedisError, OSError):
            logger.warning("ACE breaker state unavailable in Redis; letting the call through")
            return None
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        if text:
            set_breaker_state(BreakerState.open)
        return float(text) if text else None

    async def record_success(self) -> None:
        try:
            await self._redis.delete(self.key)
        except (RedisError, OSError):
            logger.warning("ACE breaker state unavailable in Redis; success not recorded")
            return
        set_breaker_state(BreakerState.closed)

    async def record_failure(self) -> None:
        try:
            failures = await self._failure(keys=[self.key], args=self._args())
        except (RedisError, OSError):
            logger.warning("ACE breaker state unavailable in Redis; failure not recorded")
            return
        if int(failures) >= self.failure_threshold:
            set_breaker_state(BreakerState.open)

    async def state(self) -> BreakerState:
        """Read from the shared hash; closed when Redis does not answer (the breaker then
        lets calls through)."""
        try:
            values = await self._redis.hmget(self.key, ["failures", "opened_until", "probe_until"])
        except (RedisError, OSError):
            return BreakerState.closed
        failures, opened_until, probe_until = (float(v) if v else 0.0 for v in values)
        state = _state_of(
            int(failures), self.failure_threshold, opened_until, probe_until, self._clock()
        )
        set_breaker_state(state)
        return state
