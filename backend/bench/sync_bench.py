"""ACE sync speed: a whole-account sync of a large sandbox account into PostgreSQL, against
the rate at which a bare httpx loop pages the same tasks out of the sandbox (the ceiling).

    uv run python -m bench.sync_bench [--tasks 100000] [--json]

Figures: the bare paging rate (tasks/s); the sync's tasks phase rate (tasks fetched, parsed
and upserted per second) and its ratio to the bare rate (target >= 0.5); the CPU time this
process spent per task in that phase (steadier than the rates on a busy machine: the sandbox
and PostgreSQL run in other processes); the rate over the whole mirror (users + projects +
tasks + assignees) for information; and the duration of a second sync with nothing changed
upstream (target < 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

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
from app.services.sync.account_sync import SyncCredentials
from app.services.sync.jobs import RequestedKind
from bench.common import bench_database_url, recreate_database, report, sandbox_process

ACCOUNT = "bench"
PASSWORD = "demo-password"


async def bare_paging_rate(url: str, page_size: int) -> tuple[float, int]:
    """Tasks per second a plain httpx loop pulls (login, then gettasks page by page)."""
    async with httpx.AsyncClient(timeout=60) as http:
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
        guid = login.json()["results"][0]["GUID"]
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


async def run_sync(
    settings: Settings, kind: RequestedKind
) -> tuple[Any, dict[str, float], dict[str, float]]:
    """The job, and the wall-clock and process CPU times at which each phase started."""
    database = Database(settings)
    http = create_http_client(settings)
    ace = AceClient.from_settings(settings, http)
    phase_started: dict[str, float] = {}
    phase_cpu: dict[str, float] = {}
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

        async def progress(phase: SyncPhase, _: JobCounts) -> None:
            phase_started.setdefault(phase, time.perf_counter())
            phase_cpu.setdefault(phase, time.process_time())

        started = time.perf_counter()
        done = await worker.run_job(
            job.id,
            database=database,
            ace=ace,
            settings=settings,
            credentials=SyncCredentials(guid=identity.guid, is_admin=True),
            progress=progress,
        )
        phase_started["end"] = time.perf_counter()
        phase_started["start"] = started
        return done, phase_started, phase_cpu
    finally:
        await http.aclose()
        await database.dispose()


async def main(tasks: int, as_json: bool) -> dict[str, Any]:
    url = bench_database_url("acehub_bench_sync")
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    projects = max(10, tasks // 100)
    with sandbox_process(tasks=tasks, projects=projects, users=500, time_entries=tasks) as ace_url:
        settings = Settings(
            _env_file=None,
            database_url=url,
            ace_api_url=ace_url,
            secret_key="b" * 48,
            app_env="test",
        )
        bare_rate, bare_rows = await bare_paging_rate(ace_url, settings.ace_page_size)
        settle_garbage_collector()  # as a server worker does at start-up (jobs run there)
        job, marks, cpu_marks = await run_sync(settings, "full")
        assert job.state is SyncState.succeeded, job.errors
        second, second_marks, _ = await run_sync(settings, "incremental")
        assert second.state is SyncState.succeeded, second.errors
    task_rate = tasks / (marks["assignees"] - marks["tasks"])
    mirror_rate = tasks / (marks["time_entries"] - marks["start"])
    phases = ("users", "projects", "tasks", "assignees", "time_entries", "end")
    figures = {
        "tasks": bare_rows,
        "bare_paging_tasks_per_s": round(bare_rate),
        "sync_tasks_phase_tasks_per_s": round(task_rate),
        "ratio": round(task_rate / bare_rate, 3),
        "target_ratio": 0.5,
        "sync_tasks_phase_cpu_us_per_task": round(
            (cpu_marks["assignees"] - cpu_marks["tasks"]) / tasks * 1e6, 1
        ),
        "sync_mirror_tasks_per_s": round(mirror_rate),
        "full_sync_seconds": round(marks["end"] - marks["start"], 2),
        "phase_seconds": {
            phase: round(marks[nxt] - marks[phase], 2) for phase, nxt in itertools.pairwise(phases)
        },
        "unchanged_sync_seconds": round(second_marks["end"] - second_marks["start"], 2),
        "unchanged_phase_seconds": {
            phase: round(second_marks[nxt] - second_marks[phase], 2)
            for phase, nxt in itertools.pairwise(phases)
        },
        "unchanged_counts": second.counts,
        "target_unchanged_seconds": 2.0,
        "counts": job.counts,
    }
    report("sync", figures, as_json=as_json)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.json))
