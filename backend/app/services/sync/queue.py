"""Sync jobs on the job queue (procrastinate, on PostgreSQL): the API queues, `acehub worker`
processes run them.

- `QueueStarter` defers one queue job per sync job (its id), with the account as both the
  queueing lock (at most one waiting) and the lock (at most one running), whatever the number
  of API processes and workers.
- The worker runs `run_sync_job`: the same `worker.run_job` as in process, with the ACE
  session stored for the user who asked (or whose session the schedule chose).
- Periodic tasks: the schedule of `auto` syncs (`SYNC_SCHEDULE_CRON`, or every
  `SYNC_INTERVAL_MINUTES`), which the queue defers once per period however many workers run;
  and the sweep of stalled jobs: a job whose worker stopped beating is run again, up to
  `SYNC_MAX_ATTEMPTS` runs in all, then failed; a sync job with no queue job behind it (its
  defer was lost) is failed once stale.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select, text

from app.ace.port import AceApi
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.connection.urls import libpq_url
from app.errors import AppError, ErrorCode
from app.models import SyncJob, SyncState, User
from app.models.base import utcnow
from app.services import ace_session_service
from app.services.sync import jobs, scheduler, worker
from app.services.sync.account_sync import SyncCredentials, credentials_for

log = logging.getLogger(__name__)

QUEUE = "sync"
SYNC_TASK = "acehub.sync_account"
SCHEDULE_TASK = "acehub.schedule_syncs"
SWEEP_TASK = "acehub.sweep_stalled_syncs"
SWEEP_CRON = "* * * * * */5"  # every 5 s: cheap, and a dead worker's job moves on quickly


def account_lock(account_id: str) -> str:
    return f"sync:{account_id}"


@dataclass(frozen=True)
class WorkerDeps:
    """What the queue's tasks run with (one set per worker process)."""

    database: Database
    ace: AceApi
    cipher: GuidCipher
    settings: Settings


def schedule_cron(settings: Settings) -> str | None:
    """The periodic syncs' cron line, or None when they are off."""
    if settings.sync_schedule_cron:
        return settings.sync_schedule_cron
    minutes = settings.sync_interval_minutes
    if minutes <= 0:
        return None
    if minutes != int(minutes) or (60 % minutes and (minutes % 60 or 1440 % minutes)):
        raise AppError(
            "SYNC_INTERVAL_MINUTES must divide an hour or a day on the job queue "
            "(or set SYNC_SCHEDULE_CRON)",
            code=ErrorCode.VALIDATION_ERROR,
        )
    whole = int(minutes)
    return f"*/{whole} * * * *" if whole < 60 else f"0 */{whole // 60} * * *"


def create_queue(settings: Settings, *, for_worker: bool = False) -> procrastinate.App:
    """The job queue of acehub's database, with its tasks (open it before use). An API
    process only defers jobs: its connection pool stays at one or two."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(settings.database_url),
            kwargs={"application_name": "acehub-queue"},
            min_size=1,
            # A worker: one connection per running job, its listener, its heartbeat.
            max_size=settings.worker_concurrency + 2 if for_worker else 2,
        ),
        worker_defaults={
            "update_heartbeat_interval": settings.worker_heartbeat_seconds,
            "stalled_worker_timeout": settings.worker_stalled_seconds,
        },
    )
    app.task(name=SYNC_TASK, queue=QUEUE, pass_context=True)(run_sync_job)
    sweep = app.task(name=SWEEP_TASK, queue=QUEUE, pass_context=True)(sweep_stalled_syncs)
    app.periodic(cron=SWEEP_CRON)(sweep)
    cron = schedule_cron(settings)
    if cron is not None:
        schedule = app.task(name=SCHEDULE_TASK, queue=QUEUE, pass_context=True)(schedule_syncs)
        app.periodic(cron=cron)(schedule)
    return app


@dataclass(frozen=True)
class QueueStarter:
    """`worker.SyncStarter` of the API on PostgreSQL: defer the job to the queue."""

    queue: procrastinate.App
    database: Database

    async def start(self, job: SyncJob, *, guid: str, ace_user_id: int | None) -> None:
        del guid, ace_user_id  # the worker reads the stored ACE session itself
        lock = account_lock(job.account_id)
        try:
            await self.queue.configure_task(SYNC_TASK, lock=lock, queueing_lock=lock).defer_async(
                job_id=str(job.id)
            )
        except AlreadyEnqueued:
            # The account's waiting job is on the queue already (the rows said otherwise
            # only for a moment): this one can never run.
            async with unit_of_work(self.database) as session:
                stored = await session.get(SyncJob, job.id)
                if stored is not None and stored.state is SyncState.queued:
                    jobs.mark_lost(stored, "Another sync of the account was waiting already")


def _deps(context: procrastinate.JobContext) -> WorkerDeps:
    deps = context.additional_context.get("deps")
    assert isinstance(deps, WorkerDeps), "run the queue through `run_worker`"
    return deps


async def run_sync_job(context: procrastinate.JobContext, job_id: str) -> None:
    """The queue task: run the sync job `job_id` (again, after a stalled run)."""
    deps = _deps(context)
    key = uuid.UUID(job_id)
    attempts = context.job.attempts
    if attempts:
        await _take_back(deps.database, key, attempts)

    async def credentials(job: SyncJob) -> SyncCredentials:
        return await _stored_credentials(deps, job)

    await worker.run_job(
        key,
        database=deps.database,
        ace=deps.ace,
        settings=deps.settings,
        resolve_credentials=credentials,
    )


async def _take_back(database: Database, job_id: uuid.UUID, attempts: int) -> None:
    """A run of this job died with its worker: queue its row again, noting the restart."""
    async with unit_of_work(database) as session:
        job = await session.get(SyncJob, job_id)
        if job is None or job.state is not SyncState.running:
            return
        job.state = SyncState.queued
        job.errors = [
            *job.errors,
            {
                "phase": job.phase,
                "code": "WORKER_LOST",
                "message": f"Its worker stopped; run again (attempt {attempts + 1})",
            },
        ]
    log.warning("sync job taken back after its worker stopped", extra={"job_id": str(job_id)})


async def _stored_credentials(deps: WorkerDeps, job: SyncJob) -> SyncCredentials:
    async with deps.database.session() as session:
        user = await session.get(User, job.requested_by) if job.requested_by else None
        if user is None:
            raise AppError("The job has no user to sync as", code=ErrorCode.ACE_SESSION_EXPIRED)
        guid = await ace_session_service.guid_for(session, cipher=deps.cipher, user=user)
    return await credentials_for(deps.ace, guid=guid, ace_user_id=user.ace_user_id)


async def schedule_syncs(context: procrastinate.JobContext, timestamp: int) -> None:
    """The periodic task: an `auto` sync of every account with a usable ACE session."""
    deps = _deps(context)
    started = await scheduler.schedule_due_syncs(
        database=deps.database,
        cipher=deps.cipher,
        settings=deps.settings,
        starter=QueueStarter(context.app, deps.database),
    )
    log.info(
        "periodic syncs queued",
        extra={"jobs": len(started), "period": datetime.fromtimestamp(timestamp, UTC).isoformat()},
    )


async def sweep_stalled_syncs(context: procrastinate.JobContext, timestamp: int) -> None:
    """The periodic task: run again (or fail) jobs whose worker died, fail lost rows."""
    del timestamp
    deps = _deps(context)
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(
        task_name=SYNC_TASK, seconds_since_heartbeat=deps.settings.worker_stalled_seconds
    )
    for job in stalled:
        if job.attempts + 1 < deps.settings.sync_max_attempts:
            await manager.retry_job(job)
            continue
        await manager.finish_job(job, status=procrastinate.jobs.Status.FAILED, delete_job=False)
        await _fail(deps.database, uuid.UUID(str(job.task_kwargs["job_id"])), "gave up")
    await _fail_orphans(deps)


async def _fail(database: Database, job_id: uuid.UUID, why: str) -> None:
    async with unit_of_work(database) as session:
        job = await session.get(SyncJob, job_id)
        if job is not None and job.state in (SyncState.queued, SyncState.running):
            jobs.mark_lost(job, f"Its workers stopped; {why} after its last attempt")


async def _fail_orphans(deps: WorkerDeps) -> None:
    """Active sync jobs the queue holds no job for (their defer was lost), once stale."""
    async with unit_of_work(deps.database) as session:
        owned = {
            row[0]
            for row in await session.execute(
                text(
                    "SELECT args->>'job_id' FROM procrastinate_jobs "
                    "WHERE task_name = :task AND status IN ('todo', 'doing')"
                ),
                {"task": SYNC_TASK},
            )
        }
        stale_before = utcnow().timestamp() - deps.settings.sync_stale_seconds
        active = await session.scalars(
            select(SyncJob).where(SyncJob.state.in_([SyncState.queued, SyncState.running]))
        )
        for job in active:
            beat = job.heartbeat_at or job.created_at
            if str(job.id) not in owned and beat.timestamp() < stale_before:
                jobs.mark_lost(job, "The queue holds no job for it")


async def run_worker(deps: WorkerDeps, *, name: str | None = None) -> None:
    """`acehub worker`: run the queue's jobs until SIGINT / SIGTERM."""
    queue = create_queue(deps.settings, for_worker=True)
    async with queue.open_async():
        await queue.run_worker_async(
            queues=[QUEUE],
            concurrency=deps.settings.worker_concurrency,
            name=name or "acehub-worker",
            additional_context={"deps": deps},
        )
