"""The plans of `GET /tasks/{user_id}`: no filter shape may read a large table whole.

On the read benchmark's database (``bench.tasks_read_bench``: by default 1,000,000 tasks of
10,000 users, loaded if it is not there yet, kept with ``--reuse``) it runs the tasks page
statement of each filter shape (status, status type, project, due range, overdue both ways,
title text, each sort both ways, and keyset cursors) for two requested users, the one with a
median number of tasks and the one with the most, under ``EXPLAIN (ANALYZE, BUFFERS)``: once
with the plan made for the values (as the first runs of a prepared statement get) and once with
the generic plan PostgreSQL may switch a prepared statement to after five runs.

It prints, per shape, the execution time and shared buffers of the slower of the two plans and
the tables any plan scans sequentially; passed means none of tasks, task_assignees or users
is scanned sequentially in any plan.

    uv run python -m bench.task_plans_bench --reuse
    uv run python -m bench.task_plans_bench --tasks 100000 --users 1000 --json
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app.connection import plans
from app.dto.task import TaskListQuery
from app.services.task_service import page_statement, task_query_params
from bench import tasks_read_bench

# The tables that grow with the account or with time: a year of syncs every 15 minutes, a few
# ended login sessions per user.
LARGE_TABLES = frozenset({"tasks", "task_assignees", "users", "refresh_tokens", "sync_jobs"})
SYNC_JOBS = 35_000
ENDED_SESSIONS_PER_USER = 5


Case = tuple[TaskListQuery, tuple[Any, int] | None]


def plan_cases(today: date) -> dict[str, Case]:
    """Each filter shape, sort and cursor kind the endpoint takes: name → (query, cursor key)."""
    filters: dict[str, dict[str, Any]] = {
        "no filter": {},
        "status": {"status": "In progress"},
        "status_type": {"status_type": ["waiting", "in_progress"]},
        "project": {"project_id": 7},
        "due range": {"due_after": today - timedelta(days=30), "due_before": today},
        "overdue": {"overdue": True},
        "not overdue": {"overdue": False},
        "q": {"q": "build"},
        "all filters": {
            "status_type": ["in_progress"],
            "due_after": today - timedelta(days=365),
            "overdue": True,
            "q": "step",
        },
    }
    cases: dict[str, Case] = {
        name: (TaskListQuery(**values), None) for name, values in filters.items()
    }
    after: dict[str, Any] = {
        "due": today,
        "title": "Task 5",
        "updated": datetime.now(UTC) - timedelta(days=30),
        "priority": "2 - Normal",
        "id": 500_000,
    }
    for sort, value in after.items():
        for order in (sort, f"-{sort}"):
            cases[f"sort {order}"] = (TaskListQuery(sort=order), None)
            cases[f"sort {order}, cursor"] = (TaskListQuery(sort=order), (value, 500_000))
    cases["sort due, cursor past the dated"] = (TaskListQuery(sort="due"), (None, 500_000))
    cases["offset 200"] = (TaskListQuery(offset=200), None)
    return cases


async def _seed_history(url: str) -> None:
    """What a year in use leaves beside the mirror (once per database): past sync jobs of the
    account and of others, and revoked refresh tokens of every user."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT count(*) FROM sync_jobs") < SYNC_JOBS:
            await conn.execute(
                "INSERT INTO sync_jobs (id, account_id, kind, state, counts, errors, started_at,"
                " finished_at) SELECT gen_random_uuid(),"
                " CASE WHEN n % 4 = 0 THEN $1 ELSE 'other-' || (n % 50) END,"
                " CASE WHEN n % 96 = 0 THEN 'full' ELSE 'incremental' END,"
                " CASE WHEN n % 20 = 0 THEN 'failed' ELSE 'succeeded' END, '{}', '[]',"
                " now() - n * interval '15 minutes', now() - n * interval '15 minutes'"
                " + interval '1 minute' FROM generate_series(1, $2) AS n",
                tasks_read_bench.ACCOUNT,
                SYNC_JOBS,
            )
        if await conn.fetchval("SELECT count(*) FROM refresh_tokens") < ENDED_SESSIONS_PER_USER:
            await conn.execute(
                "INSERT INTO refresh_tokens (jti_hash, user_id, family_id, issued_at, expires_at,"
                " revoked_at) SELECT md5(u.id || '-' || n), u.id, gen_random_uuid(),"
                " now() - n * interval '1 day', now() - n * interval '1 day' + interval '30 days',"
                " now() - n * interval '1 day' + interval '1 hour'"
                " FROM users AS u CROSS JOIN generate_series(1, $1) AS n",
                ENDED_SESSIONS_PER_USER,
            )
        await conn.execute("ANALYZE sync_jobs")
        await conn.execute("ANALYZE refresh_tokens")
    finally:
        await conn.close()


async def _caller(url: str, guid: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A live login session of the bench manager (`guid`): the token's (guid, sid)."""
    conn = await asyncpg.connect(url)
    try:
        sid = uuid.uuid4()
        await conn.execute(
            "INSERT INTO refresh_tokens (jti_hash, user_id, family_id, issued_at, expires_at)"
            " SELECT $1, id, $2, now(), now() + interval '1 day' FROM users WHERE guid = $3",
            uuid.uuid4().hex,
            sid,
            uuid.UUID(guid),
        )
        return uuid.UUID(guid), sid
    finally:
        await conn.close()


async def _requested_users(url: str) -> dict[str, int]:
    """The user with a median number of tasks and the one with the most."""
    conn = await asyncpg.connect(url)
    try:
        counts = await conn.fetch(
            "SELECT user_id, count(*) AS n FROM task_assignees GROUP BY user_id ORDER BY n, user_id"
        )
        return {"median": counts[len(counts) // 2]["user_id"], "most": counts[-1]["user_id"]}
    finally:
        await conn.close()


async def _prepared_plans(
    connection: AsyncConnection, user_id: int, guid: uuid.UUID, sid: uuid.UUID
) -> dict[str, int]:
    """How PostgreSQL planned the hot path's prepared page statement over 20 runs: a custom
    plan costs a planning per run, a generic one is made once per connection."""
    shape, params = task_query_params(
        user_id=user_id, query=TaskListQuery(), after=None, today=date.today()
    )
    params |= {"guid": guid, "sid": sid}
    statement = page_statement(shape)
    for _ in range(20):
        await statement.rows(connection, params)
    sql, _args = statement.bound(connection, params)
    raw = await connection.get_raw_connection()
    assert raw.driver_connection is not None
    row = await raw.driver_connection.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        sql,
    )
    return {"generic": row["generic_plans"], "custom": row["custom_plans"]}


async def measure_plans(url: str, guid: str) -> dict[str, Any]:
    await _seed_history(url)
    guid_value, sid = await _caller(url, guid)
    users = await _requested_users(url)
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    shapes: dict[str, dict[str, Any]] = {}
    try:
        async with engine.connect() as connection:
            for name, (query, after) in plan_cases(date.today()).items():
                worst_ms, worst_buffers, scanned = 0.0, 0, set[str]()
                for user_id in users.values():
                    shape, params = task_query_params(
                        user_id=user_id, query=query, after=after, today=date.today()
                    )
                    params |= {"guid": guid_value, "sid": sid}
                    for generic in (False, True):
                        plan = await plans.explain(
                            connection, page_statement(shape), params, generic=generic
                        )
                        worst_ms = max(worst_ms, float(plan["Execution Time"]))
                        worst_buffers = max(worst_buffers, plans.shared_buffers(plan))
                        scanned |= plans.sequential_scans(plan)
                shapes[name] = {
                    "execution_ms": round(worst_ms, 2),
                    "shared_buffers": worst_buffers,
                    "sequential_scans": sorted(scanned),
                }
            prepared = await _prepared_plans(connection, users["median"], guid_value, sid)
    finally:
        await engine.dispose()
    offending = sorted(
        name for name, shape in shapes.items() if LARGE_TABLES & set(shape["sequential_scans"])
    )
    return {
        "requested_users": users,
        "prepared_plans_after_20_runs": prepared,
        "shapes": shapes,
        "slowest_shape": max(shapes, key=lambda name: shapes[name]["execution_ms"]),
        "slowest_execution_ms": max(shape["execution_ms"] for shape in shapes.values()),
        "shapes_with_large_sequential_scans": offending,
        "passed": not offending,
    }


def main(argv: list[str] | None = None) -> int:
    options = tasks_read_bench.parse_args(argv)
    quiet = options.json
    url = tasks_read_bench.prepare_database(options, quiet=quiet)
    guid = asyncio.run(tasks_read_bench.create_manager(url))
    figures = asyncio.run(measure_plans(url, guid))
    figures["options"] = {
        "tasks": options.tasks,
        "users": options.users,
        "projects": options.projects,
    }
    if options.json:
        print(json.dumps({"benchmark": "task_plans", **figures}))
        return 0
    print(
        f"GET /tasks/{{user_id}} plans: {options.tasks:,} tasks, {options.users:,} users; "
        f"requested users {figures['requested_users']}; the slower of custom and generic plan"
    )
    print(f"  prepared page statement after 20 runs: {figures['prepared_plans_after_20_runs']}")
    for name, shape in figures["shapes"].items():
        scans = ", ".join(shape["sequential_scans"]) or "-"
        print(
            f"  {name:34} {shape['execution_ms']:8.2f} ms {shape['shared_buffers']:7} buffers"
            f"   seq scans: {scans}"
        )
    print(
        f"  passed: {figures['passed']} (no sequential scan of {', '.join(sorted(LARGE_TABLES))})"
    )
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
