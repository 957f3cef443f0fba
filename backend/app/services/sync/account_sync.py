"""The account sync's phases, shared by jobs and the fetch endpoints, and `PHASES`, the table
a job runs them from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.dto import AceTimeEntry
from app.ace.errors import AceRequestRefusedError
from app.ace.port import AceApi
from app.ace.statuses import EMPTY as EMPTY_STATUSES
from app.ace.statuses import StatusList
from app.connection import dialect
from app.connection.database import Database
from app.connection.upsert import UpsertCounts
from app.models import Project, Task, TaskAssignee, TaskLog, User
from app.models.base import utcnow
from app.models.enums import SyncKind, SyncPhase
from app.models.sync_jobs import EntityCounts, JobCounts, JobError
from app.services.ace_identity import is_ace_admin
from app.services.sync import mirror as mirror_service
from app.services.sync.jobs import Heartbeat
from app.services.sync.mirror import StatusSnapshot, TaskBatch
from app.services.sync.plan import SyncPlan

T = TypeVar("T")
ASSIGNEE_USERS_PER_COMMIT = 25
TASKS_PER_WRITE = 2000
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


def in_transactions(database: Database, *, relax_durability: bool = False) -> Writer[Any]:
    """A writer that runs each step in a short transaction of its own (with
    `relax_durability`, one whose commit does not wait for the disk where the database
    allows it: a job's writes are idempotent and re-done by the next run)."""

    async def write(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with database.session() as session, session.begin():
            if relax_durability:
                await dialect.relax_commit_durability(session)
            return await work(session)

    return write


@dataclass(frozen=True, slots=True)
class SyncCredentials:
    """The ACE session a sync runs with. Tombstones need an ACE administrator's full view."""

    guid: str = field(repr=False)
    is_admin: bool


async def credentials_for(ace: AceApi, *, guid: str, ace_user_id: int | None) -> SyncCredentials:
    """The session's credentials, with whether its user is an ACE administrator."""
    is_admin = False
    if ace_user_id is not None:
        users = await ace.get_users(guid, user_id=ace_user_id)
        is_admin = any(u.user_id == ace_user_id and is_ace_admin(u) for u in users)
    return SyncCredentials(guid=guid, is_admin=is_admin)


@dataclass
class SyncTally:
    counts: dict[SyncPhase, UpsertCounts] = field(default_factory=dict)
    warnings: list[JobError] = field(default_factory=list)
    # ACE ids of the tasks the tasks phase read, and of those it inserted or changed: the
    # assignees phase mirrors the assignees of the read ones (full pass) or of the changed
    # ones (incremental run), whose ASSIGNED / REVIEWER texts it keeps in `changed_names`.
    seen_tasks: set[int] = field(default_factory=set)
    changed_tasks: set[int] = field(default_factory=set)
    changed_names: list[str] = field(default_factory=list)
    unknown_statuses: int = 0

    def of(self, entity: SyncPhase) -> UpsertCounts:
        return self.counts.setdefault(entity, UpsertCounts())

    def add(self, entity: SyncPhase, counts: UpsertCounts) -> None:
        total = self.of(entity)
        total += counts

    def warn(self, phase: SyncPhase, code: str, message: str) -> None:
        self.warnings.append({"phase": phase, "code": code, "message": message})

    def as_dict(self) -> JobCounts:
        return {entity.value: _entity_counts(counts) for entity, counts in self.counts.items()}

    def written(self, entity: SyncPhase) -> int:
        """Rows the run inserted, updated or deleted for `entity`."""
        counts = self.of(entity)
        return counts.inserted + counts.updated + counts.deleted


def _entity_counts(counts: UpsertCounts) -> EntityCounts:
    return {
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "deleted": counts.deleted,
    }


@dataclass
class AccountSync:
    ace: AceApi
    creds: SyncCredentials
    account_id: str
    plan: SyncPlan
    write: Writer[Any]
    tally: SyncTally
    # A job's (progress within a phase); the fetch endpoints run without one.
    heartbeat: Heartbeat | None = None
    # Whose sync this is: the user a status move seen in ACE is logged for (None: no logs).
    seen_by: int | None = None
    _statuses_before: StatusSnapshot | None = field(default=None, init=False, repr=False)

    @property
    def _tombstones(self) -> bool:
        return self.plan.kind == SyncKind.full and self.creds.is_admin

    async def _tick(self, phase: SyncPhase) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.tick(phase)

    async def sync_users(self) -> None:
        try:
            users = await self.ace.get_users(self.creds.guid)
        except AceRequestRefusedError:
            self.tally.warn(SyncPhase.users, "SKIPPED", "ACE refused to list users")
            return
        await self._mirror_listing(
            SyncPhase.users,
            User,
            partial(mirror_service.mirror_users, account_id=self.account_id, users=users),
            seen={u.user_id for u in users},
        )

    async def sync_projects(self) -> None:
        projects = await self.ace.get_projects(self.creds.guid)
        await self._mirror_listing(
            SyncPhase.projects,
            Project,
            partial(mirror_service.mirror_projects, account_id=self.account_id, projects=projects),
            seen={p.project_id for p in projects},
        )

    async def _mirror_listing(
        self,
        entity: SyncPhase,
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
        self.tally.of(SyncPhase.tasks)
        seen = self.tally.seen_tasks
        project_ids: dict[int, int] = await self.write(
            lambda s: mirror_service.project_ids_by_ace_id(s, account_id=self.account_id)
        )
        if self.seen_by is not None:
            seen_by = self.seen_by
            self._statuses_before = await self.write(
                lambda s: StatusSnapshot.read(s, account_id=self.account_id, user_id=seen_by)
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
                await self._tick(SyncPhase.tasks)
            await fetcher  # re-raises a fetch failure
        finally:
            fetcher.cancel()
        STATUS_LISTS.keep(self.account_id, statuses)
        if self.tally.unknown_statuses:
            self.tally.warn(
                SyncPhase.tasks,
                "UNKNOWN_STATUS",
                f"{self.tally.unknown_statuses} tasks have a status their "
                "project's status list does not know; their status type is left empty",
            )
        if self._tombstones:
            now = utcnow()
            deleted = await self.write(
                lambda s: mirror_service.tombstone(
                    s, model=Task, account_id=self.account_id, seen_ace_ids=seen, now=now
                )
            )
            self.tally.of(SyncPhase.tasks).deleted += deleted

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
            self.tally.warn(
                SyncPhase.tasks,
                "SKIPPED",
                f"ACE refused the status lists of {len(refused)} projects; "
                "their tasks have no status type",
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
                statuses_before=self._statuses_before,
            )
            self.tally.add(SyncPhase.tasks, counts)
            if skipped:
                self.tally.warn(
                    SyncPhase.tasks, "SKIPPED", f"{skipped} tasks of projects not mirrored"
                )

        await self.write(work)
        if self._statuses_before is not None:
            self._statuses_before.advance(batch)
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
        self.tally.of(SyncPhase.assignees)
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
        if self.plan.modified_since is not None:
            tasks = await mirror_service.task_ids_of(
                session, account_id=self.account_id, ace_task_ids=wanted
            )
        else:  # a full pass wants (nearly) every task: one read, not a lookup per 5,000 ids
            every = await mirror_service.task_ids_by_ace_id(session, account_id=self.account_id)
            tasks = {ace_id: own for ace_id, own in every.items() if ace_id in wanted}
        return users, tasks

    async def _assignees_per_user(
        self, users: dict[int, int], tasks: dict[int, int], *, scope: set[int], everyone: bool
    ) -> None:
        """Make the assignments of `users` to the tasks in `scope` ACE's; when `everyone`
        was asked, assignments of users ACE was not asked about go too."""
        counts = self.tally.of(SyncPhase.assignees)
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

        async def lists_of(batch: list[int]) -> list[tuple[set[int], set[int]] | None]:
            return await asyncio.gather(*(tasks_of(u) for u in batch))

        ace_user_ids = list(users)
        batches = [
            ace_user_ids[start : start + ASSIGNEE_USERS_PER_COMMIT]
            for start in range(0, len(ace_user_ids), ASSIGNEE_USERS_PER_COMMIT)
        ]
        # The next batch's lists are fetched while this one is written (calls share `limit`).
        ahead = asyncio.ensure_future(lists_of(batches[0])) if batches else None
        try:
            for at, batch in enumerate(batches):
                assert ahead is not None
                fetched = await ahead
                ahead = None
                if at + 1 < len(batches):
                    ahead = asyncio.ensure_future(lists_of(batches[at + 1]))
                counts += await self._write_user_assignments(
                    users, batch, fetched, tasks=tasks, scope=scope
                )
        finally:
            if ahead is not None:
                ahead.cancel()
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

    async def _write_user_assignments(
        self,
        users: dict[int, int],
        batch: list[int],
        fetched: list[tuple[set[int], set[int]] | None],
        *,
        tasks: dict[int, int],
        scope: set[int],
    ) -> UpsertCounts:
        found = {
            users[u]: lists for u, lists in zip(batch, fetched, strict=True) if lists is not None
        }
        self._warn_refused("users", len(batch) - len(found))
        write = partial(
            mirror_service.mirror_user_assignments,
            found=found,
            tasks=tasks,
            scope=scope,
            now=utcnow(),
        )
        written: UpsertCounts = await self.write(write)
        await self._tick(SyncPhase.assignees)
        return written

    def _warn_refused(self, what: str, refused: int) -> None:
        if refused:
            self.tally.warn(
                SyncPhase.assignees,
                "SKIPPED",
                f"ACE refused the assignees of {refused} {what}; kept as they were",
            )

    async def sync_time_entries(self) -> None:
        """Time entries window by window, the next windows fetched (two at a time) while
        one is written."""
        seen: set[tuple[int, date]] = set()
        tasks, users = await self.write(self._id_maps)
        windows = self.ace.iter_time_report(
            self.creds.guid,
            date_from=self.plan.time_from,
            date_to=self.plan.time_to,
            modified_since=self.plan.modified_since,
            in_flight=ACE_CONCURRENCY,
        )
        counts = self.tally.of(SyncPhase.time_entries)
        async with aclosing(windows):  # a failed write stops the fetches at once
            await self._write_time_windows(windows, tasks, users, seen)
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

    async def _write_time_windows(
        self,
        windows: AsyncIterator[list[AceTimeEntry]],
        tasks: dict[int, int],
        users: dict[int, int],
        seen: set[tuple[int, date]],
    ) -> None:
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
                self.tally.add(SyncPhase.time_entries, written)
                if skipped:
                    self.tally.warn(
                        SyncPhase.time_entries,
                        "SKIPPED",
                        f"{skipped} time entries of tasks or users not mirrored",
                    )

            await self.write(work)
            seen.update(entry.key for entry in window)
            await self._tick(SyncPhase.time_entries)

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


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of an account sync: what it runs, and the table it fills (whose planner
    statistics are refreshed after it)."""

    name: SyncPhase
    run: Callable[[AccountSync], Awaitable[None]]
    table: str


# The phases of a job, in the order they run: each reads what the ones before it wrote
# (tasks need their projects; assignees their users and tasks; time entries both).
PHASES: tuple[Phase, ...] = (
    Phase(SyncPhase.users, AccountSync.sync_users, User.__tablename__),
    Phase(SyncPhase.projects, AccountSync.sync_projects, Project.__tablename__),
    Phase(SyncPhase.tasks, AccountSync.sync_tasks, Task.__tablename__),
    Phase(SyncPhase.assignees, AccountSync.sync_assignees, TaskAssignee.__tablename__),
    Phase(SyncPhase.time_entries, AccountSync.sync_time_entries, TaskLog.__tablename__),
)
