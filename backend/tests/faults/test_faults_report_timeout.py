"""A report over REPORT_STATEMENT_TIMEOUT_SECONDS: 504 REPORT_TIMEOUT, for the JSON reports
and for the downloads (before their first byte), and the connection goes back to the pool
with the server's default statement timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.faults.conftest import FaultApp, FaultAppFactory
from tests.save.helpers import SAVE, counts, example_batch, manager_headers

pytestmark = pytest.mark.postgres_only

TIMEOUT = 1.0  # short, yet far above what these tiny reports need on a busy machine
REPORTS = [
    ("/reports/time", {"group": "user"}),
    ("/reports/workload", {}),
    ("/reports/overdue", {}),
    ("/reports/time", {"group": "project", "format": "csv"}),
    ("/reports/time", {"group": "project", "format": "xlsx"}),
    ("/reports/overdue", {"format": "csv"}),
]


@asynccontextmanager
async def _reports_blocked(f: FaultApp) -> AsyncIterator[None]:
    """Every report statement waits (the report's own query, not the caller lookup): the
    tables of logs and tasks are locked against reads until the block ends."""
    async with f.server.admin() as locker, locker.transaction():
        await locker.execute("LOCK TABLE task_logs, tasks IN ACCESS EXCLUSIVE MODE")
        yield


async def _server_timeouts(f: FaultApp) -> set[str]:
    """`statement_timeout` and `plan_cache_mode` of every connection in the app's pool (one
    connection here): the server defaults ("0", "auto") once a report gave it back."""
    async with f.database.read_engine.connect() as conn:
        timeout = (await conn.exec_driver_sql("SHOW statement_timeout")).scalar()
        plans = (await conn.exec_driver_sql("SHOW plan_cache_mode")).scalar()
        return {f"{timeout}/{plans}"}


@pytest.mark.parametrize(("path", "params"), REPORTS)
async def test_a_report_over_its_timeout_answers_504_and_the_connection_stays_healthy(
    fault_app: FaultAppFactory, path: str, params: dict[str, str]
) -> None:
    async with fault_app(
        report_statement_timeout_seconds=TIMEOUT, db_pool_size=1, db_max_overflow=0
    ) as f:
        headers = await manager_headers(f.client, f.database)
        counts(await f.client.post(SAVE, json=example_batch(), headers=headers))
        assert await _server_timeouts(f) == {"0/auto"}
        async with _reports_blocked(f):
            started = time.monotonic()
            response = await f.client.get(path, params=params, headers=headers)
            elapsed = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["error_code"] == "REPORT_TIMEOUT"
        assert "statement" not in body["message"]
        assert elapsed < TIMEOUT + 2
        # The one pooled connection is back, with no timeout left on it, and serves on.
        assert f.database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _server_timeouts(f) == {"0/auto"}
        again = await f.client.get(path, params=params, headers=headers)
        assert again.status_code == 200, again.text
        assert await _server_timeouts(f) == {"0/auto"}
        assert (await f.client.get("/auth/me", headers=headers)).status_code == 200


async def test_the_timeout_bounds_only_report_statements(fault_app: FaultAppFactory) -> None:
    """A slow statement outside a report on the same pooled connection is not cut."""
    async with fault_app(
        report_statement_timeout_seconds=TIMEOUT, db_pool_size=1, db_max_overflow=0
    ) as f:
        headers = await manager_headers(f.client, f.database)
        assert (await f.client.get("/reports/workload", headers=headers)).status_code == 200
        async with f.database.read_engine.connect() as conn:
            await conn.exec_driver_sql(f"SELECT pg_sleep({TIMEOUT * 2})")
