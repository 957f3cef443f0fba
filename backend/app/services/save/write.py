"""Writing a prepared batch in the request's transaction: every reference checked (and the
stored ones locked against deletion), then one upsert per entity in the order users, projects,
tasks, assignees, task logs, rows resolved to internal ids by joins inside those statements.
See `app.services.data_service` for the guarantees."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, FromClause, String, Table, and_, false, literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.connection.dialect import stages_rows_by_copy
from app.connection.staging import staged
from app.connection.upsert import UpsertCounts, column_types, incoming, upsert
from app.dto import save_dto
from app.dto.save_dto import EntityCounts, Problem, SaveResult
from app.errors import AppError, ErrorCode
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
from app.services.save.prepare import (
    ASSIGNEE_FIELDS,
    LOG_FIELDS,
    PROJECT_FIELDS,
    TASK_FIELDS,
    USER_FIELDS,
    PreparedBatch,
    Rows,
    invalid,
)

log = logging.getLogger(__name__)

USERS: Final = table_of(User)
PROJECTS: Final = table_of(Project)
TASKS: Final = table_of(Task)
ASSIGNEES: Final = table_of(TaskAssignee)
TASK_LOGS: Final = table_of(TaskLog)

# From this many rows of one entity on, PostgreSQL gets them by COPY into a staging table.
COPY_MIN_ROWS: Final = 1000

# PostgreSQL deadlock and serialization failures: the batch lost a race; it may be resent.
_RETRYABLE_SQLSTATES: Final = frozenset({"40P01", "40001"})


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
            raise AppError(
                "Another save changed the same rows at the same moment; send the batch again",
                code=ErrorCode.CONFLICT,
            ) from exc
        raise
    log.info(
        "batch saved",
        extra={"account_id": account_id, "items": batch.item_count},
    )
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
        raise invalid(problems)


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


async def _incoming(
    session: AsyncSession, stage: str, rows: Rows, names: Sequence[str], *tables: Table
) -> FromClause:
    """The batch's rows of one entity in SQL, typed like the columns they are written to or
    matched against: on PostgreSQL a large set is copied into the staging table `stage`,
    a small one (where creating a table would cost more) is bound as arrays."""
    columns = {name: rows.columns[name] for name in names}
    types = column_types(names, *tables)
    if len(rows) >= COPY_MIN_ROWS and stages_rows_by_copy(session):
        return await staged(session, f"save_stage_{stage}", columns, types)
    return incoming(session, columns, types)


def _counts(counts: UpsertCounts) -> EntityCounts:
    return EntityCounts(
        inserted=counts.inserted, updated=counts.updated, unchanged=counts.unchanged
    )


async def _save_users(
    session: AsyncSession, account_id: str, rows: Rows, now: datetime
) -> EntityCounts:
    if not rows:
        return EntityCounts()
    src = await _incoming(session, "users", rows, (*USER_FIELDS, "guid"), USERS)
    source = select(
        literal(account_id, String()).label("account_id"),
        *(src.c[name] for name in USER_FIELDS),
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
    src = await _incoming(session, "projects", rows, PROJECT_FIELDS, PROJECTS)
    source = select(
        literal(account_id, String()).label("account_id"),
        *(src.c[name] for name in PROJECT_FIELDS),
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
    src = await _incoming(session, "tasks", rows, TASK_FIELDS, TASKS, PROJECTS)
    source = (
        select(
            literal(account_id, String()).label("account_id"),
            PROJECTS.c.id.label("project_id"),
            *(src.c[name] for name in TASK_FIELDS if name != "ace_project_id"),
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
    src = await _incoming(session, "assignees", rows, ASSIGNEE_FIELDS, ASSIGNEES, TASKS, USERS)
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
    names = (key_field, *LOG_FIELDS)
    src = await _incoming(session, f"{key_field}_logs", rows, names, TASK_LOGS, TASKS, USERS)
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
