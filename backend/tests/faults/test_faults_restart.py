"""PostgreSQL restarted while the app is idle: every pooled connection is dead, and the next
request still succeeds (the pool drops connections the server closed, at checkout)."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import local_user_signed_in
from tests.faults.conftest import FaultAppFactory

pytestmark = pytest.mark.postgres_only


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_first_request_after_a_restart_succeeds(
    fault_app: FaultAppFactory, mode: str
) -> None:
    async with fault_app(db_pool_size=3) as f:
        user = await local_user_signed_in(f.client, f.database, username=f"idle-{mode}")
        # Fill the pool with several connections, through both paths: the unit of work
        # (SQLAlchemy) and the read routes (statements sent straight to asyncpg).
        reads = [f"/tasks/{user.user_id}", "/auth/me", "/reports/workload"]
        for response in await asyncio.gather(
            *(f.client.get(path, headers=user.headers) for path in reads * 2)
        ):
            assert response.status_code == 200
        assert await f.backends() >= 2
        f.server.restart(mode)
        await asyncio.sleep(0.05)  # idle: the loop reads the servers' goodbyes
        for path in ["/auth/me", f"/tasks/{user.user_id}", "/reports/workload", "/auth/me"]:
            response = await f.client.get(path, headers=user.headers)
            assert response.status_code == 200, (mode, path, response.text)
        assert (await f.client.get(f"/tasks/{user.user_id}", headers=user.headers)).is_success
