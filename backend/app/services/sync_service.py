"""Account sync: ACE users → projects → tasks → assignees → time entries, as a job.

A job row records state, phase, counts per entity and errors; at most one job per account is
queued or running (a partial unique index refuses a second), and the run holds a PostgreSQL
advisory lock, so two workers or hosts never sync one account at once. A job whose heartbeat
stopped (its worker died) is marked failed when the next one is requested.

Incremental runs read tasks modified since the last successful watermark minus an overlap;
a full pass (periodically, or on request) reads everything and mirrors deletions as
tombstones. Writes are idempotent upserts committed page by page, so an interrupted run
leaves every row either at its old or its new version, and the watermark only moves on
success.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.client import AceClient
from app.ace.dto import AceTimeEntry
from app.ace.errors import AceRequestRefusedError
from app.ace.statuses import EMPTY as EMPTY_STATUSES
from app.ace.statuses import StatusList
from app.config import Settings
from app.connection import dialect, locks
from app.connection.database import Database
from app.connection.statistics import refresh_statistics
from app.connection.upsert import UpsertCounts
from app.dto.response import ErrorCode
from app.errors import AppError, ConflictError, NotFoundError
from app.models import Project, SyncJob, SyncState, Task, User
from app.models.base import utcnow
from app.services import mirror_service
from app.services.job_runner import JobRunner
from app.services.mirror_service import TaskBatch

log = logging.getLogger(__name__)

T = TypeVar("T")
SyncKind = Literal["full", "incremental"]
RequestedKind = Literal["auto", "full", "incremental"]
PHASES = ("users", "projects", "tasks", "assignees", "time_entries")
PHASE_TABLES = {
    "users": "users",
    "projects": "projects",
    "tasks": "tasks",
    "assignees": "task_assignees",
    "time_entries": "task_logs",
}
ASSIGNEE_USERS_PER_COMMIT = 25
TASKS_PER_WRITE = 2000
PROGRESS_EVERY_SECONDS = 1.0
# Concurrent ACE calls of one sync (ACE asks clients not to call too often: at most two at a time).
ACE_CONCURRENCY = 2


class StatusListCache:
    """The task status lists a sync read last, per account and project, for this process.

    Status lists change rarely, and an incremental run that re-read the list of every project
    its overlap window touches would spend most of its ACE calls on them. A full pass (daily)
    reads every list afresh, and a task whose status a cached list lacks makes its project's
    list be read again, so a cached list is at most a day old in what it says of statuses it
    already had. Nothing another process needs: each keeps its own."""

    def __init__(self) -> None:
        self._lists: dict[str, dict[int, StatusList]] = {}

    def of(self, account_id: str) -> dict[int, StatusList]:
        return dict(self._lists.get(account_id, {}))

    def keep(self, account_id: str, lists: dict[int, StatusList]) -> None:
        self._lists[account_id] = {p: lists[p] for p in lists if lists[p] is not EMPTY_STATUSES}


STATUS_LISTS = StatusListCache()

# Runs `work` in a unit of work: a new transaction per call (jobs), or the request's session.
Writer = Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]]
Progress = Callable[[str, dict[str, dict[str, int]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SyncCredentials:
    """The ACE session a sync runs with. Tombstones need an ACE administrator's full view."""

    guid: str = field(repr=False)
    is_admin: bool


@dataclass
class SyncPlan:
    kind: SyncKind
    modified_since: date | None
    time_from: date
    time_to: date


@dataclass
class SyncTally:
    counts: dict[str, UpsertCounts] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # ACE ids of the tasks the tasks phase read, and of those it inserted or changed: the
    # assignees phase mirrors the assignees of the read ones (full pass) or of the changed
    # ones (incremental run), whose ASSIGNED / REVIEWER texts it keeps in `changed_names`.
    seen_tasks: set[int] = field(default_factory=set)
    changed_tasks: set[int] = field(default_factory=set)
    changed_names: list[str] = field(default_factory=list)
    unknown_statuses: int = 0

    def of(self, entity: str) -> UpsertCounts:
        return self.counts.setdefault(entity, UpsertCounts())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {entity: counts.as_dict() for entity, counts in self.counts.items()}

    def written(self, entity: str) -> int:
        """Rows the run inserted, updated or deleted for `entity`."""
        counts = self.of(entity)
        return counts.inserted + counts.updated + counts.deleted


# ---------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------


async def request_job(
    session: AsyncSession,
    *,
    database: Database,
    settings: Settings,
    account_id: str,
    requested_by: int | None,
    kind: RequestedKind,
) -> SyncJob:
    """Queue a sync of the account; 409 `CONFLICT` while another one is active."""
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
        active = await active_job(session, account_id=account_id)
        raise ConflictError(
            "A sync of this account is already queued or running",
            data={"job_id": str(active.id) if active else None},
        ) from None
    return job


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
        raise NotFoundError("No such sync job in this account")
    return job


async def fail_stale_jobs(
    session: AsyncSession, *, database: Database, settings: Settings, account_id: str
) -> None:
    """Mark an active job failed when its worker stopped beating (and holds no lock)."""
    job = await active_job(session, account_id=account_id)
    if job is None:
        return
    beat = job.heartbeat_at or job.created_at
    if utcnow() - beat < timedelta(seconds=settings.sync_stale_seconds):
        return
    if await locks.is_locked(database, locks.sync_lock_name(account_id)):
        return
    job.state = SyncState.failed
    job.finished_at = utcnow()
    job.errors = [
        *job.errors,
        {"phase": job.phase, "code": "WORKER_LOST", "message": "The sync stopped responding"},
    ]
    await session.flush()
    log.warning("stale sync job marked failed", extra={"job_id": str(job.id)})


async def resolve_kind(
    session: AsyncSession, *, settings: Settings, account_id: str, kind: RequestedKind
) -> SyncKind:
    if kind == "full":
        return "full"
    watermark = await last_watermark(session, account_id=account_id)
    if watermark is None:
        return "full"
    if kind == "incremental":
        return "incremental"
    last_full = await session.scalar(
        select(SyncJob.finished_at)
        .where(
            SyncJob.account_id == account_id,
            SyncJob.state == SyncState.succeeded,
            SyncJob.kind == "full",
        )
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
    )
    due = last_full is None or utcnow() - last_full > timedelta(
        hours=settings.sync_full_interval_hours
    )
    return "full" if due else "incremental"


async def last_watermark(session: AsyncSession, *, account_id: str) -> datetime | None:
    return await session.scalar(
        select(SyncJob.watermark)
        .where(SyncJob.account_id == account_id, SyncJob.state == SyncState.succeeded)
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
    )


def plan_for(
    kind: SyncKind, watermark: datetime | None, settings: Settings, today: date
) -> SyncPlan:
    modified_since = None
    if kind == "incremental" and watermark is not None:
        modified_since = watermark.date() - timedelta(days=settings.sync_overlap_days)
    return SyncPlan(
        kind=kind,
        modified_since=modified_since,
        time_from=today - timedelta(days=settings.sync_time_entries_days),
        time_to=today + timedelta(days=1),
    )


async def run_job(
    job_id: uuid.UUID,
    *,
    database: Database,
    ace: AceClient,
    settings: Settings,
    credentials: SyncCredentials | None = None,
    resolve_credentials: Callable[[SyncJob], Awaitable[SyncCredentials]] | None = None,
    progress: Progress | None = None,
) -> SyncJob:
    """Run a queued job to its end; never raises for a sync failure (the job records it)."""
    job = await _load(database, job_id)
    tally = SyncTally()
    phase: str | None = None
    async with locks.account_lock(database, locks.sync_lock_name(job.account_id)) as acquired:
        if not acquired:
            return await _finish(
                database,
                job_id,
                tally,
                error={"phase": None, "code": "CONFLICT", "message": "Another sync holds the lock"},
                from_state=SyncState.queued,
            )
        started = utcnow()
        claimed = await _update(
            database,
            job_id,
            only_in=SyncState.queued,
            state=SyncState.running,
            started_at=started,
            heartbeat_at=started,
        )
        if not claimed:  # failed as stale before it could start: leave its record alone
            return await _load(database, job_id)
        pulse = asyncio.create_task(_keep_alive(database, job_id, settings.sync_stale_seconds))
        try:
            creds = credentials
            if creds is None:
                assert resolve_credentials is not None
                creds = await resolve_credentials(job)
            async with database.session() as session:
                watermark = await last_watermark(session, account_id=job.account_id)
            plan = plan_for(job.kind, watermark, settings, started.date())  # type: ignore[arg-type]

            async def write(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
                async with database.session() as session, session.begin():
                    await dialect.relax_commit_durability(session)
                    return await work(session)

            async def beat(current: str) -> None:
                alive = await _update(
                    database,
                    job_id,
                    only_in=SyncState.running,
                    phase=current,
                    heartbeat_at=utcnow(),
                    counts=tally.as_dict(),
                )
                if not alive:
                    raise JobTakenOverError("The job was marked failed while it ran")
                if progress is not None:
                    await progress(current, tally.as_dict())

            sync = AccountSync(
                ace=ace,
                creds=creds,
                account_id=job.account_id,
                plan=plan,
                write=write,
                tally=tally,
                beat=beat,
            )
            for phase in PHASES:
                await beat(phase)
                await getattr(sync, f"sync_{phase}")()
                # A first sync fills empty tables: reads right after must not wait for
                # autovacuum to give the planner statistics.
                await refresh_statistics(database, {PHASE_TABLES[phase]: tally.written(phase)})
            await beat("done")
            return await _finish(database, job_id, tally, watermark=started)
        except JobTakenOverError:
            log.warning("sync stopped: its job was marked failed", extra={"job_id": str(job_id)})
            return await _load(database, job_id)
        except asyncio.CancelledError:
            await _finish(
                database,
                job_id,
                tally,
                error={"phase": phase, "code": "INTERRUPTED", "message": "The server stopped"},
            )
            raise
        except AppError as error:
            log.warning("sync failed", extra={"job_id": str(job_id), "error_code": error.code})
            return await _finish(
                database,
                job_id,
                tally,
                error={"phase": phase, "code": error.code.value, "message": error.message},
            )
        except Exception:
            log.exception("sync crashed", extra={"job_id": str(job_id)})
            return await _finish(
                database,
                job_id,
                tally,
                error={
                    "phase": phase,
                    "code": ErrorCode.INTERNAL_ERROR.value,
                    "message": "The sync failed unexpectedly",
                },
            )
        finally:
            pulse.cancel()


class JobTakenOverError(Exception):
    """The job row left `running` under the worker (marked failed as stale): stop quietly."""


async def _keep_alive(database: Database, job_id: uuid.UUID, stale_seconds: float) -> None:
    """Beat the job's heartbeat while it runs, also while one ACE call takes long."""
    while True:
        await asyncio.sleep(max(0.5, stale_seconds / 4))
        await _update(database, job_id, only_in=SyncState.running, heartbeat_at=utcnow())


async def _load(database: Database, job_id: uuid.UUID) -> SyncJob:
    async with database.session() as session:
        job = await session.get(SyncJob, job_id)
    if job is None:
        raise NotFoundError("No such sync job")
    return job


async def _update(
    database: Database, job_id: uuid.UUID, *, only_in: SyncState, **values: Any
) -> bool:
    """Update the job if it is still in state `only_in` (compare-and-set: a job another
    worker marked failed is never brought back); returns whether it was."""
    async with database.session() as session, session.begin():
        result = await session.execute(
            update(SyncJob).where(SyncJob.id == job_id, SyncJob.state == only_in).values(**values)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _finish(
    database: Database,
    job_id: uuid.UUID,
    tally: SyncTally,
    *,
    watermark: datetime | None = None,
    error: dict[str, Any] | None = None,
    from_state: SyncState = SyncState.running,
) -> SyncJob:
    errors = [*tally.warnings, *([error] if error else [])]
    await _update(
        database,
        job_id,
        only_in=from_state,
        state=SyncState.failed if error else SyncState.succeeded,
        finished_at=utcnow(),
        heartbeat_at=utcnow(),
        counts=tally.as_dict(),
        errors=errors,
        watermark=watermark,
        phase=error["phase"] if error else "done",
    )
    return await _load(database, job_id)


# ---------------------------------------------------------------------------------------
# The phases (shared by jobs and the fetch endpoints)
# ---------------------------------------------------------------------------------------


@dataclass
class AccountSync:
    ace: AceClient
    creds: SyncCredentials
    account_id: str
    plan: SyncPlan
    write: Writer[Any]
    tally: SyncTally
    beat: Callable[[str], Awaitable[None]] | None = None
    _last_beat: float = field(default=0.0, init=False)

    @property
    def _tombstones(self) -> bool:
        return self.plan.kind == "full" and self.creds.is_admin

    async def _heartbeat(self, phase: str) -> None:
        """Report progress within a phase, at most once a second: each report is a committed
        write of the job row, too slow to pay per page (the liveness beat runs on its own)."""
        now = time.monotonic()
        if self.beat is not None and now - self._last_beat >= PROGRESS_EVERY_SECONDS:
            self._last_beat = now
            await self.beat(phase)

    async def sync_users(self) -> None:
        try:
            users = await self.ace.get_users(self.creds.guid)
        except AceRequestRefusedError:
            self.tally.warnings.append(
                {"phase": "users", "code": "SKIPPED", "message": "ACE refused to list users"}
            )
            return
        await self._mirror_listing(
            "users",
            User,
            partial(mirror_service.mirror_users, account_id=self.account_id, users=users),
            seen={u.user_id for u in users},
        )

    async def sync_projects(self) -> None:
        projects = await self.ace.get_projects(self.creds.guid)
        await self._mirror_listing(
            "projects",
            Project,
            partial(mirror_service.mirror_projects, account_id=self.account_id, projects=projects),
            seen={p.project_id for p in projects},
        )

    async def _mirror_listing(
        self,
        entity: str,
        model: type[User] | type[Project],
        mirror: Callable[..., Awaitable[UpsertCounts]],
        *,
        seen: set[int],
    ) -> None:
        """Upsert a whole ACE listing in one transaction; on a tombstoning run, rows of
        `model` the listing no longer has are marked deleted."""
        now = utcnow()

        async def work(session: AsyncSession) -> None:
            counts = self.tally.of(entity)
            counts += await mirror(session, now=now)
            if self._tombstones:
                counts.deleted += await mirror_service.tombstone(
                    session, model=model, account_id=self.account_id, seen_ace_ids=seen, now=now
                )

        await self.write(work)

    async def sync_tasks(self) -> None:
        """Pages of tasks, fetched while the previous page is written (a two-page queue)."""
        self.tally.of("tasks")
        seen = self.tally.seen_tasks
        project_ids: dict[int, int] = await self.write(
            lambda s: mirror_service.project_ids_by_ace_id(s, account_id=self.account_id)
        )
        pages: asyncio.Queue[TaskBatch | None] = asyncio.Queue(maxsize=4)
        # A full pass reads every status list afresh; an incremental run starts from the
        # lists this process read last (see `STATUS_LISTS`).
        incremental = self.plan.modified_since is not None
        statuses = STATUS_LISTS.of(self.account_id) if incremental else {}
        read_now: set[int] = set()

        async def fetch() -> None:
            try:
                async for page in self.ace.iter_task_pages(
                    self.creds.guid, modified_since=self.plan.modified_since
                ):
                    # A cached list that lacks a task's status may be out of date: read again.
                    outdated = {
                        t.project_id
                        for t in page
                        if t.project_id in statuses
                        and t.project_id not in read_now
                        and not statuses[t.project_id].knows(t)
                    }
                    for project_id in outdated:
                        del statuses[project_id]
                    needed = {t.project_id for t in page}
                    read_now.update(needed - statuses.keys())
                    await self._load_statuses(statuses, needed)
                    # The DTOs die here (see TaskBatch).
                    await pages.put(TaskBatch.of(page, statuses))
            finally:
                await pages.put(None)

        fetcher = asyncio.create_task(fetch())
        try:
            while (batch := await _drain(pages, TASKS_PER_WRITE)) is not None:
                await self._write_tasks(batch, project_ids)
                seen.update(batch.task_ids)
                await self._heartbeat("tasks")
            await fetcher  # re-raises a fetch failure
        finally:
            fetcher.cancel()
        STATUS_LISTS.keep(self.account_id, statuses)
        if self.tally.unknown_statuses:
            self.tally.warnings.append(
                {
                    "phase": "tasks",
                    "code": "UNKNOWN_STATUS",
                    "message": f"{self.tally.unknown_statuses} tasks have a status their "
                    "project's status list does not know; their status type is left empty",
                }
            )
        if self._tombstones:
            now = utcnow()
            deleted = await self.write(
                lambda s: mirror_service.tombstone(
                    s, model=Task, account_id=self.account_id, seen_ace_ids=seen, now=now
                )
            )
            self.tally.of("tasks").deleted += deleted

    async def _load_statuses(self, statuses: dict[int, StatusList], projects: set[int]) -> None:
        """The status lists of the projects not met yet in this run (statuses belong to
        projects). A list ACE refuses leaves its tasks without a status type, with a
        warning."""
        missing = sorted(projects - statuses.keys())
        if not missing:
            return
        limit = asyncio.Semaphore(ACE_CONCURRENCY)

        async def list_of(project_id: int) -> StatusList | None:
            async with limit:
                try:
                    rows = await self.ace.get_task_statuses(self.creds.guid, project_id=project_id)
                except AceRequestRefusedError:
                    return None
            return StatusList(rows)

        found = await asyncio.gather(*(list_of(p) for p in missing))
        refused = [p for p, status_list in zip(missing, found, strict=True) if status_list is None]
        statuses.update(
            {
                p: status_list or EMPTY_STATUSES
                for p, status_list in zip(missing, found, strict=True)
            }
        )
        if refused:
            self.tally.warnings.append(
                {
                    "phase": "tasks",
                    "code": "SKIPPED",
                    "message": f"ACE refused the status lists of {len(refused)} projects; "
                    "their tasks have no status type",
                }
            )

    async def _write_tasks(self, batch: TaskBatch, project_ids: dict[int, int]) -> None:
        now = utcnow()
        changed: list[int] = []

        async def work(session: AsyncSession) -> None:
            changed.clear()  # a retried unit of work starts over
            counts, skipped = await mirror_service.mirror_tasks(
                session,
                account_id=self.account_id,
                tasks=batch,
                project_ids=project_ids,
                now=now,
                changed=changed,
            )
            self.tally.of("tasks").add(counts)
            if skipped:
                self.tally.warnings.append(
                    {
                        "phase": "tasks",
                        "code": "SKIPPED",
                        "message": f"{skipped} tasks of projects not mirrored",
                    }
                )

        await self.write(work)
        self.tally.unknown_statuses += batch.unknown_statuses
        self.tally.changed_tasks.update(changed)
        if self.plan.modified_since is not None and changed:
            index = {task_id: i for i, task_id in enumerate(batch.task_ids)}
            self.tally.changed_names.extend(batch.names[index[t]] for t in changed)

    async def sync_assignees(self) -> None:
        """Who works on which task, from the one attested way ACE tells it: `gettasks` with
        `filterassigneduserid` and with `filterrevieweruserid`, two paged calls per user.

        A full pass asks every user about every task it read. An incremental run asks only
        about the tasks it inserted or changed (none: no call at all), and only the users
        assigned to them now or named in their `ASSIGNED` / `REVIEWER` text (everyone when
        a text names nobody acehub knows). That relies on ACE moving a task's modified date
        when its assignees change, which ACE does not document: the daily full pass catches
        whatever an incremental run misses."""
        self.tally.of("assignees")
        incremental = self.plan.modified_since is not None
        wanted = self.tally.changed_tasks if incremental else self.tally.seen_tasks
        if not wanted:
            return
        users, tasks = await self.write(partial(self._assignee_maps, wanted=wanted))
        scope = set(tasks.values())
        asked = users
        if incremental:
            candidates = await self.write(
                partial(
                    mirror_service.assignment_candidates,
                    account_id=self.account_id,
                    scope=scope,
                    names=self.tally.changed_names,
                )
            )
            if candidates is not None:
                asked = {ace: own for ace, own in users.items() if own in candidates}
        await self._assignees_per_user(asked, tasks, scope=scope, everyone=asked is users)

    async def _assignee_maps(
        self, session: AsyncSession, *, wanted: set[int]
    ) -> tuple[dict[int, int], dict[int, int]]:
        users = await mirror_service.user_ids(session, account_id=self.account_id, live=True)
        tasks = await mirror_service.task_ids_of(
            session, account_id=self.account_id, ace_task_ids=wanted
        )
        return users, tasks

    async def _assignees_per_user(
        self, users: dict[int, int], tasks: dict[int, int], *, scope: set[int], everyone: bool
    ) -> None:
        """Make the assignments of `users` to the tasks in `scope` ACE's; when `everyone`
        was asked, assignments of users ACE was not asked about go too."""
        counts = self.tally.of("assignees")
        limit = asyncio.Semaphore(ACE_CONCURRENCY)

        async def task_ids(**user_filter: int) -> set[int]:
            async with limit:
                return await self.ace.get_task_ids(
                    self.creds.guid, modified_since=self.plan.modified_since, **user_filter
                )

        async def tasks_of(ace_user_id: int) -> tuple[set[int], set[int]] | None:
            try:
                assigned, reviewing = await asyncio.gather(
                    task_ids(assigned_user_id=ace_user_id),
                    task_ids(reviewer_user_id=ace_user_id),
                )
            except AceRequestRefusedError:
                return None  # reported below; the user keeps their assignments
            return assigned, reviewing

        ace_user_ids = list(users)
        for start in range(0, len(ace_user_ids), ASSIGNEE_USERS_PER_COMMIT):
            batch = ace_user_ids[start : start + ASSIGNEE_USERS_PER_COMMIT]
            fetched = await asyncio.gather(*(tasks_of(u) for u in batch))
            found = {
                users[u]: lists
                for u, lists in zip(batch, fetched, strict=True)
                if lists is not None
            }
            self._warn_refused("users", len(batch) - len(found))
            write = partial(
                mirror_service.mirror_user_assignments,
                found=found,
                tasks=tasks,
                scope=scope,
                now=utcnow(),
            )
            counts.add(await self.write(write))
            await self._heartbeat("assignees")
        if not everyone:
            return
        # Assignments of users ACE was not asked about (deleted upstream, no longer ACE users).
        counts.deleted += await self.write(
            partial(
                mirror_service.drop_other_users_assignments,
                account_id=self.account_id,
                scope=scope,
                asked=set(users.values()),
            )
        )

    def _warn_refused(self, what: str, refused: int) -> None:
        if refused:
            self.tally.warnings.append(
                {
                    "phase": "assignees",
                    "code": "SKIPPED",
                    "message": f"ACE refused the assignees of {refused} {what}; kept as they were",
                }
            )

    async def sync_time_entries(self) -> None:
        seen: set[tuple[int, date]] = set()
        tasks, users = await self.write(self._id_maps)
        windows = self.ace.iter_time_report(
            self.creds.guid,
            date_from=self.plan.time_from,
            date_to=self.plan.time_to,
            modified_since=self.plan.modified_since,
        )
        counts = self.tally.of("time_entries")
        async for window in windows:
            now = utcnow()

            async def work(
                session: AsyncSession, window: list[AceTimeEntry] = window, now: datetime = now
            ) -> None:
                written, skipped = await mirror_service.mirror_time_entries(
                    session,
                    account_id=self.account_id,
                    entries=window,
                    tasks=tasks,
                    users=users,
                    now=now,
                )
                counts.add(written)
                if skipped:
                    self.tally.warnings.append(
                        {
                            "phase": "time_entries",
                            "code": "SKIPPED",
                            "message": f"{skipped} time entries of tasks or users not mirrored",
                        }
                    )

            await self.write(work)
            seen.update(entry.key for entry in window)
            await self._heartbeat("time_entries")
        # Only a run that read every entry of the window can tell which ones disappeared.
        if self.creds.is_admin and self.plan.modified_since is None:
            counts.deleted += await self.write(
                lambda s: mirror_service.delete_missing_time_entries(
                    s,
                    account_id=self.account_id,
                    first=self.plan.time_from,
                    last=self.plan.time_to,
                    seen=seen,
                )
            )

    async def _id_maps(self, session: AsyncSession) -> tuple[dict[int, int], dict[int, int]]:
        tasks = await mirror_service.task_ids_by_ace_id(session, account_id=self.account_id)
        users = await mirror_service.user_ids(session, account_id=self.account_id)
        return tasks, users


async def _drain(pages: asyncio.Queue[TaskBatch | None], most: int) -> TaskBatch | None:
    """The next page joined with the pages already waiting (up to `most` tasks), so writes
    catch up in fewer, larger statements; None once the fetcher is done."""
    batch = await pages.get()
    if batch is None:
        return None
    while len(batch) < most and not pages.empty():
        more = pages.get_nowait()
        if more is None:
            pages.put_nowait(None)  # let the next call see the end
            break
        batch.extend(more)
    return batch


async def credentials_for(ace: AceClient, *, guid: str, ace_user_id: int | None) -> SyncCredentials:
    """The session's credentials, with whether its user is an ACE administrator."""
    is_admin = False
    if ace_user_id is not None:
        users = await ace.get_users(guid, user_id=ace_user_id)
        is_admin = any(u.user_id == ace_user_id and u.is_admin for u in users)
    return SyncCredentials(guid=guid, is_admin=is_admin)


def spawn_job(
    runner: JobRunner,
    job_id: uuid.UUID,
    *,
    database: Database,
    ace: AceClient,
    settings: Settings,
    guid: str,
    ace_user_id: int | None,
) -> asyncio.Task[SyncJob]:
    """Run a queued job in this process's background, with the given ACE session (whether
    its user is an ACE administrator is asked once the run starts)."""

    async def credentials(_: SyncJob) -> SyncCredentials:
        return await credentials_for(ace, guid=guid, ace_user_id=ace_user_id)

    return runner.spawn(
        run_job(
            job_id, database=database, ace=ace, settings=settings, resolve_credentials=credentials
        ),
        name=f"sync-{job_id}",
    )


async def list_jobs(session: AsyncSession, *, account_id: str, limit: int) -> list[SyncJob]:
    jobs = await session.scalars(
        select(SyncJob)
        .where(SyncJob.account_id == account_id)
        .order_by(SyncJob.created_at.desc())
        .limit(limit)
    )
    return list(jobs)


async def fetch_projects(
    *, database: Database, ace: AceClient, creds: SyncCredentials, account_id: str
) -> dict[str, dict[str, int]]:
    """`POST /projects/fetch-projects`: the projects the caller sees in ACE, upserted."""
    sync = _request_sync(database, ace=ace, creds=creds, account_id=account_id, since=None)
    await sync.sync_projects()
    return sync.tally.as_dict()


async def fetch_tasks(
    *,
    database: Database,
    ace: AceClient,
    settings: Settings,
    creds: SyncCredentials,
    account_id: str,
) -> dict[str, dict[str, int]]:
    """`POST /tasks/fetch-tasks`: the users and projects the caller sees, the caller's
    visible tasks (modified since the account's last watermark minus the overlap) and their
    assignees, upserted (users not mirrored yet become placeholders)."""
    async with database.session() as session:
        watermark = await last_watermark(session, account_id=account_id)
    since = watermark.date() - timedelta(days=settings.sync_overlap_days) if watermark else None
    sync = _request_sync(database, ace=ace, creds=creds, account_id=account_id, since=since)
    # The users first: assignees are read per user (new ones become placeholders).
    await sync.sync_users()
    await sync.sync_projects()
    await sync.sync_tasks()
    await sync.sync_assignees()
    return sync.tally.as_dict()


def _request_sync(
    database: Database,
    *,
    ace: AceClient,
    creds: SyncCredentials,
    account_id: str,
    since: date | None,
) -> AccountSync:
    today = utcnow().date()
    plan = SyncPlan(kind="incremental", modified_since=since, time_from=today, time_to=today)
    # Never tombstones: a request's view of ACE is the caller's, not the whole account.
    viewer = SyncCredentials(guid=creds.guid, is_admin=False)
    return AccountSync(
        ace=ace,
        creds=viewer,
        account_id=account_id,
        plan=plan,
        write=in_transactions(database),
        tally=SyncTally(),
    )


def in_transactions(database: Database) -> Writer[Any]:
    """A writer that runs each step in a short transaction of its own."""

    async def write(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with database.session() as session, session.begin():
            return await work(session)

    return write
