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
from typing import Any, TypeVar

from sqlalchemy import Table, and_, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.ace.dto import AceProject, AceTask, AceTimeEntry, AceUser
from app.ace.statuses import StatusList
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
)
from app.services.bulk_upsert import UpsertCounts, bulk_upsert, bulk_upsert_columns

T = TypeVar("T")

USERS: Table = User.__table__  # type: ignore[assignment]
PROJECTS: Table = Project.__table__  # type: ignore[assignment]
TASKS: Table = Task.__table__  # type: ignore[assignment]
ASSIGNEES: Table = TaskAssignee.__table__  # type: ignore[assignment]
TASK_LOGS: Table = TaskLog.__table__  # type: ignore[assignment]

_PROJECT_FIELDS = (
    "name",
    "number",
    "description",
    "status",
    "type",
    "priority",
    "client_name",
    "percent_done",
    "ace_created_at",
    "ace_modified_at",
    "deleted_at",
)
_TASK_FIELDS = (
    "project_id",
    "number",
    "title",
    "description",
    "status",
    "status_type",
    "priority",
    "type",
    "group_name",
    "estimated_hours",
    "actual_hours",
    "percent_done",
    "expected_start",
    "expected_end",
    "actual_start",
    "actual_end",
    "ace_created_at",
    "ace_modified_at",
    "deleted_at",
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value is not None else None


async def mirror_users(
    session: AsyncSession, *, account_id: str, users: Sequence[AceUser], now: datetime
) -> UpsertCounts:
    """Upsert ACE users. New ones are inactive placeholders until the person signs in; a user
    ACE reports inactive or denied is deactivated; roles are never touched."""
    rows = [
        {
            "account_id": account_id,
            "ace_user_id": user.user_id,
            "username": _clip(user.username, 100),
            "first_name": _clip(user.first_name, 100),
            "last_name": _clip(user.last_name, 100),
            "email": _clip(user.email, 255),
            "role": RoleEnum.member,
            "auth_source": AuthSource.ace,
            "is_active": False,
            "synced_at": now,
            "deleted_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for user in _unique(users, lambda u: u.user_id)
    ]
    counts = await bulk_upsert(
        session,
        USERS,
        rows,
        keys=("account_id", "ace_user_id"),
        compare=("username", "first_name", "last_name", "email", "deleted_at"),
        touch=("synced_at", "updated_at"),
    )
    denied = [user.user_id for user in users if not user.can_sign_in]
    if denied:
        await session.execute(
            update(User)
            .where(User.account_id == account_id, User.ace_user_id.in_(denied), User.is_active)
            .values(is_active=False, updated_at=now)
        )
    return counts


async def mirror_projects(
    session: AsyncSession, *, account_id: str, projects: Sequence[AceProject], now: datetime
) -> UpsertCounts:
    rows = [
        {
            "account_id": account_id,
            "ace_project_id": p.project_id,
            "name": _clip(p.name, 255),
            "number": _clip(p.number, 100),
            "description": p.description,
            "status": _clip(p.status_name, 100),
            "type": _clip(p.type_name, 100),
            "priority": _clip(p.priority_name, 100),
            "client_name": _clip(p.client_name, 255),
            "percent_done": p.percent_done,
            "ace_created_at": _utc(p.created_at),
            "ace_modified_at": _utc(p.modified_at),
            "deleted_at": None,
            "synced_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for p in _unique(projects, lambda p: p.project_id)
    ]
    return await bulk_upsert(
        session,
        PROJECTS,
        rows,
        keys=("account_id", "ace_project_id"),
        compare=_PROJECT_FIELDS,
        touch=("synced_at", "updated_at"),
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
        return cls(
            {
                "ace_task_id": [t.task_id for t in tasks],
                "ace_project_id": [t.project_id for t in tasks],
                "number": [_clip(t.number, 50) for t in tasks],
                "title": [_clip(t.title, 500) for t in tasks],
                "description": [t.description for t in tasks],
                "status": [_clip(t.status_name, 100) for t in tasks],
                "status_type": types,
                "priority": [_clip(t.priority, 100) for t in tasks],
                "type": [_clip(t.type, 100) for t in tasks],
                "group_name": [_clip(t.group, 255) for t in tasks],
                "estimated_hours": [t.estimated_hours for t in tasks],
                "actual_hours": [t.actual_hours for t in tasks],
                "percent_done": [t.percent_done for t in tasks],
                "expected_start": [t.expected_start for t in tasks],
                "expected_end": [t.expected_end for t in tasks],
                "actual_start": [t.actual_start for t in tasks],
                "actual_end": [t.actual_end for t in tasks],
                "ace_created_at": [_utc(t.created_at) for t in tasks],
                "ace_modified_at": [_utc(t.modified_at) for t in tasks],
            },
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
) -> tuple[UpsertCounts, int]:
    """Upsert tasks; returns the counts and how many tasks were skipped because their project
    is not mirrored (ACE listed a task of a project it did not list). The ACE ids of the
    tasks inserted or updated are appended to `changed`."""
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
        "deleted_at": [None] * count,
        "synced_at": [now] * count,
        "created_at": [now] * count,
        "updated_at": [now] * count,
    }
    counts = await bulk_upsert_columns(
        session,
        TASKS,
        columns,
        keys=("account_id", "ace_task_id"),
        compare=_TASK_FIELDS,
        touch=("synced_at", "updated_at"),
        changed_keys=changed,
    )
    return counts, len(last) - count


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
    wanted: dict[tuple[int, int], dict[str, Any]] = {}
    for user_id, (assigned, reviewing) in found.items():
        for ace_task_id in assigned | reviewing:
            task_id = tasks.get(ace_task_id)
            if task_id is not None:
                wanted[(task_id, user_id)] = {
                    "task_id": task_id,
                    "user_id": user_id,
                    "is_assignee": ace_task_id in assigned,
                    "is_reviewer": ace_task_id in reviewing,
                    "synced_at": now,
                }
    counts = await bulk_upsert(
        session,
        ASSIGNEES,
        list(wanted.values()),
        keys=("task_id", "user_id"),
        compare=("is_assignee", "is_reviewer"),
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
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
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
    rows: list[dict[str, Any]] = []
    skipped = 0
    for entry in _unique(entries, lambda e: e.key):
        task_id = tasks.get(entry.task_id) if entry.task_id is not None else None
        user_id = users.get(entry.creator_user_id) if entry.creator_user_id else None
        if task_id is None or user_id is None:
            skipped += 1
            continue
        rows.append(
            {
                "account_id": account_id,
                "task_id": task_id,
                "user_id": user_id,
                "kind": TaskLogKind.time.value,
                "date_worked": entry.date_worked,
                "hours": entry.total_hours,
                "comment": entry.comment,
                "source": TaskLogSource.ace.value,
                "ace_timesheet_line_id": entry.timesheet_line_id,
                "created_at": now,
                "updated_at": now,
            }
        )
    counts = await bulk_upsert(
        session,
        TASK_LOGS,
        rows,
        keys=("account_id", "ace_timesheet_line_id", "date_worked"),
        compare=("task_id", "user_id", "hours", "comment"),
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
        marked += int(result.rowcount)  # type: ignore[attr-defined]
    return marked


async def _delete_ids(session: AsyncSession, model: type[TaskLog], ids: list[int]) -> int:
    deleted = 0
    for start in range(0, len(ids), 5000):
        result = await session.execute(delete(model).where(model.id.in_(ids[start : start + 5000])))
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
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
