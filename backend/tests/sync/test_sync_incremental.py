"""Incremental syncs read only what changed since the last successful sync (minus a safety
overlap), and the plan that decides it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Task
from app.models.enums import SyncKind
from app.services.sync.plan import plan_for
from tests.conftest import make_settings
from tests.sync.conftest import SyncEnv


async def test_an_incremental_sync_reads_only_the_changed_tasks(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    full = await env.run_sync(headers)
    assert full["kind"] == "full"
    upstream = env.sandbox.store["demo"]
    total = len(upstream.tasks)
    changed_id = sorted(upstream.tasks)[len(upstream.tasks) // 2]
    upstream.update_task(changed_id, task_resume="Changed upstream", at=datetime.now())
    env.sandbox.stats.reset()

    job = await env.run_sync(headers, kind="incremental")

    assert job["state"] == "succeeded", job["errors"]
    assert job["kind"] == "incremental"
    tasks: Any = job["counts"]["tasks"]  # type: ignore[index]
    # The demo data was last modified long ago: inside the overlap is the one change only.
    since = datetime.fromisoformat(str(full["started_at"])).date() - timedelta(
        days=env.settings.sync_overlap_days
    )
    in_window = {t.task_id for t in upstream.tasks.values() if t.date_modified.date() >= since}
    assert in_window == {changed_id}
    assert tasks == {"inserted": 0, "updated": 1, "unchanged": 0, "deleted": 0}
    assert tasks["updated"] + tasks["unchanged"] < total
    # ACE was asked for tasks modified since that day, not for every task; then only the
    # users of the one task changed were asked about their tasks.
    calls = env.sandbox.stats.recent()
    listed = [c["params"] for c in calls if c["fct"] == "gettasks"]
    user_filters = {"filterassigneduserid", "filterrevieweruserid"}
    whole = [p for p in listed if not user_filters & set(p)]
    assert len(whole) == 1
    assert whole[0]["filterfirstdate"] == "DATE_TASK_MODIFIED"
    assert whole[0]["filterfirstdatevalue"].startswith(since.isoformat())
    asked = {p.get("filterassigneduserid") or p.get("filterrevieweruserid") for p in listed}
    asked.discard(None)
    assert asked == {str(a.user_id) for a in upstream.task_assignments(changed_id)}
    assert len(listed) == 1 + 2 * len(asked)
    assert [c for c in calls if c["fct"] == "getassigneduserlist"] == []
    async with env.database.session() as session:
        rows = {
            ace_id: (title, synced)
            for ace_id, title, synced in await session.execute(
                select(Task.ace_task_id, Task.title, Task.synced_at)
            )
        }
    assert len(rows) == total
    assert rows[changed_id][0] == "Changed upstream"
    # Only the changed row was written again.
    latest = max(synced for _, synced in rows.values() if synced is not None)
    assert [ace_id for ace_id, (_, synced) in rows.items() if synced == latest] == [changed_id]


def test_the_plan_of_a_full_sync_reads_everything() -> None:
    settings = make_settings("sqlite+aiosqlite://", sync_overlap_days=2, sync_time_entries_days=30)
    today = date(2026, 3, 10)
    watermark = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    plan = plan_for(SyncKind.full, watermark, settings, today)
    assert plan.kind == "full"
    assert plan.modified_since is None
    assert plan.time_from == date(2026, 2, 8)
    assert plan.time_to == date(2026, 3, 11)


@pytest.mark.parametrize(
    ("overlap", "since"), [(0, date(2026, 3, 9)), (1, date(2026, 3, 8)), (3, date(2026, 3, 6))]
)
def test_the_plan_of_an_incremental_sync_starts_an_overlap_before_the_watermark(
    overlap: int, since: date
) -> None:
    settings = make_settings("sqlite+aiosqlite://", sync_overlap_days=overlap)
    watermark = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    plan = plan_for(SyncKind.incremental, watermark, settings, date(2026, 3, 10))
    assert plan.kind == "incremental"
    assert plan.modified_since == since
    assert plan.time_to == date(2026, 3, 11)


def test_an_incremental_plan_without_a_watermark_reads_everything() -> None:
    settings = make_settings("sqlite+aiosqlite://")
    plan = plan_for(SyncKind.incremental, None, settings, date(2026, 3, 10))
    assert plan.modified_since is None
