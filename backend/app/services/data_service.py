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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, Final, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    FromClause,
    Select,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.type_api import TypeEngine

from app import runtime
from app.connection.dialect import upsert_insert
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
)
from app.models.base import UTCDateTime, utcnow

log = logging.getLogger(__name__)

USERS: Final = cast(Table, User.__table__)
PROJECTS: Final = cast(Table, Project.__table__)
TASKS: Final = cast(Table, Task.__table__)
ASSIGNEES: Final = cast(Table, TaskAssignee.__table__)
TASK_LOGS: Final = cast(Table, TaskLog.__table__)

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
    wanted = _row_source(session, "wanted", [("key", BigInteger())], {"key": keys})
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

_S: Final[TypeEngine[Any]] = String()
_I: Final[TypeEngine[Any]] = BigInteger()
_F: Final[TypeEngine[Any]] = Float()
_D: Final[TypeEngine[Any]] = Date()
_B: Final[TypeEngine[Any]] = Boolean()
_T: Final[TypeEngine[Any]] = DateTime(timezone=True)


def _at(now: datetime) -> Any:
    return literal(now, UTCDateTime())


async def _save_users(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _row_source(
        session,
        "src",
        [*((name, _I if name == "ace_user_id" else _S) for name in _USER_FIELDS), ("guid", Uuid())],
        rows.columns,
    )
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
    return await _upsert(
        session,
        USERS,
        source,
        total=len(rows),
        conflict=("account_id", "ace_user_id"),
        update=("username", "first_name", "last_name", "email"),
        now=now,
        # Local accounts belong to acehub: their sign-in name and profile stay as they are.
        only_if=USERS.c.auth_source == AuthSource.ace.value,
    )


async def _save_projects(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    types: dict[str, TypeEngine[Any]] = {
        "ace_project_id": _I,
        "percent_done": _F,
        "ace_created_at": _T,
        "ace_modified_at": _T,
    }
    src = _row_source(
        session, "src", [(name, types.get(name, _S)) for name in _PROJECT_FIELDS], rows.columns
    )
    source = select(
        literal(account_id, String()).label("account_id"),
        *(src.c[name] for name in _PROJECT_FIELDS),
        _at(now).label("created_at"),
        _at(now).label("updated_at"),
    ).order_by(src.c.ace_project_id)
    return await _upsert(
        session,
        PROJECTS,
        source,
        total=len(rows),
        conflict=("account_id", "ace_project_id"),
        update=_PROJECT_FIELDS[1:],
        now=now,
    )


_TASK_TYPES: Final[Mapping[str, TypeEngine[Any]]] = {
    "ace_task_id": _I,
    "ace_project_id": _I,
    "estimated_hours": _F,
    "actual_hours": _F,
    "percent_done": _F,
    "expected_start": _D,
    "expected_end": _D,
    "actual_start": _D,
    "actual_end": _D,
    "ace_created_at": _T,
    "ace_modified_at": _T,
}


async def _save_tasks(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = _row_source(
        session, "src", [(name, _TASK_TYPES.get(name, _S)) for name in _TASK_FIELDS], rows.columns
    )
    fields = [name for name in _TASK_FIELDS if name != "ace_project_id"]
    source = (
        select(
            literal(account_id, String()).label("account_id"),
            PROJECTS.c.id.label("project_id"),
            *(src.c[name] for name in fields),
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
    return await _upsert(
        session,
        TASKS,
        source,
        total=len(rows),
        conflict=("account_id", "ace_task_id"),
        update=("project_id", *fields[1:]),
        now=now,
    )


def _join_task_and_user(src: FromClause, account_id: str) -> FromClause:
    return src.join(
        TASKS, and_(TASKS.c.account_id == account_id, TASKS.c.ace_task_id == src.c.ace_task_id)
    ).join(USERS, and_(USERS.c.account_id == account_id, USERS.c.ace_user_id == src.c.ace_user_id))


async def _save_assignees(session: AsyncSession, account_id: str, rows: Rows) -> EntityCounts:
    if not rows:
        return EntityCounts()
    types: dict[str, TypeEngine[Any]] = {
        "is_assignee": _B,
        "is_reviewer": _B,
        "assigned_hours": _F,
    }
    src = _row_source(
        session, "src", [(name, types.get(name, _I)) for name in _ASSIGNEE_FIELDS], rows.columns
    )
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
    return await _upsert(
        session,
        ASSIGNEES,
        source,
        total=len(rows),
        conflict=("task_id", "user_id"),
        update=("is_assignee", "is_reviewer", "assigned_hours"),
        now=None,
    )


async def _save_logs(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime, *, ace_keyed: bool
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    key_field = "ace_timesheet_line_id" if ace_keyed else "client_id"
    types: dict[str, TypeEngine[Any]] = {
        "ace_timesheet_line_id": _I,
        "ace_task_id": _I,
        "ace_user_id": _I,
        "date_worked": _D,
        "hours": _F,
    }
    names = (key_field, *_LOG_FIELDS)
    src = _row_source(session, "src", [(name, types.get(name, _S)) for name in names], rows.columns)
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
    conflict = (
        ("account_id", "ace_timesheet_line_id", "date_worked")
        if ace_keyed
        else ("account_id", "client_id")
    )
    return await _upsert(
        session,
        TASK_LOGS,
        source,
        total=len(rows),
        conflict=conflict,
        update=tuple(
            name for name in ("task_id", "user_id", *copied, "source") if name not in conflict
        ),
        now=now,
    )


async def _upsert(
    session: AsyncSession,
    table: Table,
    source: Select[Any],
    *,
    total: int,
    conflict: Sequence[str],
    update: Sequence[str],
    now: datetime | None,
    only_if: ColumnElement[bool] | None = None,
) -> EntityCounts:
    """`INSERT .. SELECT source ON CONFLICT (conflict) DO UPDATE SET update.. WHERE some of
    them differ` (and `only_if` holds for the stored row); tables with `updated_at` get it set
    to `now` on a real change, and tables with `deleted_at` get a deleted row revived."""
    source = source.where(true())  # SQLite parses `SELECT .. ON CONFLICT` only after a WHERE
    names = [selected.name for selected in source.selected_columns]
    insert = upsert_insert(session, table).from_select(names, source, include_defaults=False)
    excluded = insert.excluded
    assignments: dict[str, Any] = {name: excluded[name] for name in update}
    differs = [table.c[name].is_distinct_from(excluded[name]) for name in update]
    if "deleted_at" in table.c:
        assignments["deleted_at"] = null()
        differs.append(table.c.deleted_at.is_not(None))
    if now is not None:
        assignments["updated_at"] = excluded["updated_at"]
    changed = or_(*differs) if only_if is None else and_(only_if, or_(*differs))
    statement = insert.on_conflict_do_update(
        index_elements=[table.c[name] for name in conflict], set_=assignments, where=changed
    )
    inserted, written = await _run_upsert(
        session, statement, table=table, source=source, conflict=conflict, total=total
    )
    return EntityCounts(inserted=inserted, updated=written - inserted, unchanged=total - written)


# --- the dialect differences, one small function each ----------------------------------------


def _row_source(
    session: AsyncSession,
    name: str,
    columns: Sequence[tuple[str, TypeEngine[Any]]],
    data: Mapping[str, Sequence[Any]],
) -> FromClause:
    """The batch's rows as a table in SQL, with one bound value per column.

    PostgreSQL: `unnest($1::bigint[], $2::varchar[], ..) AS name(col, ..)`, so the driver
    sends typed arrays in binary. SQLite: the rows as one JSON array read by `json_each`.
    """
    if session.get_bind().dialect.name == "postgresql":
        arrays = [
            bindparam(f"{name}_{column_name}", list(data[column_name]), type_=ARRAY(type_))
            for column_name, type_ in columns
        ]
        return (
            func.unnest(*arrays)
            .table_valued(*(column(column_name, type_) for column_name, type_ in columns))
            .render_derived(name=name)
        )
    encoders = [_SQLITE_ENCODERS.get(type(type_), _same) for _, type_ in columns]
    values = [
        list(map(encode, data[column_name]))
        for (column_name, _), encode in zip(columns, encoders, strict=True)
    ]
    document = orjson.dumps([list(row) for row in zip(*values, strict=True)]).decode()
    each = func.json_each(bindparam(f"{name}_rows", document, type_=String())).table_valued("value")
    return (
        select(
            *(
                func.json_extract(each.c.value, f"$[{position}]").label(column_name)
                for position, (column_name, _) in enumerate(columns)
            )
        )
        .select_from(each)
        .subquery(name)
    )


def _same(value: Any) -> Any:
    return value


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The text SQLAlchemy stores for a UTC datetime on SQLite, so comparisons stay exact.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


_SQLITE_ENCODERS: Final[dict[type[Any], Callable[[Any], Any]]] = {
    DateTime: _sqlite_datetime,
    Date: _sqlite_date,
    Uuid: _sqlite_uuid,
}


async def _run_upsert(
    session: AsyncSession,
    statement: Any,
    *,
    table: Table,
    source: Select[Any],
    conflict: Sequence[str],
    total: int,
) -> tuple[int, int]:
    """Run the upsert; returns (rows inserted, rows inserted or updated).

    PostgreSQL: `RETURNING (xmax = 0)` is true for an inserted row, counted in one CTE.
    SQLite (which holds its write lock for the whole transaction): count the keys already
    stored first; the RETURNING rows are the ones written.
    """
    if session.get_bind().dialect.name == "postgresql":
        upserted = statement.returning(literal_column("xmax = 0", Boolean()).label("inserted")).cte(
            "upserted"
        )
        counted = select(func.count().filter(upserted.c.inserted), func.count()).select_from(
            upserted
        )
        inserted, written = (await session.execute(counted)).one()
        return int(inserted), int(written)
    rows = source.subquery("incoming")
    stored = exists().where(and_(*(table.c[name] == rows.c[name] for name in conflict)))
    existing = await session.scalar(select(func.count()).select_from(rows).where(stored))
    written = len((await session.execute(statement.returning(literal_column("1")))).all())
    return total - int(existing or 0), written
