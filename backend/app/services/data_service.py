"""Batch save (`POST /data/save`): a whole batch validated first, then written set-based.

How a batch is handled:

1. `prepare_batch` (a worker thread, no database): parse and validate the raw body, apply
   the item cap, refuse duplicate keys, and lay every entity out column by column, sorted by
   its key.
2. `save_batch` (the request's transaction): check that every reference (a task's project,
   an assignee's or log's task and user) is in the batch or stored, alive, in the caller's
   account, locking the stored ones against deletion; then one `INSERT .. SELECT ..
   ON CONFLICT DO UPDATE .. WHERE <some column differs>` per entity, in the order users,
   projects, tasks, assignees, task logs. Rows are resolved to internal ids by joins inside
   those statements; no ORM object is made per row.

Guarantees:

- All or nothing: any problem (shape, field, duplicate, missing reference) is reported as a
  whole list before anything is written, and a failure while writing rolls everything back
  (the request's unit of work commits only when the route returns).
- Idempotent: an update happens only when some column differs, so the same batch again
  changes nothing and reports every item `unchanged` (no `updated_at` bump either).
- An item is the full client-settable state of its row: an omitted optional field is stored
  as null (booleans as their default). Saving never deletes rows, and saving an item revives
  a row that a sync had marked deleted.
- Users: a new one is an inactive ACE placeholder with the member role; an existing ACE
  user gets the item's profile fields, never a new role or active flag; a local account
  (`auth_source=local`) is left as it is (counted unchanged).
- Concurrent batches: each row ends equal to one whole batch's item, never a mix, and no
  batch's change is lost unless a later batch rewrote the same row. On PostgreSQL,
  `ON CONFLICT DO UPDATE` locks each row it inserts or updates until commit; a concurrent
  writer of the same row waits, then re-reads the committed row and applies its own
  complete version. Every batch takes those locks in one global order (entity, then key),
  so two batches cannot deadlock (were one ever aborted as a deadlock or serialization
  failure, the answer is 409 `CONFLICT`: resend). On SQLite each write transaction holds
  the database's write lock from its first statement to its commit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

from sqlalchemy import BigInteger, FromClause, String, Table, and_, false, literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import runtime
from app.connection.upsert import UpsertCounts, column_types, incoming, upsert
from app.dto import save_dto
from app.dto.response import ErrorCode
from app.dto.save_dto import EntityCounts, Problem, SaveBatch, SaveResult
from app.errors import AppError, ConflictError, ValidationFailed
from app.models import (
    AuthSource,
    Project,
    RoleEnum,
    Task,
    TaskAssignee,
    TaskLog,
    TaskLogSource,
    User,
    table_of,
)
from app.models.base import UTCDateTime, utcnow

log = logging.getLogger(__name__)

USERS: Final = table_of(User)
PROJECTS: Final = table_of(Project)
TASKS: Final = table_of(Task)
ASSIGNEES: Final = table_of(TaskAssignee)
TASK_LOGS: Final = table_of(TaskLog)

# PostgreSQL deadlock and serialization failures: the batch lost a race; it may be resent.
_RETRYABLE_SQLSTATES: Final = frozenset({"40P01", "40001"})


# --- preparation (no database) ------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """One entity's items, column by column, sorted by key; `positions` are the items'
    indexes in the payload list (for error messages)."""

    entity: str
    columns: dict[str, list[Any]]
    positions: list[int]

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class PreparedBatch:
    users: Rows
    projects: Rows
    tasks: Rows
    assignees: Rows
    ace_logs: Rows  # keyed by (ace_timesheet_line_id, date_worked)
    local_logs: Rows  # keyed by client_id

    @property
    def item_count(self) -> int:
        return sum(len(rows) for rows in self._all())

    def _all(self) -> tuple[Rows, ...]:
        return (
            self.users,
            self.projects,
            self.tasks,
            self.assignees,
            self.ace_logs,
            self.local_logs,
        )


_USER_FIELDS: Final = ("ace_user_id", "username", "first_name", "last_name", "email")
_PROJECT_FIELDS: Final = tuple(save_dto.ProjectItem.model_fields)
_TASK_FIELDS: Final = tuple(save_dto.TaskItem.model_fields)
_ASSIGNEE_FIELDS: Final = tuple(save_dto.AssigneeItem.model_fields)
_LOG_FIELDS: Final = (
    "ace_task_id",
    "ace_user_id",
    "kind",
    "date_worked",
    "hours",
    "comment",
    "old_status",
    "new_status",
)


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while batches are parsed.

    A batch of 30k items makes ~100k new container objects, which trigger repeated full
    collections over everything the process holds: measured, those took 60-75 % of the parse
    time. The objects are acyclic, so reference counting frees them as before; collection
    resumes when the last batch being parsed is done (the pause nests across threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._resume:
                    gc.enable()


_collector_paused = _CollectorPause()


async def prepare_batch(raw: bytes, *, max_items: int) -> PreparedBatch:
    """Validate the raw body off the event loop; raises `ValidationFailed` (422) listing every
    problem, or `PAYLOAD_TOO_LARGE` (413) when the batch has more items than allowed."""
    return await asyncio.to_thread(_prepare, raw, max_items)


def _prepare(raw: bytes, max_items: int) -> PreparedBatch:
    with _collector_paused():
        return _prepare_unpaused(raw, max_items)


def _prepare_unpaused(raw: bytes, max_items: int) -> PreparedBatch:
    parsed = save_dto.parse_save_batch(raw)
    if not isinstance(parsed, SaveBatch):
        raise _invalid(parsed)
    if parsed.item_count > max_items:
        raise AppError(
            f"The batch has {parsed.item_count} items; at most {max_items} are accepted per "
            "request (send it in smaller batches)",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    problems: list[Problem] = []
    ace_logs = [(i, item) for i, item in enumerate(parsed.task_logs) if item.client_id is None]
    local_logs = [(i, item) for i, item in enumerate(parsed.task_logs) if item.client_id]
    prepared = PreparedBatch(
        users=_rows(
            "users", list(enumerate(parsed.users)), _USER_FIELDS, ("ace_user_id",), problems
        ),
        projects=_rows(
            "projects",
            list(enumerate(parsed.projects)),
            _PROJECT_FIELDS,
            ("ace_project_id",),
            problems,
        ),
        tasks=_rows(
            "tasks", list(enumerate(parsed.tasks)), _TASK_FIELDS, ("ace_task_id",), problems
        ),
        assignees=_rows(
            "assignees",
            list(enumerate(parsed.assignees)),
            _ASSIGNEE_FIELDS,
            ("ace_task_id", "ace_user_id"),
            problems,
        ),
        ace_logs=_rows(
            "task_logs",
            ace_logs,
            ("ace_timesheet_line_id", *_LOG_FIELDS),
            ("ace_timesheet_line_id", "date_worked"),
            problems,
        ),
        local_logs=_rows(
            "task_logs", local_logs, ("client_id", *_LOG_FIELDS), ("client_id",), problems
        ),
    )
    if problems:
        raise _invalid(problems)
    # Internal ids of users the batch may create (ignored for users that exist already).
    prepared.users.columns["guid"] = [uuid.uuid4() for _ in prepared.users.positions]
    return prepared


def _rows(
    entity: str,
    indexed: list[tuple[int, Any]],
    fields: Sequence[str],
    key: Sequence[str],
    problems: list[Problem],
) -> Rows:
    """Sort by key (the order rows are written, hence locked, in) and refuse repeated keys."""
    key_of = attrgetter(*key)
    indexed.sort(key=lambda pair: key_of(pair[1]))  # stable: the first of equal keys stays first
    previous: Any = object()
    first = -1
    for position, item in indexed:
        current = key_of(item)
        if current == previous:
            problems.append(
                Problem(
                    entity=entity,
                    index=position,
                    field=",".join(key),
                    message=f"repeats the key of {entity}[{first}]; each item must be unique",
                )
            )
        else:
            previous, first = current, position
    items = [item for _, item in indexed]
    columns = {name: list(map(attrgetter(name), items)) for name in fields}
    return Rows(entity, columns, [position for position, _ in indexed])


def _invalid(problems: list[Problem]) -> ValidationFailed:
    listed = problems[: save_dto.MAX_LISTED_PROBLEMS]
    first = listed[0]
    where = first.entity or "body"
    if first.index is not None:
        where += f"[{first.index}]"
    if first.field:
        where += f".{first.field}"
    message = f"The batch was not saved: {len(problems)} problem(s), first {where}: {first.message}"
    if len(problems) > len(listed):
        message += f" (the first {len(listed)} are listed)"
    return ValidationFailed(message, data=[problem.model_dump() for problem in listed])


# --- saving (one transaction) ----------------------------------------------------------------


async def save_batch(session: AsyncSession, *, account_id: str, batch: PreparedBatch) -> SaveResult:
    """Write a prepared batch into `account_id`; all of it or (raising) none of it."""
    await _check_references(session, account_id, batch)
    now = utcnow()
    try:
        result = SaveResult(
            users=await _save_users(session, account_id, batch.users, now),
            projects=await _save_projects(session, account_id, batch.projects, now),
            tasks=await _save_tasks(session, account_id, batch.tasks, now),
            assignees=await _save_assignees(session, account_id, batch.assignees),
            task_logs=_sum(
                await _save_logs(session, account_id, batch.ace_logs, now, ace_keyed=True),
                await _save_logs(session, account_id, batch.local_logs, now, ace_keyed=False),
            ),
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            raise ConflictError(
                "Another save changed the same rows at the same moment; send the batch again"
            ) from exc
        raise
    log.info(
        "batch saved",
        extra={"account_id": account_id, "items": batch.item_count},
    )
    runtime.collect_after_batch()
    return result


_TABLES_BY_ENTITY: Final = {
    "users": USERS,
    "projects": PROJECTS,
    "tasks": TASKS,
    "assignees": ASSIGNEES,
    "task_logs": TASK_LOGS,
}


def rows_written(result: SaveResult) -> dict[str, int]:
    """Rows inserted or updated per table name (a save deletes nothing), for
    `refresh_statistics` once the batch has committed."""
    written: dict[str, int] = {}
    for entity, table in _TABLES_BY_ENTITY.items():
        counts: EntityCounts = getattr(result, entity)
        written[table.name] = counts.inserted + counts.updated
    return written


def _sum(*counts: EntityCounts) -> EntityCounts:
    return EntityCounts(
        inserted=sum(c.inserted for c in counts),
        updated=sum(c.updated for c in counts),
        unchanged=sum(c.unchanged for c in counts),
    )


@dataclass(frozen=True)
class _Reference:
    rows: Rows
    field: str


async def _check_references(session: AsyncSession, account_id: str, batch: PreparedBatch) -> None:
    """Every referenced project, task and user must be in the batch or stored (not deleted)
    in the caller's account; stored ones are locked `FOR KEY SHARE` until commit, so they
    cannot vanish before the writes that point at them."""
    logs = (batch.ace_logs, batch.local_logs)
    checks = (
        (
            PROJECTS,
            "ace_project_id",
            batch.projects,
            "project",
            [_Reference(batch.tasks, "ace_project_id")],
        ),
        (
            TASKS,
            "ace_task_id",
            batch.tasks,
            "task",
            [_Reference(rows, "ace_task_id") for rows in (batch.assignees, *logs)],
        ),
        (
            USERS,
            "ace_user_id",
            batch.users,
            "user",
            [_Reference(rows, "ace_user_id") for rows in (batch.assignees, *logs)],
        ),
    )
    problems: list[Problem] = []
    for table, key, own_rows, noun, references in checks:
        in_batch = set(own_rows.columns.get(key, ()))
        wanted: set[int] = set()
        for reference in references:
            wanted.update(reference.rows.columns.get(reference.field, ()))
        wanted -= in_batch
        if not wanted:
            continue
        missing = wanted - await _stored_keys(session, table, key, account_id, sorted(wanted))
        for reference in references:
            values = reference.rows.columns.get(reference.field, ())
            problems.extend(
                Problem(
                    entity=reference.rows.entity,
                    index=position,
                    field=reference.field,
                    message=f"no {noun} with {key} {value} in this batch or in your account",
                )
                for position, value in zip(reference.rows.positions, values, strict=True)
                if value in missing
            )
    if problems:
        order = {name: i for i, name in enumerate(save_dto.ENTITIES)}
        problems.sort(key=lambda p: (order.get(p.entity or "", -1), p.index or 0))
        raise _invalid(problems)


async def _stored_keys(
    session: AsyncSession, table: Table, key: str, account_id: str, keys: list[int]
) -> set[int]:
    wanted = incoming(session, {"key": keys}, {"key": BigInteger()}, name="wanted")
    statement = (
        select(table.c[key])
        .where(
            table.c.account_id == account_id,
            table.c.deleted_at.is_(None),
            table.c[key].in_(select(wanted.c.key)),
        )
        .with_for_update(read=True, key_share=True, of=table)
    )
    return set((await session.scalars(statement)).all())


# --- one statement per entity ----------------------------------------------------------------


def _at(now: datetime) -> Any:
    return literal(now, UTCDateTime())


def _incoming(
    session: AsyncSession, rows: Rows, names: Sequence[str], *tables: Table
) -> FromClause:
    """The batch's rows of one entity in SQL, typed like the columns they are written to or
    matched against."""
    return incoming(
        session, {name: rows.columns[name] for name in names}, column_types(names, *tables)
    )


def _counts(counts: UpsertCounts) -> EntityCounts:
    return EntityCounts(
        inserted=counts.inserted, updated=counts.updated, unchanged=counts.unchanged
    )


async def _save_users(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _incoming(session, rows, (*_USER_FIELDS, "guid"), USERS)
    source = select(
        literal(account_id, String()).label("account_id"),
        *(src.c[name] for name in _USER_FIELDS),
        src.c.guid,
        # New users are placeholders until the person signs in through ACE.
        literal(RoleEnum.member.value, String()).label("role"),
        literal(AuthSource.ace.value, String()).label("auth_source"),
        false().label("is_active"),
        _at(now).label("created_at"),
        _at(now).label("updated_at"),
    ).order_by(src.c.ace_user_id)
    counts = await upsert(
        session,
        USERS,
        source,
        total=len(rows),
        keys=("account_id", "ace_user_id"),
        update=("username", "first_name", "last_name", "email"),
        touch=("updated_at",),
        # Local accounts belong to acehub: their sign-in name and profile stay as they are.
        only_if=USERS.c.auth_source == AuthSource.ace.value,
    )
    return _counts(counts)


async def _save_projects(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _incoming(session, rows, _PROJECT_FIELDS, PROJECTS)
    source = select(
        literal(account_id, String()).label("account_id"),
        *(src.c[name] for name in _PROJECT_FIELDS),
        _at(now).label("created_at"),
        _at(now).label("updated_at"),
    ).order_by(src.c.ace_project_id)
    counts = await upsert(
        session,
        PROJECTS,
        source,
        total=len(rows),
        keys=("account_id", "ace_project_id"),
        touch=("updated_at",),
    )
    return _counts(counts)


async def _save_tasks(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _incoming(session, rows, _TASK_FIELDS, TASKS, PROJECTS)
    source = (
        select(
            literal(account_id, String()).label("account_id"),
            PROJECTS.c.id.label("project_id"),
            *(src.c[name] for name in _TASK_FIELDS if name != "ace_project_id"),
            _at(now).label("created_at"),
            _at(now).label("updated_at"),
        )
        .select_from(
            src.join(
                PROJECTS,
                and_(
                    PROJECTS.c.account_id == account_id,
                    PROJECTS.c.ace_project_id == src.c.ace_project_id,
                ),
            )
        )
        .order_by(src.c.ace_task_id)
    )
    counts = await upsert(
        session,
        TASKS,
        source,
        total=len(rows),
        keys=("account_id", "ace_task_id"),
        touch=("updated_at",),
    )
    return _counts(counts)


def _join_task_and_user(src: FromClause, account_id: str) -> FromClause:
    return src.join(
        TASKS, and_(TASKS.c.account_id == account_id, TASKS.c.ace_task_id == src.c.ace_task_id)
    ).join(USERS, and_(USERS.c.account_id == account_id, USERS.c.ace_user_id == src.c.ace_user_id))


async def _save_assignees(session: AsyncSession, account_id: str, rows: Rows) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _incoming(session, rows, _ASSIGNEE_FIELDS, ASSIGNEES, TASKS, USERS)
    source = (
        select(
            TASKS.c.id.label("task_id"),
            USERS.c.id.label("user_id"),
            src.c.is_assignee,
            src.c.is_reviewer,
            src.c.assigned_hours,
        )
        .select_from(_join_task_and_user(src, account_id))
        .order_by(src.c.ace_task_id, src.c.ace_user_id)
    )
    counts = await upsert(session, ASSIGNEES, source, total=len(rows), keys=("task_id", "user_id"))
    return _counts(counts)


async def _save_logs(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime, *, ace_keyed: bool
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    key_field = "ace_timesheet_line_id" if ace_keyed else "client_id"
    names = (key_field, *_LOG_FIELDS)
    src = _incoming(session, rows, names, TASK_LOGS, TASKS, USERS)
    source_kind = TaskLogSource.ace if ace_keyed else TaskLogSource.local
    copied = [name for name in names if name not in ("ace_task_id", "ace_user_id")]
    source = (
        select(
            literal(account_id, String()).label("account_id"),
            TASKS.c.id.label("task_id"),
            USERS.c.id.label("user_id"),
            *(src.c[name] for name in copied),
            literal(source_kind.value, String()).label("source"),
            _at(now).label("created_at"),
            _at(now).label("updated_at"),
        )
        .select_from(_join_task_and_user(src, account_id))
        .order_by(*((src.c[key_field], src.c.date_worked) if ace_keyed else (src.c[key_field],)))
    )
    keys = (
        ("account_id", "ace_timesheet_line_id", "date_worked")
        if ace_keyed
        else ("account_id", "client_id")
    )
    counts = await upsert(
        session, TASK_LOGS, source, total=len(rows), keys=keys, touch=("updated_at",)
    )
    return _counts(counts)
