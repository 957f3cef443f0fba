"""ACE sync speed: a whole-account sync of a large sandbox account into PostgreSQL, against two
ceilings made of bare httpx calls to the same sandbox.

    uv run python -m bench.sync_bench [--tasks 100000] [--rounds 2] [--json]

Ceilings:
- bare paging: a plain loop paging `gettasks` (tasks/s), the ceiling of the tasks phase alone
  (the sync's tasks phase rate against it: `ratio`, target >= 0.5);
- bare client: every ACE call the sync made, recorded on its HTTP client during the sync and
  replayed phase by phase with the same bodies (functions, filters, pages) and the same limit
  of two calls in flight, the answers read and thrown away (no parsing, no database). It is
  the ceiling of the whole mirror, and cannot drift from it: it is what the mirror asked for.
  The whole sync's ratio to it is `mirror_to_bare_client_ratio` (target >= 0.7).

Per phase: the calls made (by function), the seconds the sync and the bare client spent, the
rows mirrored and the CPU time this process spent per row (steadier than the rates on a busy
machine: the sandbox and PostgreSQL run in other processes). Rounds alternate a sync into a
fresh database with its replay; the best of each is kept. Then a second sync with nothing
changed upstream (target < 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from app.ace.client import AceClient
from app.ace.transport import create_http_client
from app.config import Settings
from app.connection import migrations
from app.connection.database import Database
from app.models import SyncState
from app.models.enums import SyncPhase
from app.models.sync_jobs import JobCounts
from app.runtime import settle_garbage_collector
from app.services import ace_identity, user_services
from app.services.sync import jobs, worker
from app.services.sync.account_sync import ACE_CONCURRENCY, SyncCredentials
from app.services.sync.jobs import RequestedKind
from bench.common import (
    bench_database_url,
    bench_settings,
    recreate_database,
    report,
    sandbox_process,
)

ACCOUNT = "bench"
PASSWORD = "demo-password"
PHASES = ("users", "projects", "tasks", "assignees", "time_entries")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def bare_paging_rate(url: str, page_size: int) -> tuple[float, int]:
    """Tasks per second a plain httpx loop pulls (login, then gettasks page by page)."""
    async with httpx.AsyncClient(timeout=60) as http:
        guid = await _login(http, url)
        rows = 0
        started = time.perf_counter()
        page = 1
        while True:
            answer = await http.post(
                url,
                data={
                    "fct": "gettasks",
                    "guid": guid,
                    "format": "iso8601",
                    "pagenumber": page,
                    "rowsperpage": page_size,
                    "sortorder": "TASK_ID",
                },
            )
            got = len(answer.json()["results"])
            rows += got
            if got < page_size:
                break
            page += 1
        elapsed = time.perf_counter() - started
    return rows / elapsed, rows


async def _login(http: httpx.AsyncClient, url: str) -> str:
    login = await http.post(
        url,
        data={
            "fct": "login",
            "accountid": ACCOUNT,
            "username": "admin",
            "password": PASSWORD,
            "format": "iso8601",
        },
    )
    return str(login.json()["results"][0]["GUID"])


@dataclass
class CallLog:
    """The body of every ACE call a sync sends, by the phase it is in (a request hook on the
    sync's HTTP client; the phase follows the job's progress reports)."""

    phase: str | None = None
    bodies: dict[str, list[bytes]] = field(default_factory=dict)

    async def on_request(self, request: httpx.Request) -> None:
        if self.phase is not None:
            self.bodies.setdefault(self.phase, []).append(request.read())

    def functions(self, phase: str) -> dict[str, int]:
        """Calls of `phase` per ACE function."""
        return dict(Counter(_fct(body) for body in self.bodies.get(phase, [])))


def _fct(body: bytes) -> str:
    return parse_qs(body.decode())["fct"][0]


async def bare_client_seconds(url: str, log: CallLog) -> dict[str, float]:
    """Seconds per phase to send the recorded calls again, in their order, at most
    `ACE_CONCURRENCY` in flight, reading each answer whole and dropping it."""
    seconds: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=60, headers=FORM) as http:
        for phase in PHASES:
            pending = iter(log.bodies.get(phase, []))

            async def send(pending: Any = pending) -> None:
                for body in pending:
                    answer = await http.post(url, content=body)
                    answer.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(send() for _ in range(ACE_CONCURRENCY)))
            seconds[phase] = time.perf_counter() - started
    return seconds


@dataclass
class SyncRun:
    """One sync job: its record, and the wall-clock and process CPU times at which each phase
    started (`start` and `end` mark the job)."""

    job: Any
    marks: dict[str, float]
    cpu: dict[str, float]

    @property
    def seconds(self) -> float:
        return self.marks["end"] - self.marks["start"]

    def phase_seconds(self, phase: str) -> float:
        return self.marks[_next(phase)] - self.marks[phase]

    def phase_cpu(self, phase: str) -> float:
        return self.cpu[_next(phase)] - self.cpu[phase]


def _next(phase: str) -> str:
    at = PHASES.index(phase)
    return PHASES[at + 1] if at + 1 < len(PHASES) else "end"


async def run_sync(settings: Settings, kind: RequestedKind, log: CallLog | None = None) -> SyncRun:
    """Run one sync job to its end; with `log`, its ACE calls are recorded there."""
    database = Database(settings)
    http = create_http_client(settings)
    ace = AceClient.from_settings(settings, http)
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}
    try:
        identity = await ace_identity.authenticate(ace, ACCOUNT, "admin", PASSWORD)
        async with database.session() as session, session.begin():
            user = await user_services.upsert_ace_user(session, identity)
            job = await jobs.request_job(
                session,
                database=database,
                settings=settings,
                account_id=ACCOUNT,
                requested_by=user.id,
                kind=kind,
            )
        if log is not None:
            http.event_hooks = {"request": [log.on_request], "response": []}

        async def progress(phase: SyncPhase, _: JobCounts) -> None:
            key = "end" if phase is SyncPhase.done else phase.value
            if key not in marks:
                marks[key] = time.perf_counter()
                cpu[key] = time.process_time()
            if log is not None:
                log.phase = None if phase is SyncPhase.done else phase.value

        marks["start"] = time.perf_counter()
        done = await worker.run_job(
            job.id,
            database=database,
            ace=ace,
            settings=settings,
            credentials=SyncCredentials(guid=identity.guid, is_admin=True),
            progress=progress,
        )
        marks.setdefault("end", time.perf_counter())
        return SyncRun(done, marks, cpu)
    finally:
        await http.aclose()
        await database.dispose()


@dataclass
class Round:
    """A full sync into a fresh database, its bare-client replay and the bare paging rate."""

    sync: SyncRun
    log: CallLog
    bare_client: dict[str, float]
    bare_paging: float

    @property
    def bare_client_seconds(self) -> float:
        return sum(self.bare_client.values())


async def one_round(url: str, settings: Settings) -> Round:
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    bare_paging, _ = await bare_paging_rate(settings.ace_api_url, settings.ace_page_size)
    log = CallLog()
    sync = await run_sync(settings, "full", log)
    assert sync.job.state is SyncState.succeeded, sync.job.errors
    bare_client = await bare_client_seconds(settings.ace_api_url, log)
    return Round(sync, log, bare_client, bare_paging)


def _rows(counts: JobCounts, phase: str) -> int:
    """Rows a phase mirrored (inserted, updated or found unchanged)."""
    entity = counts.get(phase)
    if entity is None:
        return 0
    return entity["inserted"] + entity["updated"] + entity["unchanged"]


def _phase_figures(best: Round, rounds: list[Round]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for phase in PHASES:
        rows = _rows(best.sync.job.counts, phase)
        figures[phase] = {
            "calls": best.log.functions(phase),
            "mirror_seconds": round(min(r.sync.phase_seconds(phase) for r in rounds), 2),
            "bare_client_seconds": round(min(r.bare_client[phase] for r in rounds), 2),
            "rows": rows,
            "cpu_us_per_row": round(
                min(r.sync.phase_cpu(phase) for r in rounds) / max(rows, 1) * 1e6, 1
            ),
        }
    return figures


def figures_of(rounds: list[Round], unchanged: SyncRun) -> dict[str, Any]:
    best = min(rounds, key=lambda r: r.sync.seconds)
    tasks = _rows(best.sync.job.counts, "tasks")
    bare_rate = max(r.bare_paging for r in rounds)
    task_rate = tasks / min(r.sync.phase_seconds("tasks") for r in rounds)
    mirror = best.sync.seconds
    ceiling = min(r.bare_client_seconds for r in rounds)
    return {
        "tasks": tasks,
        "rounds": len(rounds),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "bare_paging_tasks_per_s": round(bare_rate),
        "sync_tasks_phase_tasks_per_s": round(task_rate),
        "ratio": round(task_rate / bare_rate, 3),
        "target_ratio": 0.5,
        "sync_tasks_phase_cpu_us_per_task": round(
            min(r.sync.phase_cpu("tasks") for r in rounds) / tasks * 1e6, 1
        ),
        "sync_mirror_tasks_per_s": round(
            tasks / (best.sync.marks["time_entries"] - best.sync.marks["start"])
        ),
        "full_sync_seconds": round(mirror, 2),
        "bare_client_seconds": round(ceiling, 2),
        "mirror_to_bare_client_ratio": round(ceiling / mirror, 3),
        "target_mirror_to_bare_client_ratio": 0.7,
        "ace_calls": sum(len(bodies) for bodies in best.log.bodies.values()),
        "phases": _phase_figures(best, rounds),
        "rounds_seconds": [
            {"mirror": round(r.sync.seconds, 2), "bare_client": round(r.bare_client_seconds, 2)}
            for r in rounds
        ],
        "phase_seconds": {phase: round(best.sync.phase_seconds(phase), 2) for phase in PHASES},
        "unchanged_sync_seconds": round(unchanged.seconds, 2),
        "unchanged_phase_seconds": {
            phase: round(unchanged.phase_seconds(phase), 2) for phase in PHASES
        },
        "unchanged_counts": unchanged.job.counts,
        "target_unchanged_seconds": 2.0,
        "counts": best.sync.job.counts,
    }


async def main(tasks: int, rounds: int, as_json: bool) -> dict[str, Any]:
    url = bench_database_url("acehub_bench_sync")
    projects = max(10, tasks // 100)
    with sandbox_process(tasks=tasks, projects=projects, users=500, time_entries=tasks) as ace_url:
        settings = bench_settings(url, ace_url)
        settle_garbage_collector()  # as a server worker does at start-up (jobs run there)
        done = [await one_round(url, settings) for _ in range(rounds)]
        unchanged = await run_sync(settings, "incremental")
        assert unchanged.job.state is SyncState.succeeded, unchanged.job.errors
    figures = figures_of(done, unchanged)
    report("sync", figures, as_json=as_json)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.rounds, args.json))
