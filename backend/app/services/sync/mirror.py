"""Writes what ACE returned into the mirror tables, set-based, with counts per entity.

The functions take what ACE answered for one account (DTOs of app/ace/dto.py, tasks already
turned into columns as a `TaskBatch`, or the ids of each user's tasks) and upsert it keyed by
(account, ACE id); unchanged rows are not touched. Deletions are mirrored by `tombstone`
during a full pass: rows no longer returned by ACE get `deleted_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Final, TypeVar

from sqlalchemy import Enum, String, Table, and_, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.ace.dto import AceProject, AceTask, AceTimeEntry, AceUser
from app.ace.statuses import StatusList
from app.connection.database import rows_affected
from app.connection.upsert import UpsertCounts, upsert_columns
from app.models import (
    AuthSource,
    Project,
    RoleEnum,
    Task,
    TaskAssignee,
    TaskLog,
    TaskLogKind,
    TaskLogSource,
    User,
    table_of,
)
from app.services.ace_identity import may_sign_in

T = TypeVar("T")

USERS: Final = table_of(User)
PROJECTS: Final = table_of(Project)
TASKS: Final = table_of(Task)
ASSIGNEES: Final = table_of(TaskAssignee)
TASK_LOGS: Final = table_of(TaskLog)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@cache
def _lengths(table: Table) -> dict[str, int]:
    return {
        c.name: c.type.length
        for c in table.columns
        if isinstance(c.type, String) and not isinstance(c.type, Enum) and c.type.length
    }


def _fitted(table: Table, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """ACE's text cut to the length of the column it goes in (ACE documents no limits of
    its own, and one long value must not fail a whole sync)."""
    for name, length in _lengths(table).items():
        values = columns.get(name)
        if values is not None:
            columns[name] = [v[:length] if v is not None else None for v in values]
    return columns


async def mirror_users(
    session: AsyncSession, *, account_id: str, users: Sequence[AceUser], now: datetime
) -> UpsertCounts:
    """Upsert ACE users. New ones are inactive placeholders until the person signs in; a user
    ACE reports inactive or denied is deactivated; roles are never touched."""
    unique = _unique(users, lambda u: u.user_id)
    count = len(unique)
    columns: dict[str, list[Any]] = {
        "account_id": [account_id] * count,
        "ace_user_id": [user.user_id for user in unique],
        "username": [user.username for user in unique],
        "first_name": [user.first_name for user in unique],
        "last_name": [user.last_name for user in unique],
        "email": [user.email for user in unique],
        # Written on insert only: a new user is a placeholder until the person signs in.
        "role": [RoleEnum.member] * count,
        "auth_source": [AuthSource.ace] * count,
        "is_active": [False] * count,
        **_stamps(now, count, synced=True),
    }
    counts = await upsert_columns(
        session,
        USERS,
        _fitted(USERS, columns),
        keys=("account_id", "ace_user_id"),
        update=("username", "first_name", "last_name", "email"),
        touch=_TOUCHED,
    )
    denied = [user.user_id for user in users if not may_sign_in(user)]
    if denied:
        await session.execute(
            update(User)
            .where(User.account_id == account_id, User.ace_user_id.in_(denied), User.is_active)
            .values(is_active=False, updated_at=now)
        )
    return counts


_TOUCHED: Final = ("synced_at", "updated_at")


def _stamps(now: datetime, count: int, *, synced: bool) -> dict[str, list[Any]]:
    """The row timestamps of `count` mirrored rows written at `now`."""
    stamps = {"created_at": [now] * count, "updated_at": [now] * count}
    if synced:
        stamps["synced_at"] = [now] * count
    return stamps


async def mirror_projects(
    session: AsyncSession, *, account_id: str, projects: Sequence[AceProject], now: datetime
) -> UpsertCounts:
    unique = _unique(projects, lambda p: p.project_id)
    columns: dict[str, list[Any]] = {
        "account_id": [account_id] * len(unique),
        "ace_project_id": [p.project_id for p in unique],
        "name": [p.name for p in unique],
        "number": [p.number for p in unique],
        "description": [p.description for p in unique],
        "status": [p.status_name for p in unique],
        "type": [p.type_name for p in unique],
        "priority": [p.priority_name for p in unique],
        "client_name": [p.client_name for p in unique],
        "percent_done": [p.percent_done for p in unique],
        "ace_created_at": [_utc(p.created_at) for p in unique],
        "ace_modified_at": [_utc(p.modified_at) for p in unique],
        **_stamps(now, len(unique), synced=True),
    }
    return await upsert_columns(
        session,
        PROJECTS,
        _fitted(PROJECTS, columns),
        keys=("account_id", "ace_project_id"),
        touch=_TOUCHED,
    )


@dataclass
class TaskBatch:
    """ACE tasks column by column (`ace_project_id` still ACE's), as `mirror_tasks` sends
    them. A sync turns each page into one as soon as it arrives: its DTOs then die young,
    where DTOs queued for a write lived long enough for the garbage collector's full passes
    to trace them again and again. `names` keeps each task's `ASSIGNED` and `REVIEWER`
    display text (not stored: it only tells an incremental run whom to ask about
    assignments); `unknown_statuses` counts tasks whose status their project's list lacks."""

    columns: dict[str, list[Any]]
    names: list[str] = field(default_factory=list)
    unknown_statuses: int = 0

    @classmethod
    def of(cls, tasks: Sequence[AceTask], statuses: Mapping[int, StatusList]) -> TaskBatch:
        lists = [statuses.get(t.project_id) for t in tasks]
        types = [_status_type(t, status_list) for t, status_list in zip(tasks, lists, strict=True)]
        unknown = sum(
            1
            for t, status_list in zip(tasks, lists, strict=True)
            if _has_status(t) and (status_list is None or not status_list.knows(t))
        )
        columns: dict[str, list[Any]] = {
            "ace_task_id": [t.task_id for t in tasks],
            "ace_project_id": [t.project_id for t in tasks],
            "number": [t.number for t in tasks],
            "title": [t.title for t in tasks],
            "description": [t.description for t in tasks],
            "status": [t.status_name for t in tasks],
            "status_type": types,
            "priority": [t.priority for t in tasks],
            "type": [t.type for t in tasks],
            "group_name": [t.group for t in tasks],
            "estimated_hours": [t.estimated_hours for t in tasks],
            "actual_hours": [t.actual_hours for t in tasks],
            "percent_done": [t.percent_done for t in tasks],
            "expected_start": [t.expected_start for t in tasks],
            "expected_end": [t.expected_end for t in tasks],
            "actual_start": [t.actual_start for t in tasks],
            "actual_end": [t.actual_end for t in tasks],
            "ace_created_at": [_utc(t.created_at) for t in tasks],
            "ace_modified_at": [_utc(t.modified_at) for t in tasks],
        }
        return cls(
            _fitted(TASKS, columns),
            names=[f"{t.assigned or ''}\n{t.reviewer or ''}" for t in tasks],
            unknown_statuses=unknown,
        )

    def __len__(self) -> int:
        return len(self.columns["ace_task_id"])

    @property
    def task_ids(self) -> list[int]:
        return self.columns["ace_task_id"]

    @property
    def project_ids(self) -> list[int]:
        """ACE's project ids, one per task."""
        return self.columns["ace_project_id"]

    def extend(self, other: TaskBatch) -> None:
        for name, values in self.columns.items():
            values.extend(other.columns[name])
        self.names.extend(other.names)
        self.unknown_statuses += other.unknown_statuses

    def take(self, indexes: list[int]) -> TaskBatch:
        return TaskBatch(
            {name: [col[i] for i in indexes] for name, col in self.columns.items()},
            names=[self.names[i] for i in indexes],
        )


async def mirror_tasks(
    session: AsyncSession,
    *,
    account_id: str,
    tasks: TaskBatch,
    project_ids: dict[int, int],
    now: datetime,
    changed: list[int] | None = None,
    statuses_before: StatusSnapshot | None = None,
) -> tuple[UpsertCounts, int]:
    """Upsert tasks; returns the counts and how many tasks were skipped because their project
    is not mirrored (ACE listed a task of a project it did not list). The ACE ids of the
    tasks inserted or updated are appended to `changed`.

    With `statuses_before` (the statuses stored when the sync began), a stored task whose
    status ACE now reports differently gets a `status_change` log (old → new, source `ace`,
    dated the day ACE last modified the task), attributed to the snapshot's user: ACE does not
    say who moved it. A task seen for the first time has no log: nothing moved."""
    # The last row per ACE id (ACE may repeat a row; an upsert must see each key once), in
    # the order of first appearance, as `_unique` keeps it.
    last = {task_id: index for index, task_id in enumerate(tasks.task_ids)}
    project_of = [project_ids.get(p) for p in tasks.project_ids]
    kept = [i for i in last.values() if project_of[i] is not None]
    if len(kept) != len(tasks):
        tasks = tasks.take(kept)
        project_of = [project_of[i] for i in kept]
    count = len(kept)
    columns: dict[str, list[Any]] = {
        "account_id": [account_id] * count,
        "ace_task_id": tasks.task_ids,
        "project_id": project_of,
        **{name: values for name, values in tasks.columns.items() if name != "ace_project_id"},
        **_stamps(now, count, synced=True),
    }
    written: list[int] = []
    counts = await upsert_columns(
        session,
        TASKS,
        columns,
        keys=("account_id", "ace_task_id"),
        touch=_TOUCHED,
        changed_keys=written,
    )
    if changed is not None:
        changed.extend(written)
    if statuses_before is not None and statuses_before.by_ace_id:
        await _log_status_moves(session, account_id, tasks, statuses_before, written, now)
    return counts, len(last) - count


@dataclass
class StatusSnapshot:
    """The account's stored task statuses when a sync began, and whose sync it is.

    Read once per sync, in one statement: a lookup per page would be planned on the
    statistics of before the sync, which on a table the sync is filling make PostgreSQL scan
    the whole account for every page. Once a page is written, `advance` takes its statuses
    in, so a task ACE lists twice is logged once."""

    user_id: int
    by_ace_id: dict[int, tuple[int, str | None]]

    def advance(self, tasks: TaskBatch) -> None:
        """Take in the statuses of a page that was written (and committed)."""
        for ace_id, status in zip(tasks.task_ids, tasks.columns["status"], strict=True):
            stored = self.by_ace_id.get(ace_id)
            if stored is not None:
                self.by_ace_id[ace_id] = (stored[0], status)

    @classmethod
    async def read(cls, session: AsyncSession, *, account_id: str, user_id: int) -> StatusSnapshot:
        rows = await session.execute(
            select(Task.ace_task_id, Task.id, Task.status).where(Task.account_id == account_id)
        )
        names: dict[str, str] = {}  # one string object per distinct status
        return cls(
            user_id,
            {
                ace_id: (task_id, None if status is None else names.setdefault(status, status))
                for ace_id, task_id, status in rows
            },
        )


async def _log_status_moves(
    session: AsyncSession,
    account_id: str,
    tasks: TaskBatch,
    snapshot: StatusSnapshot,
    written: list[int],
    now: datetime,
) -> None:
    before = snapshot.by_ace_id
    index = {task_id: i for i, task_id in enumerate(tasks.task_ids)}
    statuses = tasks.columns["status"]
    modified = tasks.columns["ace_modified_at"]
    moves = []
    for ace_id in written:
        stored = before.get(ace_id)
        i = index[ace_id]
        if stored is None or stored[1] == statuses[i]:
            continue
        moves.append(
            {
                "account_id": account_id,
                "task_id": stored[0],
                "user_id": snapshot.user_id,
                "kind": TaskLogKind.status_change,
                "date_worked": (modified[i] or now).date(),
                "old_status": stored[1],
                "new_status": statuses[i],
                "source": TaskLogSource.ace,
                "created_at": now,
                "updated_at": now,
            }
        )
    if moves:
        await session.execute(insert(TaskLog), moves)


def _has_status(task: AceTask) -> bool:
    return task.status_id is not None or bool(task.status_name)


def _status_type(task: AceTask, statuses: StatusList | None) -> str | None:
    status_type = statuses.type_of(task) if statuses is not None else None
    return status_type.value if status_type else None


async def mirror_user_assignments(
    session: AsyncSession,
    *,
    found: Mapping[int, tuple[set[int], set[int]]],
    tasks: Mapping[int, int],
    scope: set[int],
    now: datetime,
) -> UpsertCounts:
    """Make the assignments of the users in `found` ({acehub user id: (ACE ids of the tasks
    ACE lists them as assignee of, as reviewer of)}) to the tasks in `scope` (acehub ids)
    exactly what ACE listed: upsert those, delete the others. ACE task ids map through
    `tasks`; unknown ones are skipped. Assigned hours are not in ACE's task lists: a new row
    has none, an existing row keeps its own."""
    wanted: dict[tuple[int, int], tuple[bool, bool]] = {}
    for user_id, (assigned, reviewing) in found.items():
        for ace_task_id in assigned | reviewing:
            task_id = tasks.get(ace_task_id)
            if task_id is not None:
                wanted[(task_id, user_id)] = (ace_task_id in assigned, ace_task_id in reviewing)
    counts = await upsert_columns(
        session,
        ASSIGNEES,
        {
            "task_id": [task_id for task_id, _ in wanted],
            "user_id": [user_id for _, user_id in wanted],
            "is_assignee": [roles[0] for roles in wanted.values()],
            "is_reviewer": [roles[1] for roles in wanted.values()],
            "synced_at": [now] * len(wanted),
        },
        keys=("task_id", "user_id"),
        touch=("synced_at",),
    )
    counts.deleted = await _delete_assignments(
        session, of=TaskAssignee.user_id, ids=list(found), scope=scope, keep=set(wanted)
    )
    return counts


async def drop_other_users_assignments(
    session: AsyncSession, *, account_id: str, scope: set[int], asked: set[int]
) -> int:
    """Delete the assignments to tasks in `scope` of the account's users not in `asked` (the
    users ACE was asked about): users deleted upstream, or no longer ACE users."""
    others = await session.scalars(
        select(User.id).where(User.account_id == account_id, User.id.not_in(asked))
    )
    return await _delete_assignments(
        session, of=TaskAssignee.user_id, ids=list(others), scope=scope, keep=set()
    )


async def _delete_assignments(
    session: AsyncSession,
    *,
    of: InstrumentedAttribute[int],
    ids: list[int],
    keep: set[tuple[int, int]],
    scope: set[int] | None = None,
) -> int:
    """Delete the assignments whose `of` column (task or user id) is in `ids`, except the
    (task id, user id) pairs in `keep`; with `scope`, only those of tasks in it."""
    gone: list[tuple[int, int]] = []
    for start in range(0, len(ids), 5000):
        current = await session.execute(
            select(TaskAssignee.task_id, TaskAssignee.user_id).where(
                of.in_(ids[start : start + 5000])
            )
        )
        gone.extend(
            (task_id, user_id)
            for task_id, user_id in current.all()
            if (scope is None or task_id in scope) and (task_id, user_id) not in keep
        )
    deleted = 0
    for start in range(0, len(gone), 5000):
        result = await session.execute(
            delete(TaskAssignee).where(
                tuple_(TaskAssignee.task_id, TaskAssignee.user_id).in_(gone[start : start + 5000])
            )
        )
        deleted += rows_affected(result)
    return deleted


async def mirror_time_entries(
    session: AsyncSession,
    *,
    account_id: str,
    entries: Sequence[AceTimeEntry],
    tasks: Mapping[int, int],
    users: Mapping[int, int],
    now: datetime,
) -> tuple[UpsertCounts, int]:
    """Upsert ACE time entries as `task_logs` (kind `time`, source `ace`), mapping ACE ids
    through `tasks` / `users`; returns the counts and how many entries were skipped (task or
    user not mirrored)."""
    kept: list[tuple[AceTimeEntry, int, int]] = []
    skipped = 0
    for entry in _unique(entries, lambda e: e.key):
        task_id = tasks.get(entry.task_id) if entry.task_id is not None else None
        user_id = users.get(entry.creator_user_id) if entry.creator_user_id else None
        if task_id is None or user_id is None:
            skipped += 1
            continue
        kept.append((entry, task_id, user_id))
    count = len(kept)
    counts = await upsert_columns(
        session,
        TASK_LOGS,
        {
            "account_id": [account_id] * count,
            "task_id": [task_id for _, task_id, _ in kept],
            "user_id": [user_id for _, _, user_id in kept],
            "kind": [TaskLogKind.time.value] * count,
            "date_worked": [entry.date_worked for entry, _, _ in kept],
            "hours": [entry.total_hours for entry, _, _ in kept],
            "comment": [entry.comment for entry, _, _ in kept],
            "source": [TaskLogSource.ace.value] * count,
            "ace_timesheet_line_id": [entry.timesheet_line_id for entry, _, _ in kept],
            **_stamps(now, count, synced=False),
        },
        keys=("account_id", "ace_timesheet_line_id", "date_worked"),
        update=("task_id", "user_id", "hours", "comment"),
        touch=("updated_at",),
    )
    return counts, skipped


async def delete_missing_time_entries(
    session: AsyncSession,
    *,
    account_id: str,
    first: date,
    last: date,
    seen: set[tuple[int, date]],
) -> int:
    """Delete ACE-sourced logs in [first, last] that ACE no longer returns."""
    rows = await session.execute(
        select(TaskLog.id, TaskLog.ace_timesheet_line_id, TaskLog.date_worked).where(
            TaskLog.account_id == account_id,
            TaskLog.source == TaskLogSource.ace,
            TaskLog.date_worked.between(first, last),
        )
    )
    gone = [row.id for row in rows if (row.ace_timesheet_line_id, row.date_worked) not in seen]
    return await _delete_ids(session, TaskLog, gone)


async def tombstone(
    session: AsyncSession,
    *,
    model: type[Project] | type[Task] | type[User],
    account_id: str,
    seen_ace_ids: set[int],
    now: datetime,
) -> int:
    """Mark rows of the account that ACE no longer returns as deleted (`deleted_at`)."""
    ace_id = {Project: Project.ace_project_id, Task: Task.ace_task_id, User: User.ace_user_id}[
        model
    ]
    conditions = [model.account_id == account_id, model.deleted_at.is_(None)]
    if model is User:
        conditions.append(User.auth_source == AuthSource.ace)
    rows = await session.execute(select(model.id, ace_id).where(and_(*conditions)))
    gone = [row[0] for row in rows if row[1] not in seen_ace_ids]
    marked = 0
    for start in range(0, len(gone), 5000):
        values: dict[str, Any] = {"deleted_at": now, "updated_at": now}
        if model is User:
            values["is_active"] = False
        result = await session.execute(
            update(model).where(model.id.in_(gone[start : start + 5000])).values(**values)
        )
        marked += rows_affected(result)
    return marked


async def _delete_ids(session: AsyncSession, model: type[TaskLog], ids: list[int]) -> int:
    deleted = 0
    for start in range(0, len(ids), 5000):
        result = await session.execute(delete(model).where(model.id.in_(ids[start : start + 5000])))
        deleted += rows_affected(result)
    return deleted


async def project_ids_by_ace_id(session: AsyncSession, *, account_id: str) -> dict[int, int]:
    rows = await session.execute(
        select(Project.ace_project_id, Project.id).where(Project.account_id == account_id)
    )
    return {row[0]: row[1] for row in rows}


async def task_ids_by_ace_id(session: AsyncSession, *, account_id: str) -> dict[int, int]:
    rows = await session.execute(
        select(Task.ace_task_id, Task.id).where(Task.account_id == account_id)
    )
    return {row[0]: row[1] for row in rows}


async def user_ids(session: AsyncSession, *, account_id: str, live: bool = False) -> dict[int, int]:
    """{ACE user id: acehub user id} of the account's ACE users (`live`: only those not
    deleted upstream), in ACE id order."""
    conditions = [User.account_id == account_id, User.ace_user_id.is_not(None)]
    if live:
        conditions.append(User.deleted_at.is_(None))
    rows = await session.execute(
        select(User.ace_user_id, User.id).where(*conditions).order_by(User.ace_user_id)
    )
    return {ace_id: row_id for ace_id, row_id in rows.all() if ace_id is not None}


async def task_ids_of(
    session: AsyncSession, *, account_id: str, ace_task_ids: Iterable[int]
) -> dict[int, int]:
    """{ACE task id: acehub task id} of the given tasks of the account that are mirrored."""
    wanted = sorted(set(ace_task_ids))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), 5000):
        rows = await session.execute(
            select(Task.ace_task_id, Task.id).where(
                Task.account_id == account_id, Task.ace_task_id.in_(wanted[start : start + 5000])
            )
        )
        found.update({row[0]: row[1] for row in rows})
    return found


def _unique(items: Iterable[T], key: Callable[[T], Hashable]) -> list[T]:
    """Keep the last item per key (ACE may repeat a row; an upsert must see each key once)."""
    by_key: dict[Hashable, T] = {}
    for item in items:
        by_key[key(item)] = item
    return list(by_key.values())


async def assignment_candidates(
    session: AsyncSession, *, account_id: str, scope: set[int], names: Iterable[str]
) -> set[int] | None:
    """The acehub ids of the users an incremental run asks about the tasks in `scope`
    (acehub ids): those assigned to them now, and those whose name appears in the tasks'
    `ASSIGNED` / `REVIEWER` display text. ACE documents no format for that text, so it only
    chooses whom to ask; the answer comes from ACE's per-user task lists. None (ask everyone)
    when some text names nobody acehub knows."""
    assigned: set[int] = set()
    ids = sorted(scope)
    for start in range(0, len(ids), 5000):
        rows = await session.scalars(
            select(TaskAssignee.user_id)
            .where(TaskAssignee.task_id.in_(ids[start : start + 5000]))
            .distinct()
        )
        assigned.update(rows)
    users = (
        await session.execute(
            select(User.id, User.username, User.first_name, User.last_name).where(
                User.account_id == account_id,
                User.ace_user_id.is_not(None),
                User.deleted_at.is_(None),
            )
        )
    ).all()
    spellings = [(row.id, _spellings(row.username, row.first_name, row.last_name)) for row in users]
    for text in {t.casefold() for t in names if t.strip()}:
        named = {user_id for user_id, words in spellings if any(w in text for w in words)}
        if not named:
            return None
        assigned |= named
    return assigned


def _spellings(username: str, first: str | None, last: str | None) -> list[str]:
    full = " ".join(part for part in (first, last) if part)
    return [name.casefold() for name in (full, username) if name and name.strip()]
