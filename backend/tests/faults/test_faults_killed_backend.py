"""A backend killed mid-batch: `POST /data/save` of a large batch while another connection
runs `pg_terminate_backend` on the request's backend. Nothing of the batch is kept, the
answer is a clean 503, and the next request works without a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.faults.conftest import FaultApp, FaultAppFactory
from tests.save.helpers import SAVE, counts, example_batch, manager_headers, snapshot

pytestmark = pytest.mark.postgres_only

TASKS = 5000


def large_batch() -> dict[str, Any]:
    batch = example_batch()
    batch["tasks"] = [
        {"ace_task_id": 100_000 + i, "ace_project_id": 9001, "title": f"Task {i}"}
        for i in range(TASKS)
    ]
    batch["assignees"] = [
        {"ace_task_id": 100_000 + i, "ace_user_id": 501, "assigned_hours": 1} for i in range(TASKS)
    ]
    batch["task_logs"][0]["ace_task_id"] = 100_000
    return batch


async def _waiting_backend(f: FaultApp) -> int:
    """The app's backend that waits for the lock on `tasks`: its users and projects are
    written (uncommitted), its tasks not yet."""
    async with f.server.admin() as admin:
        for _ in range(200):
            pid = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'acehub' "
                "AND wait_event_type = 'Lock'"
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.025)
    raise AssertionError("the save never reached the tasks table")


async def test_a_backend_killed_mid_batch_keeps_nothing_and_answers_503(
    fault_app: FaultAppFactory,
) -> None:
    async with fault_app() as f:
        headers = await manager_headers(f.client, f.database)
        before = await snapshot(f.database)
        async with f.server.admin() as locker:
            # Hold the save half-way, deterministically: it waits on `tasks` once it has
            # written its users and projects in its transaction.
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE tasks IN EXCLUSIVE MODE")
            saving = asyncio.create_task(f.client.post(SAVE, json=large_batch(), headers=headers))
            pid = await _waiting_backend(f)
            async with f.server.admin() as killer:
                assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
            response = await saving
            await transaction.rollback()
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error_code"] == "DB_UNAVAILABLE"
        assert response.headers["retry-after"]
        assert "terminat" not in body["message"]
        assert await snapshot(f.database) == before
        assert f.database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # The next request, on the same app, saves the whole batch.
        saved = counts(await f.client.post(SAVE, json=large_batch(), headers=headers))
        assert saved["tasks"] == {"inserted": TASKS, "updated": 0, "unchanged": 0}
