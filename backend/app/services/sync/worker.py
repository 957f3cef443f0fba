"""Running a queued sync job: claim it under the account's lock, run the phases of `PHASES`
with its heartbeat beating, finish it. Every ending is recorded on the job: succeeded, failed
(a sync failure, or a crash), interrupted (the process shuts down), or left as another
worker marked it (taken over)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.port import AceApi
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection import locks
from app.connection.database import Database
from app.connection.statistics import refresh_statistics
from app.connection.unit_of_work import after_commit
from app.errors import AppError, ErrorCode
from app.models import SyncJob, SyncState, User
from app.models.enums import SyncPhase
from app.models.sync_jobs import JobError
from app.request_context import job_id_var
from app.services import ace_session_service
from app.services.sync import jobs
from app.services.sync.account_sync import (
    PHASES,
    AccountSync,
    SyncCredentials,
    SyncTally,
    credentials_for,
    in_transactions,
)
from app.services.sync.jobs import Heartbeat, JobTakenOverError, Progress, RequestedKind
from app.services.sync.plan import plan_for
from app.services.sync.runner import JobRunner

log = logging.getLogger(__name__)

LOCK_HELD: JobError = {
    "phase": None,
    "code": ErrorCode.CONFLICT.value,
    "message": "Another sync of the account was running",
}
LOCK_RETRY_SECONDS = 1.0


async def run_job(
    job_id: uuid.UUID,
    *,
    database: Database,
    ace: AceApi,
    settings: Settings,
    credentials: SyncCredentials | None = None,
    resolve_credentials: Callable[[SyncJob], Awaitable[SyncCredentials]] | None = None,
    progress: Progress | None = None,
) -> SyncJob:
    """Run a queued job to its end; never raises for a sync failure (the job records it).
    While another sync of the account holds its lock (elsewhere: a `acehub sync`, another
    process), the job waits for it, as long as it is still queued."""
    token = job_id_var.set(str(job_id))  # every log line of the run names its job
    try:
        return await _run_waiting(
            job_id,
            database=database,
            ace=ace,
            settings=settings,
            credentials=credentials,
            resolve_credentials=resolve_credentials,
            progress=progress,
        )
    finally:
        job_id_var.reset(token)


async def _run_waiting(
    job_id: uuid.UUID,
    *,
    database: Database,
    ace: AceApi,
    settings: Settings,
    credentials: SyncCredentials | None,
    resolve_credentials: Callable[[SyncJob], Awaitable[SyncCredentials]] | None,
    progress: Progress | None,
) -> SyncJob:
    job = await jobs.load(database, job_id)
    while True:
        async with locks.account_lock(database, locks.sync_lock_name(job.account_id)) as held:
            if held:
                return await _run_locked(
                    job,
                    database=database,
                    ace=ace,
                    settings=settings,
                    credentials=credentials,
                    resolve_credentials=resolve_credentials,
                    progress=progress,
                )
        current = await jobs.load(database, job_id)
        if current.state is not SyncState.queued:  # failed as stale meanwhile: leave it
            return current
        await asyncio.sleep(LOCK_RETRY_SECONDS)


async def _run_locked(
    job: SyncJob,
    *,
    database: Database,
    ace: AceApi,
    settings: Settings,
    credentials: SyncCredentials | None,
    resolve_credentials: Callable[[SyncJob], Awaitable[SyncCredentials]] | None,
    progress: Progress | None,
) -> SyncJob:
    job_id = job.id
    if locks.excludes_other_processes(database):
        await jobs.fail_dead_runs(database, account_id=job.account_id)
    try:
        started = await jobs.claim(database, job_id)
    except IntegrityError:  # another job of the account runs (started where no lock exists)
        return await jobs.finish(
            database, job_id, counts={}, warnings=[], error=LOCK_HELD, from_state=SyncState.queued
        )
    if started is None:  # failed as stale before it could start: leave its record alone
        return await jobs.load(database, job_id)
    run = _Run(job, started, database=database, ace=ace, settings=settings)
    async with Heartbeat(
        database,
        job_id,
        stale_seconds=settings.sync_stale_seconds,
        counts=run.tally.as_dict,
        progress=progress,
    ) as heartbeat:
        try:
            creds = credentials or await _resolve(resolve_credentials, job)
            await run.phases(creds, heartbeat)
            return await run.finish()
        except JobTakenOverError:
            log.warning("sync stopped: its job was marked failed", extra={"job_id": str(job_id)})
            return await jobs.load(database, job_id)
        except asyncio.CancelledError:  # the process shuts down: record it, then stop
            await run.finish(run.error("INTERRUPTED", "The server stopped"))
            raise
        except AppError as error:  # a sync failure (ACE, its session, the database)
            log.warning("sync failed", extra={"job_id": str(job_id), "error_code": error.code})
            return await run.finish(run.error(error.code.value, error.message))
        except Exception:  # a crash
            log.exception("sync crashed", extra={"job_id": str(job_id)})
            return await run.finish(
                run.error(ErrorCode.INTERNAL_ERROR.value, "The sync failed unexpectedly")
            )


async def _resolve(
    resolve: Callable[[SyncJob], Awaitable[SyncCredentials]] | None, job: SyncJob
) -> SyncCredentials:
    assert resolve is not None, "run_job needs credentials or resolve_credentials"
    return await resolve(job)


@dataclass
class _Run:
    """A claimed job's run: its tally, and the phase it is in (that of an error ending it)."""

    job: SyncJob
    started: datetime
    database: Database
    ace: AceApi
    settings: Settings
    tally: SyncTally = field(default_factory=SyncTally)
    phase: SyncPhase | None = None

    async def phases(self, credentials: SyncCredentials, heartbeat: Heartbeat) -> None:
        async with self.database.session() as session:
            watermark = await jobs.last_watermark(session, account_id=self.job.account_id)
        sync = AccountSync(
            ace=self.ace,
            creds=credentials,
            account_id=self.job.account_id,
            plan=plan_for(self.job.kind, watermark, self.settings, self.started.date()),
            write=in_transactions(self.database, relax_durability=True),
            tally=self.tally,
            heartbeat=heartbeat,
            seen_by=self.job.requested_by,
        )
        for phase in PHASES:
            self.phase = phase.name
            await heartbeat.record(phase.name)
            await phase.run(sync)
            # A first sync fills empty tables: reads right after must not wait for
            # autovacuum to give the planner statistics.
            await refresh_statistics(self.database, {phase.table: self.tally.written(phase.name)})
        await heartbeat.record(SyncPhase.done)

    def error(self, code: str, message: str) -> JobError:
        return {"phase": self.phase, "code": code, "message": message}

    async def finish(self, error: JobError | None = None) -> SyncJob:
        return await jobs.finish(
            self.database,
            self.job.id,
            counts=self.tally.as_dict(),
            warnings=self.tally.warnings,
            error=error,
        )


def spawn_job(
    runner: JobRunner,
    job: SyncJob,
    *,
    database: Database,
    ace: AceApi,
    settings: Settings,
    guid: str,
    ace_user_id: int | None,
) -> asyncio.Task[SyncJob]:
    """Run a queued job in this process's background, with the given ACE session (whether
    its user is an ACE administrator is asked once the run starts), after any job of its
    account this process runs already."""

    async def credentials(_: SyncJob) -> SyncCredentials:
        return await credentials_for(ace, guid=guid, ace_user_id=ace_user_id)

    return runner.spawn(
        run_job(
            job.id, database=database, ace=ace, settings=settings, resolve_credentials=credentials
        ),
        name=f"sync-{job.id}",
        key=job.account_id,
    )


class SyncStarter(Protocol):
    """Who runs a queued job: this process (`InProcessStarter`), or the job queue's workers
    (`services.sync.queue.QueueStarter`). The job code is the same either way."""

    async def start(self, job: SyncJob, *, guid: str, ace_user_id: int | None) -> None: ...


@dataclass(frozen=True)
class InProcessStarter:
    runner: JobRunner
    database: Database
    ace: AceApi
    settings: Settings

    async def start(self, job: SyncJob, *, guid: str, ace_user_id: int | None) -> None:
        spawn_job(
            self.runner,
            job,
            database=self.database,
            ace=self.ace,
            settings=self.settings,
            guid=guid,
            ace_user_id=ace_user_id,
        )


async def start_sync(
    session: AsyncSession,
    *,
    database: Database,
    starter: SyncStarter,
    cipher: GuidCipher,
    settings: Settings,
    user: User,
    kind: RequestedKind,
) -> SyncJob:
    """`POST /sync/jobs`: `queue_sync` with the caller's stored ACE session
    (`ACE_SESSION_EXPIRED` when there is none)."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    return await queue_sync(
        session,
        database=database,
        starter=starter,
        settings=settings,
        user=user,
        guid=guid,
        kind=kind,
    )


async def queue_sync(
    session: AsyncSession,
    *,
    database: Database,
    starter: SyncStarter,
    settings: Settings,
    user: User,
    guid: str,
    kind: RequestedKind,
) -> SyncJob:
    """Queue a sync of `user`'s account with their ACE session; `starter` starts it once
    `session`'s unit of work has committed the job row. It runs after the account's running
    sync, if any; 409 `CONFLICT` when one is waiting already."""
    job = await jobs.request_job(
        session,
        database=database,
        settings=settings,
        account_id=user.account_id,
        requested_by=user.id,
        kind=kind,
    )
    ace_user_id = user.ace_user_id

    async def start() -> None:
        await starter.start(job, guid=guid, ace_user_id=ace_user_id)

    after_commit(session, start)
    return job
