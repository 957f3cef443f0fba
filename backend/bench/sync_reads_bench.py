"""How `GET /tasks/{user_id}` answers while a whole-account sync runs in a job worker, against
the same reads with no sync running, in the same run.

1. (Re)creates a PostgreSQL database (default ``acehub_bench_sync_reads`` on 127.0.0.1:5432
   as ``postgres``) and migrates it (``acehub migrate``).
2. Starts the ACE sandbox in a process of its own with a ``bench`` account of ``--tasks``
   tasks (default 100,000; projects a hundredth of that, 500 users, as many time entries as
   tasks), the API (``acehub serve --workers 1``) and one job worker (``acehub worker``),
   both with ``SYNC_RUNNER=queue`` and ``SYNC_INTERVAL_MINUTES=0``.
3. Signs the account's ACE admin in (``POST /user/login``) and mirrors the account once
   (``POST /sync/jobs``, polled until it succeeded), so there are tasks to read, then runs
   ``VACUUM ANALYZE`` (no autovacuum of the fresh rows inside a measured window).
4. Idle: ``--requests`` reads (default 2,000) of ``GET /tasks/{user_id}?limit=50`` for a
   random mirrored user each, as the admin, over ``--connections`` keep-alive connections
   (default 8; a closed loop: each sends its next request when the answer is in), after
   ``--warmup`` reads.
5. The sync alone: one ``full`` sync with no reads, for its duration.
6. During: the same read load while ``full`` syncs run in the worker, one after the other
   until ``--requests`` reads fell inside a sync (at most ``--max-syncs``). Only the reads
   sent after a sync's ``started_at`` and answered before its ``finished_at`` count.
7. Prints p50/p90/p99 of both, the ratio p99 during / p99 idle, the syncs' durations, and
   the CPU the API process, the job worker and the database's backends used in each window
   (``/proc/<pid>/stat``), or with ``--json`` one JSON line.

    uv run python -m bench.sync_reads_bench                 # 100,000 tasks
    uv run python -m bench.sync_reads_bench --tasks 10000 --json

The reads use a minimal HTTP/1.1 client (request bytes built once, responses read by
Content-Length) so the load generator takes little of the CPU the API, the worker, the
sandbox and PostgreSQL share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from app.connection.migrations import recreate_postgres_database
from bench.common import free_port, sandbox_process
from bench.save_bench import SECRET, api_server
from bench.tasks_read_bench import process_cpu_seconds

BACKEND = Path(__file__).resolve().parents[1]
ACCOUNT = "bench"
ADMIN = "admin"
PASSWORD = "demo-password"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="acehub_bench_sync_reads")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--requests", type=int, default=2_000, help="reads measured idle, and at least as many "
    )
    parser.add_argument("--warmup", type=int, default=300, help="reads before measuring")
    parser.add_argument("--max-syncs", type=int, default=10, help="syncs run under the reads")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def log(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# --- processes -------------------------------------------------------------------------------


@contextmanager
def job_worker(env: dict[str, str], log_path: Path) -> Iterator[int]:
    """One `acehub worker` in a session of its own; yields its pid (its process group)."""
    acehub = str(Path(sys.executable).with_name("acehub"))
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [acehub, "worker", "--name", "bench"],
            cwd=BACKEND,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            time.sleep(1)
            if process.poll() is not None:
                raise RuntimeError(f"the job worker exited; see {log_path}")
            yield process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class CpuMeter:
    """CPU seconds of the API's and the worker's process groups and of the database's
    backends, summed over the windows between `start` and `stop`."""

    api_group: int
    worker_group: int
    database: str
    seconds: float = 0.0
    api: float = 0.0
    worker: float = 0.0
    postgres: float = 0.0
    _marks: tuple[float, float, float, float] | None = None

    def _read(self) -> tuple[float, float, float, float]:
        return (
            time.perf_counter(),
            process_cpu_seconds(group=self.api_group),
            process_cpu_seconds(group=self.worker_group),
            process_cpu_seconds(database=self.database),
        )

    def start(self) -> None:
        self._marks = self._read()

    def stop(self) -> None:
        if self._marks is None:
            return
        now = self._read()
        self.seconds += now[0] - self._marks[0]
        self.api += now[1] - self._marks[1]
        self.worker += now[2] - self._marks[2]
        self.postgres += now[3] - self._marks[3]
        self._marks = None

    def figures(self, requests: int) -> dict[str, float]:
        wall = max(self.seconds, 1e-9)
        return {
            "api_cpu_cores": round(self.api / wall, 3),
            "api_cpu_ms_per_request": round(self.api * 1000 / max(requests, 1), 3),
            "worker_cpu_cores": round(self.worker / wall, 3),
            "database_cpu_cores": round(self.postgres / wall, 3),
        }


# --- the read load ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    sent: float  # wall clock (time.time()), comparable with the job's timestamps
    seconds: float
    status: int

    @property
    def answered(self) -> float:
        return self.sent + self.seconds


class Connection:
    """One keep-alive HTTP/1.1 connection to the API sending `GET /tasks/{id}?limit=50`."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, user_id: int) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(
            f"GET /tasks/{user_id}?limit=50 HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: application/json\r\n\r\n".encode()
        )
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        length = head.find(b"\r\ncontent-length:")
        if length < 0:
            raise RuntimeError(f"an answer without Content-Length: {head!r}")
        size = int(head[length + 17 : head.index(b"\r\n", length + 2)])
        await reader.readexactly(size)
        if b"\r\nconnection: close" in head:
            await self.close()
        return status

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            await writer.wait_closed()


@dataclass
class ReadLoad:
    port: int
    token: str
    user_ids: list[int]
    connections: int
    samples: list[Sample] = field(default_factory=list)

    async def run(self, *, requests: int | None = None, stop: asyncio.Event | None = None) -> None:
        """Reads until `requests` were answered (all connections together) or `stop` is set."""
        rng = random.Random(len(self.samples))
        sent = 0

        async def one_connection() -> None:
            nonlocal sent
            connection = Connection(self.port, self.token)
            try:
                while (requests is None or sent < requests) and not (stop and stop.is_set()):
                    sent += 1
                    user_id = rng.choice(self.user_ids)
                    wall, started = time.time(), time.perf_counter()
                    status = await connection.get(user_id)
                    self.samples.append(Sample(wall, time.perf_counter() - started, status))
            finally:
                await connection.close()

        await asyncio.gather(*(one_connection() for _ in range(self.connections)))


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_figures(samples: list[Sample], seconds: float) -> dict[str, Any]:
    values = sorted(sample.seconds * 1000 for sample in samples)
    if not values:
        raise RuntimeError("no reads were measured")
    return {
        "requests": len(values),
        "requests_per_second": round(len(values) / seconds, 1),
        "p50_ms": round(percentile(values, 0.50), 2),
        "p90_ms": round(percentile(values, 0.90), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(values[-1], 2),
        "non_2xx": sum(1 for sample in samples if not 200 <= sample.status < 300),
    }


# --- sync jobs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinishedJob:
    state: str
    started_at: datetime
    finished_at: datetime
    counts: dict[str, Any]
    errors: list[Any]

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


async def start_sync(client: httpx.AsyncClient) -> str:
    answer = await client.post("/sync/jobs", json={"kind": "full"})
    if answer.status_code != 202:
        raise RuntimeError(f"POST /sync/jobs answered {answer.status_code}: {answer.text}")
    job_id: str = answer.json()["data"]["id"]
    return job_id


async def wait_for_job(
    db: asyncpg.Connection,
    job_id: str,
    *,
    meter: CpuMeter | None = None,
    limit_seconds: float = 1800,
) -> FinishedJob:
    """Polls the job's row (not the API, which is being measured) until it has finished;
    `meter` runs while the job is seen running."""
    deadline = time.monotonic() + limit_seconds
    running = False
    while time.monotonic() < deadline:
        row = await db.fetchrow(
            "SELECT state, started_at, finished_at, counts, errors FROM sync_jobs WHERE id = $1",
            uuid.UUID(job_id),
        )
        if row is None:
            raise RuntimeError(f"no sync job {job_id}")
        state = str(row["state"])
        if state == "running" and not running and meter is not None:
            running = True
            meter.start()
        if state in ("succeeded", "failed"):
            if meter is not None:
                meter.stop()
            counts, errors = row["counts"], row["errors"]
            return FinishedJob(
                state=state,
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                counts=json.loads(counts) if isinstance(counts, str) else counts,
                errors=json.loads(errors) if isinstance(errors, str) else errors,
            )
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the sync {job_id} did not finish within {limit_seconds:.0f} s")


def succeeded(job: FinishedJob) -> FinishedJob:
    if job.state != "succeeded":
        raise RuntimeError(f"the sync ended {job.state}: {job.errors}")
    return job


# --- the run ---------------------------------------------------------------------------------


async def run(
    options: argparse.Namespace, url: str, port: int, api_pid: int, worker_pid: int
) -> dict[str, Any]:
    quiet = options.json
    db = await asyncpg.connect(url)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        try:
            login = await client.post(
                "/user/login",
                json={"account_id": ACCOUNT, "username": ADMIN, "password": PASSWORD},
            )
            login.raise_for_status()
            token = login.json()["data"]["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"

            log("mirroring the account ...", quiet=quiet)
            mirror = succeeded(await wait_for_job(db, await start_sync(client)))
            log(f"mirrored in {mirror.seconds:.1f} s", quiet=quiet)
            # Settled tables: no autovacuum of the freshly mirrored rows inside a window.
            await db.execute("VACUUM ANALYZE")
            user_ids = [
                int(row["user_id"])
                for row in await db.fetch(
                    "SELECT DISTINCT a.user_id FROM task_assignees a"
                    " JOIN users u ON u.id = a.user_id WHERE u.account_id = $1",
                    ACCOUNT,
                )
            ]
            mirrored_tasks = await db.fetchval(
                "SELECT count(*) FROM tasks WHERE account_id = $1 AND deleted_at IS NULL",
                ACCOUNT,
            )
            if not user_ids:
                raise RuntimeError("the mirror has no assigned tasks to read")
            probe = await client.get(f"/tasks/{user_ids[0]}?limit=50")
            probe.raise_for_status()
            if not probe.json()["data"]["items"]:
                raise RuntimeError(f"user {user_ids[0]} has no tasks to read")

            load = ReadLoad(port, token, user_ids, options.connections)
            await load.run(requests=options.warmup)

            log(f"reads with no sync ({options.requests} requests) ...", quiet=quiet)
            idle_meter = CpuMeter(api_pid, worker_pid, options.database)
            load.samples = []
            idle_meter.start()
            started = time.perf_counter()
            await load.run(requests=options.requests)
            idle_seconds = time.perf_counter() - started
            idle_meter.stop()
            idle = {
                **latency_figures(load.samples, idle_seconds),
                **idle_meter.figures(len(load.samples)),
            }
            log(f"idle: {idle}", quiet=quiet)

            log("a full sync with no reads ...", quiet=quiet)
            alone = succeeded(await wait_for_job(db, await start_sync(client)))
            log(f"the sync alone took {alone.seconds:.1f} s", quiet=quiet)

            log("reads while full syncs run in the worker ...", quiet=quiet)
            load.samples = []
            stop = asyncio.Event()
            reading = asyncio.create_task(load.run(stop=stop))
            during_meter = CpuMeter(api_pid, worker_pid, options.database)
            syncs: list[FinishedJob] = []
            inside: list[Sample] = []
            try:
                while len(inside) < options.requests and len(syncs) < options.max_syncs:
                    job = succeeded(
                        await wait_for_job(db, await start_sync(client), meter=during_meter)
                    )
                    syncs.append(job)
                    first, last = job.started_at.timestamp(), job.finished_at.timestamp()
                    inside.extend(s for s in load.samples if s.sent >= first and s.answered <= last)
                    load.samples = [s for s in load.samples if s.answered > last]
                    log(
                        f"sync {len(syncs)}: {job.seconds:.1f} s, {len(inside)} reads inside "
                        "the syncs so far",
                        quiet=quiet,
                    )
            finally:
                stop.set()
                await reading
        finally:
            await db.close()
    sync_seconds = sum(job.seconds for job in syncs)
    during = {
        **latency_figures(inside, sync_seconds),
        **during_meter.figures(len(inside)),
        "syncs": len(syncs),
    }
    log(f"during: {during}", quiet=quiet)
    mean_sync = sync_seconds / len(syncs)
    return {
        "benchmark": "sync_reads",
        "tasks": int(mirrored_tasks),
        "idle": idle,
        "during": during,
        "ratio_p99": round(during["p99_ms"] / idle["p99_ms"], 3),
        "ratio_p50": round(during["p50_ms"] / idle["p50_ms"], 3),
        "mirror_seconds": round(mirror.seconds, 2),
        "mirror_counts": mirror.counts,
        "sync_alone_seconds": round(alone.seconds, 2),
        "sync_during_reads_seconds": [round(job.seconds, 2) for job in syncs],
        "sync_during_reads_mean_seconds": round(mean_sync, 2),
        "sync_slowdown": round(mean_sync / alone.seconds, 3),
        "full_sync_counts": syncs[-1].counts,
        "passed": during["non_2xx"] == 0 and idle["non_2xx"] == 0,
        "options": {
            "sandbox_tasks": options.tasks,
            "read_users": len(user_ids),
            "connections": options.connections,
            "requests": options.requests,
            "warmup": options.warmup,
            "page_size": 50,
            "server": "acehub serve --workers 1 (SYNC_RUNNER=queue) + one acehub worker",
            "cpus": os.cpu_count(),
            "date": date.today().isoformat(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    quiet = options.json
    url = f"{options.database_url}/{options.database}"
    log(f"creating and migrating {options.database} ...", quiet=quiet)
    asyncio.run(recreate_postgres_database(url))
    acehub = str(Path(sys.executable).with_name("acehub"))
    migrated = subprocess.run(
        [acehub, "migrate"],
        cwd=BACKEND,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"acehub migrate failed:\n{migrated.stderr[-3000:]}")
    projects = max(10, options.tasks // 100)
    logs = Path(tempfile.mkdtemp(prefix="acehub-bench-sync-reads-"))
    log(
        f"starting the sandbox ({options.tasks:,} tasks), API and worker (logs: {logs}) ...",
        quiet=quiet,
    )
    with sandbox_process(
        tasks=options.tasks, projects=projects, users=500, time_entries=options.tasks
    ) as ace_url:
        # The API process inherits these (acehub serve reads its settings from the environment).
        os.environ.update({"ACE_API_URL": ace_url, "SYNC_INTERVAL_MINUTES": "0"})
        worker_env = {
            **os.environ,
            "APP_ENV": "production",
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "LOG_FORMAT": "json",
            "SYNC_RUNNER": "queue",
        }
        port = free_port()
        with (
            api_server(url, port, logs / "api.log", sync_runner="queue") as api_pid,
            job_worker(worker_env, logs / "worker.log") as worker_pid,
        ):
            figures = uvloop.run(run(options, url, port, api_pid, worker_pid))
    if options.json:
        print(json.dumps(figures))
        return 0
    print(
        f"GET /tasks/{{user_id}}?limit=50 at {options.connections} connections, "
        f"{figures['tasks']:,} tasks mirrored"
    )
    for name in ("idle", "during"):
        f = figures[name]
        print(
            f"  {name:7} {f['requests']:>6} reads {f['requests_per_second']:>7.1f} req/s  "
            f"p50 {f['p50_ms']:7.2f} ms  p90 {f['p90_ms']:7.2f} ms  p99 {f['p99_ms']:7.2f} ms  "
            f"API {f['api_cpu_cores']:.2f} cores ({f['api_cpu_ms_per_request']:.2f} ms/req), "
            f"worker {f['worker_cpu_cores']:.2f}, PostgreSQL {f['database_cpu_cores']:.2f}"
        )
    print(f"  p99 during / idle {figures['ratio_p99']:.2f}, p50 {figures['ratio_p50']:.2f}")
    print(
        f"  full sync: {figures['sync_alone_seconds']} s alone, "
        f"{figures['sync_during_reads_seconds']} s under the reads"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
