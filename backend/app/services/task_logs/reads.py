"""The list of task logs the caller may see (`GET /task-logs`, `GET /tasks/{task_id}/logs`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.caller import Caller
from app.dto.task_log_dto import TaskLogFilters, TaskLogListQuery, TaskLogRead
from app.errors import AppError, ErrorCode
from app.models import Project, Task, TaskLog
from app.services.pagination import (
    CursorCodec,
    ValueKind,
    after_key,
    check_page,
    order_by,
    param_error,
    parse_sort,
    query_fingerprint,
)
from app.services.task_logs.scope import is_member, live_task, sees_task

LOG_SORTS: dict[str, tuple[str, ValueKind]] = {
    "date": ("date_worked", "date"),
    "id": ("id", "int"),
}
LOG_KEYS: tuple[str, ...] = tuple(TaskLogRead.model_fields)
_LOG_COLUMNS = tuple(getattr(TaskLog, name) for name in LOG_KEYS)


def read(log: TaskLog) -> TaskLogRead:
    return TaskLogRead.model_validate(log)


def _list_conditions(
    caller: Caller, query: TaskLogFilters, task_id: int | None
) -> list[ColumnElement[bool]]:
    conditions = [TaskLog.account_id == caller.account_id, *live_task(caller.account_id)]
    if is_member(caller.role):
        conditions.append(TaskLog.user_id == caller.id)
    if task_id is not None:
        conditions.append(TaskLog.task_id == task_id)
    if query.date_from is not None:
        conditions.append(TaskLog.date_worked >= query.date_from)
    if query.date_to is not None:
        conditions.append(TaskLog.date_worked <= query.date_to)
    if query.user_id is not None:
        conditions.append(TaskLog.user_id == query.user_id)
    if query.project_id is not None:
        conditions.append(Task.project_id == query.project_id)
    if query.kind is not None:
        conditions.append(TaskLog.kind == query.kind)
    if query.source is not None:
        conditions.append(TaskLog.source == query.source)
    return conditions


def _joined(*columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(TaskLog)
        .join(Task, Task.id == TaskLog.task_id)
        .join(Project, Project.id == Task.project_id)
    )


async def list_logs(
    connection: AsyncConnection,
    *,
    caller: Caller,
    query: TaskLogFilters,
    cursors: CursorCodec,
    task_id: int | None = None,
) -> dict[str, Any]:
    """One page of the logs the caller may see, as a mapping shaped as `TaskLogPage`;
    `task_id` (the path's) limits it to one task the caller can see (else 404)."""
    if task_id is not None:
        task_query = (
            select(Task.id)
            .join(Project, Project.id == Task.project_id)
            .where(Task.id == task_id, *live_task(caller.account_id))
        )
        if is_member(caller.role):
            task_query = task_query.where(sees_task(caller.id))
        if await connection.scalar(task_query) is None:
            raise AppError(f"No task {task_id}", code=ErrorCode.NOT_FOUND)
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise param_error("must not be later than date_to", field="date_from")
    check_page(query)
    effective_task = task_id
    if effective_task is None and isinstance(query, TaskLogListQuery):
        effective_task = query.task_id
    spec = parse_sort(query.sort, LOG_SORTS)
    query_id = query_fingerprint(
        "task-logs",
        caller.id,
        effective_task,
        query.model_dump(mode="json", exclude={"limit", "offset", "cursor", "task_id"}),
    )
    after = (
        cursors.decode(query.cursor, query_id=query_id, kind=spec.kind)
        if query.cursor is not None
        else None
    )
    matching = (
        _joined(*_LOG_COLUMNS, func.count().over().label("total"))
        .where(*_list_conditions(caller, query, effective_task))
        .subquery("matching")
    )
    column, id_column = matching.c[spec.column], matching.c.id
    statement = select(matching)
    if after is not None:
        statement = statement.where(after_key(spec, column, id_column, after[0], after[1]))
    statement = (
        statement.order_by(*order_by(spec, column, id_column))
        .limit(query.limit + 1)
        .offset(query.offset)
    )
    rows = (await connection.execute(statement)).all()
    if rows:
        total = int(rows[0][-1])
    else:
        counted = await connection.scalar(
            _joined(func.count()).where(*_list_conditions(caller, query, effective_task))
        )
        total = int(counted or 0)
    items = [dict(zip(LOG_KEYS, row, strict=False)) for row in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = items[-1]
        next_cursor = cursors.encode(query_id=query_id, value=last[spec.column], last_id=last["id"])
    return {
        "items": items,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "next_cursor": next_cursor,
    }
