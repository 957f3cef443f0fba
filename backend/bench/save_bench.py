"""How fast `POST /data/save` writes, against a COPY-into-staging + upsert ceiling, and how
much memory the server needs while 1M rows go through it.

1. (Re)creates a PostgreSQL database (default ``acehub_bench_save`` on 127.0.0.1:5432 as
   ``postgres``), migrates it, and puts in two accounts (``bench-api`` written through the
   API, ``bench-copy`` written by the ceiling) with the same projects and users, plus a
   local manager of ``bench-api``.
2. Starts the API with the production server command (``acehub serve``: uvicorn, uvloop,
   httptools; one worker, so its memory is one process's) and signs in through
   ``POST /auth/login`` for a real bearer token.
3. Throughput, one mix per ``--assignees`` value (default 2, then 1 assignee per task):
   ``--rounds`` batches of ``--batch-tasks`` tasks (default 10,000), new rows every round
   (inserts), then the same batches again with every task's title and modified time and
   every assignee's hours changed (updates only: each item rewrites a stored row; the API's
   counts are checked to say so). Each batch goes once through the API (bodies encoded before
   the clock starts) and once through the ceiling: asyncpg COPY of the same rows into
   temporary staging tables, then ``INSERT .. SELECT .. ON CONFLICT DO UPDATE .. WHERE
   <differs>`` from them, in one transaction, on one connection. Rows per second count tasks
   plus assignees; the ratio is API / ceiling over all rounds (target >= 0.7 for every mix
   and kind), ``best_round_ratio`` the best single round's.
4. Memory: ``--rows`` rows (default 1,000,000, tasks plus assignees) posted as successive
   batches of new rows; the server's VmRSS and VmHWM (peak) from ``/proc/<pid>/status`` at
   checkpoints.

    uv run python -m bench.save_bench                 # the full run
    uv run python -m bench.save_bench --rows 200000 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from app.auth.security import hash_password
from app.connection import migrations
from app.connection.migrations import recreate_postgres_database

BACKEND = Path(__file__).resolve().parents[1]
API_ACCOUNT = "bench-api"
COPY_ACCOUNT = "bench-copy"
MANAGER = "bench-manager"
PASSWORD = "bench-password-0123456789"
SECRET = "bench-secret-key-0123456789-0123456789-0123456789"
PROJECTS = 100
USERS = 500
RATIO_TARGET = 0.7
STATUSES = [("Not started", "waiting"), ("In progress", "in_progress"), ("Done", "completed")]

# The task fields a batch carries (the ceiling stages the same ones).
TASK_COLUMNS: list[tuple[str, str]] = [
    ("ace_task_id", "bigint"),
    ("ace_project_id", "bigint"),
    ("title", "varchar"),
    ("number", "varchar"),
    ("description", "text"),
    ("status", "varchar"),
    ("status_type", "varchar"),
    ("priority", "varchar"),
    ("estimated_hours", "float8"),
    ("percent_done", "float8"),
    ("expected_start", "date"),
    ("expected_end", "date"),
    ("ace_modified_at", "timestamptz"),
]
ASSIGNEE_COLUMNS: list[tuple[str, str]] = [
    ("ace_task_id", "bigint"),
    ("ace_user_id", "bigint"),
    ("is_assignee", "boolean"),
    ("is_reviewer", "boolean"),
    ("assigned_hours", "float8"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="acehub_bench_save")
    parser.add_argument("--batch-tasks", type=int, default=10_000, help="tasks per batch")
    parser.add_argument(
        "--assignees",
        type=int,
        nargs="+",
        default=[2, 1],
        help="assignees per task, one mix each (the first also for the memory run)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="batches measured per kind")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows (tasks + assignees) of the memory run"
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def log(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    tasks: list[dict[str, Any]]
    assignees: list[dict[str, Any]]

    @property
    def rows(self) -> int:
        return len(self.tasks) + len(self.assignees)

    def body(self) -> bytes:
        return orjson.dumps({"tasks": self.tasks, "assignees": self.assignees})

    def task_records(self) -> list[tuple[Any, ...]]:
        return [
            tuple(_record_value(task[name], kind) for name, kind in TASK_COLUMNS)
            for task in self.tasks
        ]

    def assignee_records(self) -> list[tuple[Any, ...]]:
        return [tuple(item[name] for name, _ in ASSIGNEE_COLUMNS) for item in self.assignees]


def _record_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamptz":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    return value


def make_batch(first_task: int, tasks: int, assignees: int, *, version: int = 0) -> Batch:
    """Tasks `first_task ..` with `assignees` distinct users each; `version` changes titles."""
    today = date(2026, 11, 1)
    modified = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    task_items = []
    assignee_items = []
    for ace_task_id in range(first_task, first_task + tasks):
        status, status_type = STATUSES[ace_task_id % len(STATUSES)]
        start = today + timedelta(days=ace_task_id % 60)
        task_items.append(
            {
                "ace_task_id": ace_task_id,
                "ace_project_id": ace_task_id % PROJECTS + 1,
                "title": f"Task {ace_task_id}: build step v{version}",
                "number": f"T-{ace_task_id}",
                "description": "Bench task with a short description of the work to do.",
                "status": status,
                "status_type": status_type,
                "priority": "2 - Normal",
                "estimated_hours": float(ace_task_id % 40 + 1),
                "percent_done": float(ace_task_id % 5 * 25),
                "expected_start": start.isoformat(),
                "expected_end": (start + timedelta(days=14)).isoformat(),
                "ace_modified_at": (modified + timedelta(seconds=version)).isoformat(),
            }
        )
        for k in range(assignees):
            assignee_items.append(
                {
                    "ace_task_id": ace_task_id,
                    "ace_user_id": (ace_task_id * 7 + k * 131) % USERS + 1,
                    "is_assignee": k == 0,
                    "is_reviewer": k != 0,
                    "assigned_hours": 4.0 + version,
                }
            )
    return Batch(task_items, assignee_items)


async def seed(url: str) -> None:
    """Projects and users in both accounts, and the API account's local manager."""
    conn = await asyncpg.connect(url)
    try:
        for account in (API_ACCOUNT, COPY_ACCOUNT):
            await conn.copy_records_to_table(
                "projects",
                columns=["account_id", "ace_project_id", "name"],
                records=[(account, i, f"Project {i}") for i in range(1, PROJECTS + 1)],
            )
            await conn.copy_records_to_table(
                "users",
                columns=["guid", "account_id", "ace_user_id", "username", "role", "auth_source"],
                records=[
                    (uuid.uuid4(), account, i, f"user{i}", "member", "ace")
                    for i in range(1, USERS + 1)
                ],
            )
        await conn.execute(
            "INSERT INTO users (guid, account_id, username, role, auth_source, password_hash)"
            " VALUES ($1, $2, $3, 'manager', 'local', $4)",
            uuid.uuid4(),
            API_ACCOUNT,
            MANAGER,
            hash_password(PASSWORD),
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# --- the ceiling -----------------------------------------------------------------------------


def _differs(columns: list[str], table: str) -> str:
    return " OR ".join(f"{table}.{name} IS DISTINCT FROM excluded.{name}" for name in columns)


_TASK_UPDATED = [name for name, _ in TASK_COLUMNS if name not in ("ace_task_id", "ace_project_id")]
CEILING_TASKS_SQL = f"""
INSERT INTO tasks (account_id, ace_task_id, project_id, {", ".join(_TASK_UPDATED)},
                   created_at, updated_at)
SELECT $1, s.ace_task_id, p.id, {", ".join(f"s.{name}" for name in _TASK_UPDATED)}, $2, $2
FROM stage_tasks s
JOIN projects p ON p.account_id = $1 AND p.ace_project_id = s.ace_project_id
ORDER BY s.ace_task_id
ON CONFLICT (account_id, ace_task_id) DO UPDATE SET
  project_id = excluded.project_id,
  {", ".join(f"{name} = excluded.{name}" for name in _TASK_UPDATED)},
  deleted_at = NULL, updated_at = excluded.updated_at
WHERE {_differs(["project_id", *_TASK_UPDATED], "tasks")} OR tasks.deleted_at IS NOT NULL
"""
CEILING_ASSIGNEES_SQL = f"""
INSERT INTO task_assignees (task_id, user_id, is_assignee, is_reviewer, assigned_hours)
SELECT t.id, u.id, s.is_assignee, s.is_reviewer, s.assigned_hours
FROM stage_assignees s
JOIN tasks t ON t.account_id = $1 AND t.ace_task_id = s.ace_task_id
JOIN users u ON u.account_id = $1 AND u.ace_user_id = s.ace_user_id
ORDER BY s.ace_task_id, s.ace_user_id
ON CONFLICT (task_id, user_id) DO UPDATE SET
  is_assignee = excluded.is_assignee, is_reviewer = excluded.is_reviewer,
  assigned_hours = excluded.assigned_hours
WHERE {_differs(["is_assignee", "is_reviewer", "assigned_hours"], "task_assignees")}
"""


async def ceiling_write(conn: asyncpg.Connection, batch: Batch) -> float:
    """COPY the batch into staging tables and upsert from them; returns seconds taken."""
    tasks, assignees = batch.task_records(), batch.assignee_records()
    started = time.perf_counter()
    async with conn.transaction():
        for table, columns in (
            ("stage_tasks", TASK_COLUMNS),
            ("stage_assignees", ASSIGNEE_COLUMNS),
        ):
            definition = ", ".join(f"{name} {kind}" for name, kind in columns)
            await conn.execute(f"CREATE TEMP TABLE {table} ({definition}) ON COMMIT DROP")
        await conn.copy_records_to_table(
            "stage_tasks", records=tasks, columns=[name for name, _ in TASK_COLUMNS]
        )
        await conn.execute(CEILING_TASKS_SQL, COPY_ACCOUNT, datetime.now(UTC))
        await conn.copy_records_to_table(
            "stage_assignees", records=assignees, columns=[name for name, _ in ASSIGNEE_COLUMNS]
        )
        await conn.execute(CEILING_ASSIGNEES_SQL, COPY_ACCOUNT)
    return time.perf_counter() - started


# --- the API ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def api_server(
    url: str, port: int, log_path: Path, *, sync_runner: str = "in_process"
) -> Iterator[int]:
    """`acehub serve` (one worker: the process we measure); yields its pid. `sync_runner`
    "queue" leaves sync jobs to `acehub worker` processes."""
    acehub = str(Path(sys.executable).with_name("acehub"))
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "LOG_FORMAT": "json",
        # The benches that sync through the API measure the API alone: no job worker.
        "SYNC_RUNNER": sync_runner,
    }
    command = [acehub, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=BACKEND,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the API exited; see {log_path}")
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                    if health.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start; see {log_path}")
                time.sleep(0.2)
            yield process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def memory_mib(pid: int) -> dict[str, float]:
    """The process's resident set now (VmRSS) and at its peak so far (VmHWM), in MiB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = round(int(value.split()[0]) / 1024, 1)
    return figures


def _counts(batch: Batch, kind: str) -> dict[str, dict[str, int]]:
    """What the API must answer for `batch`: every item inserted, or every item updated."""
    field = "inserted" if kind == "insert" else "updated"
    expected = {"tasks": len(batch.tasks), "assignees": len(batch.assignees)}
    return {entity: {field: count} for entity, count in expected.items()}


async def api_write(
    client: httpx.AsyncClient, body: bytes, expected: dict[str, dict[str, int]]
) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/data/save", content=body, headers={"Content-Type": "application/json"}
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"POST /data/save answered {response.status_code}: {response.text}")
    data = response.json()["data"]
    for entity, counts in expected.items():
        answered = {name: count for name, count in data[entity].items() if count}
        if answered != counts:
            raise RuntimeError(f"the API counted {entity} {answered}, expected {counts}")
    return elapsed


def mix_name(assignees: int) -> str:
    return f"{assignees}_assignee{'s' if assignees != 1 else ''}"


async def measure(
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    options: argparse.Namespace,
    kind: str,
    first_task: int,
    assignees: int,
) -> dict[str, float]:
    """`options.rounds` batches of one kind, each through the API then the ceiling.

    insert: tasks and assignees new to both accounts. update: the same batches again with
    every task's title and modified time and every assignee's hours changed, so each item
    updates a stored row (updates only: no insert, no unchanged row; the API's counts are
    checked)."""
    per_batch = options.batch_tasks
    api_seconds = ceiling_seconds = 0.0
    rows = 0
    round_ratios = []
    for round_number in range(options.rounds):
        first = first_task + round_number * per_batch
        batch = make_batch(first, per_batch, assignees, version=0 if kind == "insert" else 1)
        body = batch.body()
        api = await api_write(client, body, _counts(batch, kind))
        ceiling = await ceiling_write(conn, batch)
        api_seconds += api
        ceiling_seconds += ceiling
        rows += batch.rows
        round_ratios.append(ceiling / api)
        log(
            f"{mix_name(assignees)} {kind} round {round_number + 1}: API "
            f"{batch.rows / api:,.0f} rows/s, ceiling {batch.rows / ceiling:,.0f} rows/s, "
            f"ratio {ceiling / api:.3f}",
            quiet=options.json,
        )
    return {
        "api_rows_per_second": round(rows / api_seconds),
        "ceiling_rows_per_second": round(rows / ceiling_seconds),
        "ratio": round(ceiling_seconds / api_seconds, 3),
        "best_round_ratio": round(max(round_ratios), 3),
        "rows": rows,
    }


# --- the run ---------------------------------------------------------------------------------


async def run(options: argparse.Namespace, url: str, port: int, pid: int) -> dict[str, Any]:
    quiet = options.json
    per_batch = options.batch_tasks
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        login = await client.post(
            "/auth/login",
            json={"account_id": API_ACCOUNT, "username": MANAGER, "password": PASSWORD},
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
        conn = await asyncpg.connect(url)
        try:
            # Warm-up: one small batch each way (connections, prepared statements, imports).
            warm = make_batch(10**12, 200, options.assignees[0])
            await api_write(client, warm.body(), _counts(warm, "insert"))
            await ceiling_write(conn, warm)
            posted = 0  # rows sent to the API so far (after the warm-up)
            memory: list[dict[str, Any]] = [{"stage": "started", "rows": posted, **memory_mib(pid)}]

            figures: dict[str, dict[str, dict[str, float]]] = {}
            next_task = 1
            for assignees in options.assignees:
                figures[mix_name(assignees)] = {
                    kind: await measure(client, conn, options, kind, next_task, assignees)
                    for kind in ("insert", "update")
                }
                posted += 2 * options.rounds * per_batch * (1 + assignees)
                next_task += options.rounds * per_batch
                if len(memory) == 1:
                    memory.append({"stage": "first mix", "rows": posted, **memory_mib(pid)})
            memory.append({"stage": "throughput done", "rows": posted, **memory_mib(pid)})

            # Memory over --rows rows of new tasks and assignees, in successive batches.
            memory_assignees = options.assignees[0]
            rows_per_batch = per_batch * (1 + memory_assignees)
            batches = max(1, -(-options.rows // rows_per_batch))
            checkpoints = {1, batches // 4, batches // 2, 3 * batches // 4, batches} - {0}
            started = time.perf_counter()
            sent = 0
            for number in range(1, batches + 1):
                batch = make_batch(next_task, per_batch, memory_assignees)
                next_task += per_batch
                await api_write(client, batch.body(), _counts(batch, "insert"))
                sent += batch.rows
                posted += batch.rows
                if number in checkpoints:
                    stage = f"bulk {sent:,} rows"
                    memory.append({"stage": stage, "rows": posted, **memory_mib(pid)})
                    log(f"memory: {memory[-1]}", quiet=quiet)
            bulk_seconds = time.perf_counter() - started
        finally:
            await conn.close()
    # The 1M-row run starts after the throughput batches (same size) have run.
    bulk_start_peak = float(next(p["VmHWM"] for p in memory if p["stage"] == "throughput done"))
    bulk_end_peak = float(memory[-1]["VmHWM"])
    ratios = [kind["ratio"] for mix in figures.values() for kind in mix.values()]
    main_mix = figures[mix_name(options.assignees[0])]
    return {
        "benchmark": "save",
        "mixes": figures,
        "insert": main_mix["insert"],
        "update": main_mix["update"],
        "ratio": min(ratios),
        "ratio_target": RATIO_TARGET,
        "passed": min(ratios) >= RATIO_TARGET,
        "memory": {
            "rows": sent,
            "batches": batches,
            "rows_per_second": round(sent / bulk_seconds),
            "checkpoints_mib": memory,
            "peak_before_bulk_mib": bulk_start_peak,
            "peak_after_bulk_mib": bulk_end_peak,
            "peak_growth_over_bulk_mib": round(bulk_end_peak - bulk_start_peak, 1),
        },
        "options": {
            "batch_tasks": per_batch,
            "assignees_per_task": options.assignees,
            "memory_assignees_per_task": memory_assignees,
            "rows_per_batch": rows_per_batch,
            "rounds": options.rounds,
            "server": "acehub serve --workers 1: uvicorn, uvloop, httptools",
            "date": date.today().isoformat(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    quiet = options.json
    url = f"{options.database_url}/{options.database}"
    log(f"creating and migrating {options.database} ...", quiet=quiet)
    asyncio.run(recreate_postgres_database(f"{options.database_url}/{options.database}"))
    migrations.upgrade(url)
    asyncio.run(seed(url))
    port = options.port or free_port()
    logs = Path(tempfile.mkdtemp(prefix="acehub-bench-save-"))
    log(f"starting the API (log: {logs / 'api.log'}) ...", quiet=quiet)
    with api_server(url, port, logs / "api.log") as pid:
        report = asyncio.run(run(options, url, port, pid))
    if options.json:
        print(json.dumps(report))
        return 0
    for mix, kinds in report["mixes"].items():
        assignees = int(mix.split("_")[0])
        rows = options.batch_tasks * (1 + assignees)
        print(
            f"POST /data/save  batches of {options.batch_tasks} tasks + "
            f"{options.batch_tasks * assignees} assignees ({rows} rows)"
        )
        for kind, result in kinds.items():
            print(
                f"  {kind:7} API {result['api_rows_per_second']:>9,} rows/s   ceiling (COPY + "
                f"upsert) {result['ceiling_rows_per_second']:>9,} rows/s   ratio "
                f"{result['ratio']:.3f} (best round {result['best_round_ratio']:.3f})"
            )
    print(f"  target: every ratio >= {RATIO_TARGET}")
    memory = report["memory"]
    print(
        f"  memory over {memory['rows']:,} rows in {memory['batches']} batches "
        f"({memory['rows_per_second']:,} rows/s):"
    )
    for point in memory["checkpoints_mib"]:
        print(
            f"    {point['stage']:>20} ({point['rows']:>9,} rows posted): "
            f"VmRSS {point['VmRSS']:7.1f} MiB   VmHWM {point['VmHWM']:7.1f} MiB"
        )
    print(
        f"  server peak (VmHWM) {memory['peak_before_bulk_mib']} MiB before the bulk run, "
        f"{memory['peak_after_bulk_mib']} MiB after it "
        f"(+{memory['peak_growth_over_bulk_mib']} MiB over {memory['rows']:,} rows)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
