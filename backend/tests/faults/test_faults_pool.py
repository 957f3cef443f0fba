"""The pool exhausted: requests beyond `DB_POOL_SIZE` (no overflow) wait
`DB_POOL_TIMEOUT_SECONDS`, then answer 503 DB_UNAVAILABLE; none hangs, and afterwards no
connection is leaked, in the pool or on the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import FaultApp, FaultAppFactory
from tests.save.helpers import SAVE, example_batch, manager_headers

pytestmark = pytest.mark.postgres_only

POOL = 2
TIMEOUT = 0.5


async def _lock_waiters(f: FaultApp, expected: int) -> None:
    async with f.server.admin() as admin:
        for _ in range(200):
            waiting = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'acehub' "
                "AND wait_event_type = 'Lock'"
            )
            if waiting == expected:
                return
            await asyncio.sleep(0.025)
    raise AssertionError(f"expected {expected} saves waiting on the lock")


async def test_requests_beyond_the_pool_answer_503_in_time_and_leak_nothing(
    fault_app: FaultAppFactory,
) -> None:
    async with fault_app(
        db_pool_size=POOL, db_max_overflow=0, db_pool_timeout_seconds=TIMEOUT
    ) as f:
        headers = await manager_headers(f.client, f.database)
        pool = f.database.engine.pool
        async with f.server.admin() as locker:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE tasks IN EXCLUSIVE MODE")
            # POOL saves take every connection and wait on the lock with it.
            holders = [
                asyncio.create_task(f.client.post(SAVE, json=example_batch(), headers=headers))
                for _ in range(POOL)
            ]
            await _lock_waiters(f, POOL)
            started = time.monotonic()
            starved = await asyncio.wait_for(
                asyncio.gather(
                    *(f.client.get("/auth/me", headers=headers) for _ in range(3)),
                    f.client.post(SAVE, json=example_batch(), headers=headers),
                    f.client.get("/projects", headers=headers),
                ),
                timeout=TIMEOUT * 10,  # never hangs
            )
            elapsed = time.monotonic() - started
            await transaction.rollback()
        for response in starved:
            assert response.status_code == 503, response.text
            assert response.json()["error_code"] == "DB_UNAVAILABLE"
            assert response.headers["retry-after"]
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT * 5
        assert [(await holder).status_code for holder in holders] == [200] * POOL
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await f.backends() == POOL  # the pool's idle connections, nothing more
        assert (await f.client.get("/auth/me", headers=headers)).status_code == 200
