"""Reports over a large log table, their downloads, and time logs written back to ACE.

    uv run python -m bench.report_bench [--logs 1000000] [--json]

1. (Re)creates the PostgreSQL database ``acehub_bench_report``, migrates it and generates, in
   one account, ``--projects`` projects, ``--tasks`` tasks (one assignee each), ``--users``
   users and ``--logs`` time logs spread over two years, with ``INSERT .. SELECT`` from
   ``generate_series`` inside PostgreSQL; then ``VACUUM ANALYZE``. Each task has its logs on
   distinct days, so a ``group=task&sub_group=day`` report has one row per log.
2. Starts the ACE sandbox (its demo data) in a process of its own and the API with the
   production server command (``acehub serve``, one worker) with ``ACE_WRITE_BACK=true``;
   signs a local manager and a local member in through ``POST /auth/login``.
3. Time report: ``GET /reports/time?group=project&sub_group=month`` over the two years,
   sequentially after warm-ups, as the manager (every log) and as the member (their own).
   The ceiling: the grouped statement the report service builds, compiled for asyncpg and run
   bare on one connection (target: manager p95 < 300 ms).
4. Downloads: ``format=csv`` and ``format=xlsx`` of ``group=task&sub_group=day``, for a tenth of
   the logs and for all of them: rows/s while streaming, and the server's resident memory
   (VmRSS sampled every 20 ms during the download; VmHWM after).
5. Write-back: the demo account mirrored by its admin, then ``--writes`` time logs of the demo
   user ``alice`` (signed in through ``POST /user/login``) posted one after the other; the ACE
   share is the same ``saveworkitem`` call made directly with the project's ``AceClient``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from app.ace.client import AceClient
from app.ace.transport import create_http_client
from app.auth.caller import Caller
from app.auth.security import hash_password
from app.config import Settings
from app.connection import migrations
from app.dto.report_dto import TimeReportQuery
from app.models import RoleEnum
from app.services import ace_identity
from app.services.reports import time_report
from app.services.task_log_service import week_start_of
from bench.common import (
    bench_database_url,
    bench_settings,
    free_port,
    recreate_database,
    report,
    sandbox_process,
)
from bench.save_bench import api_server, memory_mib

ACCOUNT = "bench-report"
MANAGER = "bench-manager"
MEMBER = "bench-member"
PASSWORD = "bench-password-0123456789"
DEMO_PASSWORD = "demo-password"
START = date(2024, 11, 1)
SPAN_DAYS = 730
TIME_PATH = "/reports/time"
DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def log(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values` (ms), rounded to 0.1 ms."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 1)


def latency(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(values, 0.5),
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
        "mean_ms": round(statistics.fmean(values), 1),
    }


# --- data ------------------------------------------------------------------------------------


class Shape:
    """Where the generated logs fall: log n is on task n % tasks, its k-th (k = n // tasks)
    on day k * step + (task % step) of the span, so no task has two logs on one day."""

    def __init__(self, logs: int, tasks: int) -> None:
        self.logs, self.tasks = logs, tasks
        self.per_task = -(-logs // tasks)
        self.step = SPAN_DAYS // self.per_task
        if self.step < 1:
            raise ValueError("more logs per task than days in the span")

    @property
    def date_to(self) -> date:
        return START + timedelta(days=SPAN_DAYS - 1)

    def tenth(self) -> tuple[date, int]:
        """The last day of the range holding the first tenth of the logs, and their count."""
        rounds = max(1, self.per_task // 10)
        last = START + timedelta(days=rounds * self.step - 1)
        return last, min(self.logs, rounds * self.tasks)


async def seed(url: str, options: argparse.Namespace, shape: Shape, *, quiet: bool) -> None:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        secret = hash_password(PASSWORD)
        await conn.execute(
            "INSERT INTO projects (account_id, ace_project_id, name)"
            " SELECT $1, g, 'Project ' || g FROM generate_series(1, $2::int) g",
            ACCOUNT,
            options.projects,
        )
        # User 1 is the member who signs in (local); the others are mirrored ACE users.
        await conn.execute(
            "INSERT INTO users (guid, account_id, ace_user_id, username, first_name, last_name,"
            " role, auth_source, password_hash)"
            " SELECT gen_random_uuid(), $1, CASE WHEN g = 1 THEN NULL ELSE g END,"
            " CASE WHEN g = 1 THEN $3 ELSE 'user' || g END, 'First' || g, 'Last' || g,"
            " 'member', CASE WHEN g = 1 THEN 'local' ELSE 'ace' END,"
            " CASE WHEN g = 1 THEN $4 END"
            " FROM generate_series(1, $2::int) g ORDER BY g",
            ACCOUNT,
            options.users,
            MEMBER,
            secret,
        )
        await conn.execute(
            "INSERT INTO users (guid, account_id, username, role, auth_source, password_hash)"
            " VALUES (gen_random_uuid(), $1, $2, 'manager', 'local', $3)",
            ACCOUNT,
            MANAGER,
            secret,
        )
        await conn.execute(
            "INSERT INTO tasks (account_id, ace_task_id, project_id, number, title, status,"
            " status_type, estimated_hours)"
            " SELECT $1, g, p.id, 'T-' || g, 'Task ' || g || ': build step', 'In progress',"
            " 'in_progress', (g % 40 + 1)::float8"
            " FROM generate_series(1, $2::int) g"
            " JOIN projects p ON p.account_id = $1 AND p.ace_project_id = g % $3::int + 1"
            " ORDER BY g",
            ACCOUNT,
            options.tasks,
            options.projects,
        )
        first_task = await conn.fetchval("SELECT min(id) FROM tasks WHERE account_id = $1", ACCOUNT)
        first_user = await conn.fetchval(
            "SELECT min(id) FROM users WHERE account_id = $1 AND role = 'member'", ACCOUNT
        )
        await conn.execute(
            "INSERT INTO task_assignees (task_id, user_id, is_assignee, is_reviewer,"
            " assigned_hours)"
            " SELECT $1::bigint + g, $2::bigint + (g * 7) % $3::int, true, false, 8"
            " FROM generate_series(0, $4::int - 1) g",
            first_task,
            first_user,
            options.users,
            options.tasks,
        )
        chunk = 250_000
        started = time.perf_counter()
        for low in range(0, shape.logs, chunk):
            high = min(shape.logs, low + chunk) - 1
            await conn.execute(
                "INSERT INTO task_logs (account_id, task_id, user_id, kind, date_worked, hours,"
                " source)"
                " SELECT $1, $2::bigint + n % $4::int,"
                " $3::bigint + (n * 37 + n / $4::int) % $5::int, 'time',"
                " $6::date + ((n / $4::int) * $7::int + (n % $4::int) % $7::int),"
                " 0.25 * (1 + n % 16), CASE WHEN n % 2 = 0 THEN 'local' ELSE 'ace' END"
                " FROM generate_series($8::int, $9::int) n",
                ACCOUNT,
                first_task,
                first_user,
                shape.tasks,
                options.users,
                START,
                shape.step,
                low,
                high,
            )
            log(f"  {high + 1:,} logs ({time.perf_counter() - started:.0f} s)", quiet=quiet)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# --- the time report -------------------------------------------------------------------------


def report_params(shape: Shape, **extra: str) -> dict[str, str]:
    return {
        "group": "project",
        "sub_group": "month",
        "date_from": START.isoformat(),
        "date_to": shape.date_to.isoformat(),
        **extra,
    }


async def api_latency(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str], options: Any
) -> tuple[dict[str, float], int]:
    """Sequential requests after warm-ups: latency figures and the entries of the last one."""
    entries = 0
    for _ in range(options.warmups):
        (await client.get(TIME_PATH, params=params, headers=headers)).raise_for_status()
    times: list[float] = []
    for _ in range(options.requests):
        started = time.perf_counter()
        response = await client.get(TIME_PATH, params=params, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        entries = int(response.json()["data"]["entries"])
    return latency(times), entries


def compiled(statement: Any) -> tuple[str, list[Any]]:
    """The statement as asyncpg runs it: SQL text and positional arguments."""
    done = cast(SQLCompiler, statement.compile(dialect=DIALECT))
    state = done.construct_expanded_state({})
    assert state.positiontup is not None
    return state.statement, [state.parameters[name] for name in state.positiontup]


async def ceiling_latency(
    url: str, caller: Caller, query: TimeReportQuery, settings: Settings, options: Any
) -> tuple[dict[str, float], int]:
    """The grouped statement the report service builds, run bare through asyncpg."""
    sql, args = compiled(time_report.time_statement(caller, query, settings).statement)
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        # Planned for its values each time, as acehub runs report statements (a prepared
        # statement's generic plan, after five runs, loses the parallel aggregate).
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        statement = await conn.prepare(sql)
        for _ in range(options.warmups):
            await statement.fetch(*args)
        times: list[float] = []
        entries = 0
        for _ in range(options.requests):
            started = time.perf_counter()
            rows = await statement.fetch(*args)
            times.append((time.perf_counter() - started) * 1000)
            entries = sum(int(row["entries"]) for row in rows)
    finally:
        await conn.close()
    return latency(times), entries


async def caller_of(url: str, username: str) -> Caller:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        row = await conn.fetchrow(
            "SELECT id, role FROM users WHERE account_id = $1 AND username = $2", ACCOUNT, username
        )
    finally:
        await conn.close()
    assert row is not None
    return Caller(int(row["id"]), ACCOUNT, RoleEnum(row["role"]), True, False)


# --- downloads -------------------------------------------------------------------------------


@contextmanager
def rss_sampler(pid: int) -> Iterator[dict[str, float]]:
    """The highest VmRSS (MiB) of `pid` seen every 20 ms while the block runs."""
    figures = {"start_mib": memory_mib(pid)["VmRSS"], "peak_mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            figures["peak_mib"] = max(figures["peak_mib"], memory_mib(pid)["VmRSS"])
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()
        figures["peak_mib"] = max(figures["peak_mib"], memory_mib(pid)["VmRSS"])


class CsvRows:
    """Counts CSV lines as the bytes arrive (the header and the totals row included)."""

    def __init__(self) -> None:
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\r\n")


def xlsx_rows(path: Path) -> int:
    """`<row ` elements of the sheet, read in pieces from the zip (the file is not loaded)."""
    count, tail = 0, b""
    with zipfile.ZipFile(path) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet:
        while piece := sheet.read(1 << 20):
            data = tail + piece
            count += data.count(b"<row ")
            tail = data[-4:]  # shorter than a match: a split one is counted once, whole
    return count


async def download(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, str],
    pid: int,
    work: Path,
) -> dict[str, Any]:
    file_format = params["format"]
    counter = CsvRows()
    target = work / f"export.{file_format}"
    size = 0
    with rss_sampler(pid) as rss, target.open("wb") as sink:
        started = time.perf_counter()
        async with client.stream("GET", TIME_PATH, params=params, headers=headers) as response:
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if file_format == "csv":
                    counter.feed(chunk)
                else:
                    sink.write(chunk)
        elapsed = time.perf_counter() - started
    # Header and totals rows are not log rows.
    rows = counter.lines - 2 if file_format == "csv" else xlsx_rows(target) - 2
    target.unlink()
    return {
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "bytes": size,
        "rss_start_mib": rss["start_mib"],
        "rss_peak_mib": rss["peak_mib"],
        "hwm_after_mib": memory_mib(pid)["VmHWM"],
    }


# --- write-back ------------------------------------------------------------------------------


async def wait_for_sync(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    started = await client.post("/sync/jobs", json={"kind": "full"}, headers=headers)
    if started.status_code != 202:
        raise RuntimeError(f"POST /sync/jobs answered {started.status_code}: {started.text}")
    job_id = started.json()["data"]["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = (await client.get(f"/sync/jobs/{job_id}", headers=headers)).json()["data"]
        if job["state"] == "succeeded":
            return
        if job["state"] not in ("queued", "running"):
            raise RuntimeError(f"the demo sync ended {job['state']}: {job}")
        await asyncio.sleep(0.2)
    raise RuntimeError("the demo sync did not finish")


async def demo_task(url: str, username: str) -> tuple[int, int, int]:
    """A task `username` is assigned to: acehub id, ACE task id, ACE project id."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        row = await conn.fetchrow(
            "SELECT t.id, t.ace_task_id, p.ace_project_id FROM tasks t"
            " JOIN projects p ON p.id = t.project_id"
            " JOIN task_assignees a ON a.task_id = t.id JOIN users u ON u.id = a.user_id"
            " WHERE u.account_id = 'demo' AND u.username = $1 AND a.is_assignee"
            " ORDER BY t.id LIMIT 1",
            username,
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["id"]), int(row["ace_task_id"]), int(row["ace_project_id"])


def writes_days(count: int) -> Callable[[int], date]:
    """Past days, two logs a day at most (far from the 24-hour daily limit)."""
    today = date.today()
    return lambda i: today - timedelta(days=1 + i % max(1, count // 2))


async def write_back(
    client: httpx.AsyncClient, url: str, ace_url: str, options: Any
) -> dict[str, Any]:
    admin = await sign_in(client, "/user/login", "demo", "admin", DEMO_PASSWORD)
    await wait_for_sync(client, admin)
    alice = await sign_in(client, "/user/login", "demo", "alice", DEMO_PASSWORD)
    task_id, ace_task_id, ace_project_id = await demo_task(url, "alice")
    day_of = writes_days(options.writes)

    async def post(i: int) -> float:
        body = {"kind": "time", "date_worked": day_of(i).isoformat(), "hours": 0.25}
        started = time.perf_counter()
        response = await client.post(f"/tasks/{task_id}/logs", json=body, headers=alice)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201 or response.json()["data"]["source"] != "ace":
            raise RuntimeError(
                f"POST /tasks/{task_id}/logs: {response.status_code} {response.text}"
            )
        return elapsed

    warm = 3
    for i in range(warm):
        await post(i)
    endpoint = [await post(warm + i) for i in range(options.writes)]

    # The same saveworkitem, straight from the project's ACE client (its own session).
    settings = bench_settings(url, ace_url)
    http = create_http_client(settings)
    try:
        ace = AceClient.from_settings(settings, http)
        identity = await ace_identity.authenticate(ace, "demo", "alice", DEMO_PASSWORD)

        async def save(i: int) -> float:
            day = day_of(i)
            week = week_start_of(day)
            hours = [0.25 if week + timedelta(days=d) == day else 0.0 for d in range(7)]
            started = time.perf_counter()
            await ace.save_work_item(
                identity.guid,
                week_start=week,
                hours=hours,
                task_id=ace_task_id,
                project_id=ace_project_id,
            )
            return (time.perf_counter() - started) * 1000

        for i in range(warm):
            await save(i)
        direct = [await save(warm + i) for i in range(options.writes)]
    finally:
        await http.aclose()
    api_figures, ace_figures = latency(endpoint), latency(direct)
    return {
        "writes": options.writes,
        "endpoint": api_figures,
        "ace_saveworkitem": ace_figures,
        "ace_share_of_p50": round(ace_figures["p50_ms"] / api_figures["p50_ms"], 3),
    }


# --- the run ---------------------------------------------------------------------------------


async def sign_in(
    client: httpx.AsyncClient, path: str, account: str, username: str, password: str
) -> dict[str, str]:
    response = await client.post(
        path, json={"account_id": account, "username": username, "password": password}
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST {path} as {username}: {response.status_code} {response.text}")
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


async def run(
    options: argparse.Namespace, url: str, ace_url: str, port: int, pid: int, shape: Shape
) -> dict[str, Any]:
    quiet = options.json
    settings = bench_settings(url)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        manager = await sign_in(client, "/auth/login", ACCOUNT, MANAGER, PASSWORD)
        member = await sign_in(client, "/auth/login", ACCOUNT, MEMBER, PASSWORD)
        params = report_params(shape)
        query = TimeReportQuery.model_validate(params)

        log("time report ...", quiet=quiet)
        manager_api, manager_entries = await api_latency(client, manager, params, options)
        member_api, member_entries = await api_latency(client, member, params, options)
        boss, own = await caller_of(url, MANAGER), await caller_of(url, MEMBER)
        manager_sql, sql_entries = await ceiling_latency(url, boss, query, settings, options)
        member_sql, member_sql_entries = await ceiling_latency(url, own, query, settings, options)
        if (manager_entries, member_entries) != (sql_entries, member_sql_entries):
            raise RuntimeError("the API and the bare SQL counted different entries")
        if manager_entries != shape.logs:
            raise RuntimeError(f"the report counted {manager_entries} of {shape.logs} logs")
        log(f"  manager {manager_api}, bare SQL {manager_sql}", quiet=quiet)

        log("downloads ...", quiet=quiet)
        last_small, small_rows = shape.tenth()
        exports: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="acehub-bench-report-") as scratch:
            work = Path(scratch)
            for file_format in ("csv", "xlsx"):
                for label, date_to, rows in (
                    ("tenth", last_small, small_rows),
                    ("all", shape.date_to, shape.logs),
                ):
                    per_log = report_params(
                        shape, group="task", sub_group="day", format=file_format
                    ) | {"date_to": date_to.isoformat()}
                    figures = await download(client, manager, per_log, pid, work)
                    if figures["rows"] != rows:
                        raise RuntimeError(
                            f"{file_format} {label}: {figures['rows']} rows, not {rows}"
                        )
                    exports[f"{file_format}_{label}"] = figures
                    log(f"  {file_format} {label}: {figures}", quiet=quiet)

        log("write-back ...", quiet=quiet)
        writes = await write_back(client, url, ace_url, options)
        log(f"  {writes}", quiet=quiet)

    return {
        "logs": shape.logs,
        "tasks": shape.tasks,
        "users": options.users,
        "projects": options.projects,
        "member_logs": member_entries,
        "requests": options.requests,
        "time_report": {
            "manager": manager_api,
            "member": member_api,
            "manager_sql": manager_sql,
            "member_sql": member_sql,
            "manager_ratio_p95": round(manager_api["p95_ms"] / manager_sql["p95_ms"], 2),
            "member_ratio_p95": round(member_api["p95_ms"] / member_sql["p95_ms"], 2),
            "target_manager_p95_ms": 300,
            "passed": manager_api["p95_ms"] < 300,
        },
        "exports": exports,
        "write_back": writes,
        "date": date.today().isoformat(),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", default="acehub_bench_report")
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--requests", type=int, default=50, help="timed report requests")
    parser.add_argument("--warmups", type=int, default=5)
    parser.add_argument("--writes", type=int, default=200, help="timed write-back posts")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def main() -> None:
    options = parse_args()
    quiet = options.json
    shape = Shape(options.logs, options.tasks)
    url = bench_database_url(options.database)
    started = time.perf_counter()
    log(f"creating, migrating and filling {options.database} ...", quiet=quiet)
    asyncio.run(recreate_database(url))
    migrations.upgrade(url)
    asyncio.run(seed(url, options, shape, quiet=quiet))
    load_seconds = time.perf_counter() - started
    with sandbox_process(tasks=0, projects=0, users=0, time_entries=0) as ace_url:
        # The API process inherits these (acehub serve reads its settings from the environment).
        os.environ.update(
            {"ACE_API_URL": ace_url, "ACE_WRITE_BACK": "true", "SYNC_INTERVAL_MINUTES": "0"}
        )
        port = free_port()
        logs = Path(tempfile.mkdtemp(prefix="acehub-bench-report-api-"))
        with api_server(url, port, logs / "api.log") as pid:
            figures = asyncio.run(run(options, url, ace_url, port, pid, shape))
    figures["load_seconds"] = round(load_seconds, 1)
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    report("report", figures, as_json=options.json)


if __name__ == "__main__":
    main()
