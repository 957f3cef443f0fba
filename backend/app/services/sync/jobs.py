"""A sync job's lifecycle: requested (queued), claimed (running, with a heartbeat), finished
(succeeded or failed), or failed as stale when its worker stopped beating."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.config import Settings
from app.connection import locks
from app.connection.database import Database, rows_affected
from app.errors import AppError, ErrorCode
from app.models import SyncJob, SyncState
from app.models.base import utcnow
from app.models.enums import SyncKind, SyncPhase
from app.models.sync_jobs import JobCounts, JobError

log = logging.getLogger(__name__)

RequestedKind = Literal["auto", "full", "incremental"]
# Told of each progress report: the phase, and the counts so far.
Progress = Callable[[SyncPhase, JobCounts], Awaitable[None]]
PROGRESS_EVERY_SECONDS = 1.0


class JobTakenOverError(Exception):
    """The job row left `running` under the worker (marked failed as stale): stop quietly."""


async def request_job(
    session: AsyncSession,
    *,
    database: Database,
    settings: Settings,
    account_id: str,
    requested_by: int | None,
    kind: RequestedKind,
) -> SyncJob:
    """Queue a sync of the account (behind its running one, if any); 409 `CONFLICT` when one
    is waiting already."""
    if not settings.syncs_on_queue:  # on the queue, its workers retry or fail stalled jobs
        await fail_stale_jobs(session, database=database, settings=settings, account_id=account_id)
    job = SyncJob(
        account_id=account_id,
        kind=await resolve_kind(session, settings=settings, account_id=account_id, kind=kind),
        state=SyncState.queued,
        counts={},
        errors=[],
        requested_by=requested_by,
    )
    try:
        async with session.begin_nested():
            session.add(job)
    except IntegrityError:
        active = await waiting_job(session, account_id=account_id)
        raise AppError(
            "A sync of this account is already waiting to run",
            code=ErrorCode.CONFLICT,
            data={"job_id": str(active.id) if active else None},
        ) from None
    return job


async def resolve_kind(
    session: AsyncSession, *, settings: Settings, account_id: str, kind: RequestedKind
) -> SyncKind:
    if kind == "full":
        return SyncKind.full
    watermark = await last_watermark(session, account_id=account_id)
    if watermark is None:
        return SyncKind.full
    if kind == "incremental":
        return SyncKind.incremental
    last_full = await session.scalar(
        select(SyncJob.finished_at)
        .where(
            SyncJob.account_id == account_id,
            SyncJob.state == SyncState.succeeded,
            SyncJob.kind == SyncKind.full,
        )
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
    )
    due = last_full is None or utcnow() - last_full > timedelta(
        hours=settings.sync_full_interval_hours
    )
    return SyncKind.full if due else SyncKind.incremental


async def last_watermark(session: AsyncSession, *, account_id: str) -> datetime | None:
    """The watermark of the account's latest succeeded job (None: it never synced)."""
    return await session.scalar(
        select(SyncJob.watermark)
        .where(SyncJob.account_id == account_id, SyncJob.state == SyncState.succeeded)
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
    )


async def waiting_job(session: AsyncSession, *, account_id: str) -> SyncJob | None:
    return await session.scalar(
        select(SyncJob).where(SyncJob.account_id == account_id, SyncJob.state == SyncState.queued)
    )


async def active_job(session: AsyncSession, *, account_id: str) -> SyncJob | None:
    return await session.scalar(
        select(SyncJob).where(
            SyncJob.account_id == account_id,
            SyncJob.state.in_([SyncState.queued, SyncState.running]),
        )
    )


async def get_job(session: AsyncSession, *, account_id: str, job_id: uuid.UUID) -> SyncJob:
    job = await session.scalar(
        select(SyncJob).where(SyncJob.id == job_id, SyncJob.account_id == account_id)
    )
    if job is None:
        raise AppError("No such sync job in this account", code=ErrorCode.NOT_FOUND)
    return job


async def list_jobs(session: AsyncSession, *, account_id: str, limit: int) -> list[SyncJob]:
    jobs = await session.scalars(
        select(SyncJob)
        .where(SyncJob.account_id == account_id)
        .order_by(SyncJob.created_at.desc())
        .limit(limit)
    )
    return list(jobs)


async def fail_stale_jobs(
    session: AsyncSession, *, database: Database, settings: Settings, account_id: str
) -> None:
    """Mark the account's running job failed when its worker stopped beating (and holds no
    lock); then a waiting job with nothing running before it that never started in time
    (its process went away before it could)."""
    stale_before = utcnow() - timedelta(seconds=settings.sync_stale_seconds)
    active = list(
        await session.scalars(
            select(SyncJob)
            .where(
                SyncJob.account_id == account_id,
                SyncJob.state.in_([SyncState.queued, SyncState.running]),
            )
            .order_by(SyncJob.created_at)
        )
    )
    running = [job for job in active if job.state is SyncState.running]
    for job in running:
        if (job.heartbeat_at or job.created_at) >= stale_before:
            return
        if await locks.is_locked(database, locks.sync_lock_name(account_id)):
            return
        mark_lost(job, "The sync stopped responding")
    for job in active:
        if job.state is SyncState.queued and job.created_at < stale_before:
            mark_lost(job, "The sync never started: its worker went away")
    await session.flush()


async def fail_dead_runs(database: Database, *, account_id: str) -> None:
    """Called by the holder of the account's lock: any job of the account still marked
    running lost its worker (no live run could be without the lock)."""
    async with database.session() as session, session.begin():
        for job in await session.scalars(
            select(SyncJob).where(
                SyncJob.account_id == account_id, SyncJob.state == SyncState.running
            )
        ):
            mark_lost(job, "The sync stopped responding")


def mark_lost(job: SyncJob, message: str) -> None:
    job.state = SyncState.failed
    job.finished_at = utcnow()
    lost: JobError = {"phase": job.phase, "code": "WORKER_LOST", "message": message}
    job.errors = [*job.errors, lost]
    log.warning("stale sync job marked failed", extra={"job_id": str(job.id)})


async def load(database: Database, job_id: uuid.UUID) -> SyncJob:
    async with database.session() as session:
        job = await session.get(SyncJob, job_id)
    if job is None:
        raise AppError("No such sync job", code=ErrorCode.NOT_FOUND)
    return job


async def claim(database: Database, job_id: uuid.UUID) -> datetime | None:
    """Move the queued job to `running`; returns when it started, or None when it is no
    longer queued (failed as stale before it could start)."""
    started = utcnow()
    claimed = await _update(
        database,
        job_id,
        only_in=SyncState.queued,
        state=SyncState.running,
        started_at=started,
        heartbeat_at=started,
    )
    return started if claimed else None


async def finish(
    database: Database,
    job_id: uuid.UUID,
    *,
    counts: JobCounts,
    warnings: list[JobError],
    error: JobError | None = None,
    from_state: SyncState = SyncState.running,
) -> SyncJob:
    """End the job: failed with `error` after its warnings, or succeeded (which makes its
    start the account's watermark). Notes the row holds already (a run lost with its worker)
    stay first."""
    earlier = (await load(database, job_id)).errors
    ended = await _update(
        database,
        job_id,
        only_in=from_state,
        state=SyncState.failed if error else SyncState.succeeded,
        finished_at=utcnow(),
        heartbeat_at=utcnow(),
        counts=counts,
        errors=[*earlier, *warnings, *([error] if error else [])],
        phase=error["phase"] if error else SyncPhase.done,
    )
    job = await load(database, job_id)
    if ended:  # counted once: not when another worker had already ended it
        metrics.record_sync_job(job.state.value, job.started_at, job.finished_at)
    return job


class Heartbeat:
    """The one heartbeat of a running job (`async with` it while the job runs).

    In the background it beats `heartbeat_at` every quarter of SYNC_STALE_SECONDS, also while
    one ACE call takes long, so a live job is never taken for dead. `record` and `tick` also
    store the phase and the counts so far, tell the progress callback, and raise
    `JobTakenOverError` once the job left `running` under the worker."""

    def __init__(
        self,
        database: Database,
        job_id: uuid.UUID,
        *,
        stale_seconds: float,
        counts: Callable[[], JobCounts],
        progress: Progress | None = None,
    ) -> None:
        self._database = database
        self._job_id = job_id
        self._stale_seconds = stale_seconds
        self._counts = counts
        self._progress = progress
        self._last_tick = 0.0
        self._pulse: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Heartbeat:
        self._pulse = asyncio.create_task(self._keep_alive())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pulse is not None:
            self._pulse.cancel()

    async def record(self, phase: SyncPhase) -> None:
        """Store the phase and the counts so far (a phase starts, or `done`)."""
        counts = self._counts()
        alive = await _update(
            self._database,
            self._job_id,
            only_in=SyncState.running,
            phase=phase,
            heartbeat_at=utcnow(),
            counts=counts,
        )
        if not alive:
            raise JobTakenOverError("The job was marked failed while it ran")
        if self._progress is not None:
            await self._progress(phase, counts)

    async def tick(self, phase: SyncPhase) -> None:
        """Report progress within a phase, at most once a second: each report is a committed
        write of the job row, too slow to pay per page (the liveness beat runs on its own)."""
        now = time.monotonic()
        if now - self._last_tick >= PROGRESS_EVERY_SECONDS:
            self._last_tick = now
            await self.record(phase)

    async def _keep_alive(self) -> None:
        """Beat the job's heartbeat while it runs, also while one ACE call takes long."""
        while True:
            await asyncio.sleep(max(0.5, self._stale_seconds / 4))
            await _update(
                self._database, self._job_id, only_in=SyncState.running, heartbeat_at=utcnow()
            )


async def _update(
    database: Database, job_id: uuid.UUID, *, only_in: SyncState, **values: Any
) -> bool:
    """Update the job if it is still in state `only_in` (compare-and-set: a job another
    worker marked failed is never brought back); returns whether it was."""
    async with database.session() as session, session.begin():
        result = await session.execute(
            update(SyncJob).where(SyncJob.id == job_id, SyncJob.state == only_in).values(**values)
        )
    return bool(rows_affected(result))
