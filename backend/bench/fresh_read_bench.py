"""How fast `GET /tasks/{user_id}` pages are right after a large load through the API,
against the same reads once the tables are vacuumed and analyzed (the steady state).

1. (Re)creates a PostgreSQL database (default ``acehub_bench_fresh`` on 127.0.0.1:5432 as
   ``postgres``), migrates it and adds a local manager; nothing is analyzed.
2. Starts the API (``acehub serve``, one worker), signs in, and loads 500 users, 100 projects
   and ``--tasks`` tasks (default 200,000) with ``--assignees`` assignees each (default 2)
   through ``POST /data/save``, ``--batch-tasks`` tasks a batch (default 15,000).
3. At once: ``--connections`` httpx clients (default 4) read ``GET /tasks/{user_id}?limit=50``
   for random users for ``--duration`` seconds (default 10); then ``VACUUM ANALYZE`` and the
   same reads again. Prints req/s and p50/p99 of both and their ratio (target >= 0.9), and
   whether autovacuum analyzed the tables before the first reads ended.

    uv run python -m bench.fresh_read_bench                       # the fix as configured
    uv run python -m bench.fresh_read_bench --analyze-min-rows 1000000000   # without it
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from app.auth.security import hash_password
from app.connection import migrations
from app.connection.migrations import recreate_postgres_database
from bench.common import report
from bench.save_bench import PROJECTS, USERS, api_server, free_port, make_batch

ACCOUNT = "bench-fresh"
MANAGER = "bench-manager"
PASSWORD = "bench-password-0123456789"
RATIO_TARGET = 0.9


@dataclass(frozen=True, slots=True)
class Reads:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="acehub_bench_fresh")
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--batch-tasks", type=int, default=15_000)
    parser.add_argument("--assignees", type=int, default=2, help="assignees per task")
    parser.add_argument("--connections", type=int, default=4, help="concurrent readers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument(
        "--analyze-min-rows", type=int, help="ANALYZE_MIN_ROWS of the API (default: its own)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def log(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


async def add_manager(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO users (guid, account_id, username, role, auth_source, password_hash)"
            " VALUES ($1, $2, $3, 'manager', 'local', $4)",
            uuid.uuid4(),
            ACCOUNT,
            MANAGER,
            hash_password(PASSWORD),
        )
    finally:
        await conn.close()


async def save(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/data/save", content=body, headers={"Content-Type": "application/json"}
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST /data/save answered {response.status_code}: {response.text}")


async def load(client: httpx.AsyncClient, options: argparse.Namespace) -> float:
    """Users, projects, then the tasks with their assignees, all through the API."""
    started = time.perf_counter()
    people = [{"ace_user_id": i, "username": f"user{i}"} for i in range(1, USERS + 1)]
    projects = [{"ace_project_id": i, "name": f"Project {i}"} for i in range(1, PROJECTS + 1)]
    await save(client, orjson.dumps({"users": people, "projects": projects}))
    for first in range(1, options.tasks + 1, options.batch_tasks):
        count = min(options.batch_tasks, options.tasks + 1 - first)
        await save(client, make_batch(first, count, options.assignees).body())
    return time.perf_counter() - started


async def read_for(
    client: httpx.AsyncClient, user_ids: list[int], connections: int, seconds: float
) -> Reads:
    """`connections` readers of random users' first pages for `seconds`."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(f"/tasks/{random.choice(user_ids)}?limit=50")
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Reads(
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(1000 * latencies[(len(latencies) - 1) // 2], 2),
        p99_ms=round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        requests=len(latencies),
    )


async def autoanalyzed_since(conn: asyncpg.Connection, since: float) -> bool:
    """Whether autovacuum analyzed tasks or task_assignees after `since` (a Unix time)."""
    found = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('tasks', 'task_assignees')"
        " AND last_autoanalyze >= to_timestamp($1)",
        since,
    )
    return bool(found)


async def run(options: argparse.Namespace, url: str, port: int) -> dict[str, Any]:
    quiet = options.json
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        login = await client.post(
            "/auth/login", json={"account_id": ACCOUNT, "username": MANAGER, "password": PASSWORD}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
        load_started = time.time()
        log(f"loading {options.tasks:,} tasks through POST /data/save ...", quiet=quiet)
        load_seconds = await load(client, options)
        conn = await asyncpg.connect(url)
        try:
            user_ids = [
                int(row["id"])
                for row in await conn.fetch(
                    "SELECT id FROM users WHERE account_id = $1 AND auth_source = 'ace'", ACCOUNT
                )
            ]
            log("reading right after the load ...", quiet=quiet)
            fresh = await read_for(client, user_ids, options.connections, options.duration)
            autovacuum = await autoanalyzed_since(conn, load_started)
            await conn.execute("VACUUM ANALYZE")
            log("reading after VACUUM ANALYZE ...", quiet=quiet)
            steady = await read_for(client, user_ids, options.connections, options.duration)
        finally:
            await conn.close()
    ratio = fresh.requests_per_second / steady.requests_per_second
    return {
        "benchmark": "fresh_read",
        "fresh": asdict(fresh),
        "steady": asdict(steady),
        "ratio": round(ratio, 3),
        "ratio_target": RATIO_TARGET,
        "passed": ratio >= RATIO_TARGET,
        "load_seconds": round(load_seconds, 1),
        # True: autovacuum got there first, so the "fresh" figures are not only the fix's.
        "autovacuum_analyzed_before_reads_ended": autovacuum,
        "options": {
            "tasks": options.tasks,
            "assignees_per_task": options.assignees,
            "batch_tasks": options.batch_tasks,
            "connections": options.connections,
            "duration_s": options.duration,
            "analyze_min_rows": options.analyze_min_rows,
            "server": "acehub serve --workers 1: uvicorn, uvloop, httptools",
            "load_tool": "httpx",
            "date": date.today().isoformat(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    url = f"{options.database_url}/{options.database}"
    log(f"creating and migrating {options.database} ...", quiet=options.json)
    asyncio.run(recreate_postgres_database(url))
    migrations.upgrade(url)
    asyncio.run(add_manager(url))
    if options.analyze_min_rows is not None:
        os.environ["ANALYZE_MIN_ROWS"] = str(options.analyze_min_rows)  # read by the server
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="acehub-bench-")) / "api.log"
    with api_server(url, port, log_path):
        figures = asyncio.run(run(options, url, port))
    if options.json:
        report("fresh_read", figures, as_json=True)
        return 0
    for name in ("fresh", "steady"):
        reads = figures[name]
        print(
            f"  {name:6} {reads['requests_per_second']:8.1f} req/s  p50 {reads['p50_ms']:8.2f} ms"
            f"  p99 {reads['p99_ms']:8.2f} ms  ({reads['requests']} requests)"
        )
    print(f"  ratio  {figures['ratio']:.3f} (target >= {RATIO_TARGET})")
    print(f"  autovacuum analyzed first: {figures['autovacuum_analyzed_before_reads_ended']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
