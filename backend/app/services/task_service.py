"""The tasks of a user (`GET /tasks/{user_id}`): visibility, filters, sorts and pages.

Visibility: the caller's account only; a member sees only their own tasks, managers and admins
anyone's in their account. A user the caller may not see is "not found", exactly like one that
does not exist. Deleted tasks, tasks of deleted projects and deleted users are hidden.

The hot path is two statements: the page (its `total` counted by a window function over the
matching rows, so no separate count) and the page's assignees. Rows become plain dicts shaped
as `dto.task.TaskPage`; the route serialises them straight to JSON.

Pages are cut by `offset` or by a keyset cursor (every sort supports one; `pagination`). A
cursor is signed and bound to the user and filters it was made for, so a tampered or foreign
one is a 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from app.ace.port import AceApi
from app.auth.caller import Caller
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.connection.read_statement import ReadStatement
from app.dto.task import TaskListQuery, TaskRead
from app.errors import AppError, ErrorCode
from app.models import Project, RoleEnum, StatusType, Task, TaskAssignee, User
from app.models.sync_jobs import JobCounts
from app.services import ace_session_service
from app.services.pagination import (
    SYNCED_THROUGH_STATEMENT,
    CursorCodec,
    ValueKind,
    after_key,
    check_page,
    order_by,
    param_error,
    parse_sort,
    query_fingerprint,
    synced_through,
)
from app.services.sync import fetch
from app.services.sync.account_sync import SyncCredentials

NO_SUCH_USER = "No such user in this account"

TASK_SORTS: dict[str, tuple[str, ValueKind]] = {
    "due": ("expected_end", "date"),
    "title": ("title", "str"),
    "updated": ("ace_modified_at", "datetime"),
    "priority": ("priority", "str"),
    "id": ("id", "int"),
}

# An item's fields (`TaskRead`, but its assignees) in order: the task's columns of those names,
# but the two that come from its project. Built once, at import.
_FROM_PROJECT: dict[str, QueryableAttribute[Any] | ColumnElement[Any]] = {
    "ace_project_id": Project.ace_project_id,
    "project_name": Project.name.label("project_name"),
}
_ITEM_COLUMNS: tuple[QueryableAttribute[Any] | ColumnElement[Any], ...] = tuple(
    _FROM_PROJECT[name] if name in _FROM_PROJECT else getattr(Task, name)
    for name in TaskRead.model_fields
    if name != "assignees"
)
ITEM_KEYS: tuple[str, ...] = tuple(str(column.key) for column in _ITEM_COLUMNS)
ASSIGNEE_KEYS = ("user_id", "username", "is_assignee", "is_reviewer", "assigned_hours")


def today_utc() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class TaskQueryShape:
    """Which filters, sort and cursor a request uses, not their values. Statements are built
    once per shape with bound parameters, and reused: building and hashing a statement costs
    more than running it."""

    status: bool = False
    status_type: bool = False
    project_id: bool = False
    due_after: bool = False
    due_before: bool = False
    overdue: bool | None = None
    q: bool = False
    sort: str = "due"
    after: Literal["none", "value", "null"] = "none"


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally (escape character `/`)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def task_query_params(
    *,
    account_id: str,
    user_id: int,
    query: TaskListQuery,
    after: tuple[Any, int] | None,
    today: date,
) -> tuple[TaskQueryShape, dict[str, Any]]:
    """The shape of a request and the parameter values its statements take."""
    params: dict[str, Any] = {
        "account_id": account_id,
        "user_id": user_id,
        "limit": query.limit + 1,
        "offset": query.offset,
    }
    if query.status is not None:
        params["status"] = query.status
    if query.status_type:
        params["status_type"] = list(query.status_type)
    if query.project_id is not None:
        params["project_id"] = query.project_id
    if query.due_after is not None:
        params["due_after"] = query.due_after
    if query.due_before is not None:
        params["due_before"] = query.due_before
    if query.overdue is not None:
        params["today"] = today
    if query.q is not None:
        params["q_pattern"] = f"%{escape_like(query.q)}%"
    after_shape: Literal["none", "value", "null"] = "none"
    if after is not None:
        value, params["after_id"] = after
        after_shape = "null" if value is None else "value"
        if value is not None:
            params["after_value"] = value
    shape = TaskQueryShape(
        status=query.status is not None,
        status_type=bool(query.status_type),
        project_id=query.project_id is not None,
        due_after=query.due_after is not None,
        due_before=query.due_before is not None,
        overdue=query.overdue,
        q=query.q is not None,
        sort=query.sort,
        after=after_shape,
    )
    return shape, params


def _not_completed() -> ColumnElement[bool]:
    return or_(Task.status_type.is_(None), Task.status_type != StatusType.completed)


def _user_visible() -> ColumnElement[bool]:
    """The requested user exists, is not deleted and belongs to the caller's account."""
    return exists().where(
        User.id == bindparam("user_id"),
        User.account_id == bindparam("account_id"),
        User.deleted_at.is_(None),
    )


def _task_conditions(shape: TaskQueryShape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        TaskAssignee.user_id == bindparam("user_id"),
        Task.account_id == bindparam("account_id"),
        Task.deleted_at.is_(None),
        Project.account_id == bindparam("account_id"),
        Project.deleted_at.is_(None),
        _user_visible(),
    ]
    if shape.status:
        conditions.append(Task.status == bindparam("status"))
    if shape.status_type:
        conditions.append(Task.status_type.in_(bindparam("status_type", expanding=True)))
    if shape.project_id:
        conditions.append(Task.project_id == bindparam("project_id"))
    if shape.due_after:
        conditions.append(Task.expected_end >= bindparam("due_after"))
    if shape.due_before:
        conditions.append(Task.expected_end <= bindparam("due_before"))
    if shape.overdue is True:
        conditions.append(and_(Task.expected_end < bindparam("today"), _not_completed()))
    elif shape.overdue is False:
        conditions.append(
            or_(
                Task.expected_end.is_(None),
                Task.expected_end >= bindparam("today"),
                Task.status_type == StatusType.completed,
            )
        )
    if shape.q:
        # lower() on both sides: case-insensitive on both databases; `%`, `_` and `/` in the
        # text were escaped, so the text matches literally.
        conditions.append(
            func.lower(Task.title).like(func.lower(bindparam("q_pattern")), escape="/")
        )
    return conditions


def _matching_tasks(*columns: QueryableAttribute[Any] | ColumnElement[Any]) -> Select[Any]:
    return (
        select(*columns)
        .select_from(TaskAssignee)
        .join(Task, Task.id == TaskAssignee.task_id)
        .join(Project, Project.id == Task.project_id)
    )


def check_task_query(query: TaskListQuery) -> None:
    if query.due_after and query.due_before and query.due_after > query.due_before:
        raise param_error("must not be later than due_before", field="due_after")
    check_page(query)


@lru_cache(maxsize=512)
def page_statement(shape: TaskQueryShape) -> ReadStatement:
    """One page (`limit` + 1 rows, to tell whether more follow) of the matching tasks, each
    row ending with `total`, the number of matching tasks over all pages, and
    `synced_through`."""
    matching = (
        _matching_tasks(*_ITEM_COLUMNS, func.count().over().label("total"))
        .where(*_task_conditions(shape))
        .subquery("matching")
    )
    spec = parse_sort(shape.sort, TASK_SORTS)
    column, id_column = matching.c[spec.column], matching.c.id
    statement = select(matching, synced_through())
    if shape.after != "none":
        value: object = None if shape.after == "null" else bindparam("after_value")
        statement = statement.where(
            after_key(spec, column, id_column, value, bindparam("after_id"))
        )
    return ReadStatement(
        statement.order_by(*order_by(spec, column, id_column))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


@lru_cache(maxsize=512)
def count_statement(shape: TaskQueryShape) -> Select[Any]:
    return _matching_tasks(func.count()).where(*_task_conditions(shape))


USER_VISIBLE_STATEMENT = select(_user_visible())

ASSIGNEES_STATEMENT = ReadStatement(
    select(
        TaskAssignee.task_id,
        TaskAssignee.user_id,
        User.username,
        TaskAssignee.is_assignee,
        TaskAssignee.is_reviewer,
        TaskAssignee.assigned_hours,
    )
    .join(User, User.id == TaskAssignee.user_id)
    .where(
        TaskAssignee.task_id.in_(bindparam("task_ids", expanding=True)),
        User.account_id == bindparam("account_id"),
        User.deleted_at.is_(None),
    )
    .order_by(TaskAssignee.task_id, User.username, User.id)
)
"""The assignees of the page's tasks (`task_ids`): (task id, *ASSIGNEE_KEYS) rows."""


async def list_user_tasks(
    connection: AsyncConnection,
    *,
    caller: Caller,
    user_id: int,
    query: TaskListQuery,
    cursors: CursorCodec,
) -> dict[str, Any]:
    """One page of the tasks assigned to `user_id`, as a mapping shaped as `TaskPage`."""
    if caller.role is RoleEnum.member and user_id != caller.id:
        raise AppError(NO_SUCH_USER, code=ErrorCode.NOT_FOUND)
    check_task_query(query)
    spec = parse_sort(query.sort, TASK_SORTS)
    query_id = query_fingerprint(
        "tasks", user_id, query.model_dump(exclude={"limit", "offset", "cursor"})
    )
    after = (
        cursors.decode(query.cursor, query_id=query_id, kind=spec.kind)
        if query.cursor is not None
        else None
    )
    shape, params = task_query_params(
        account_id=caller.account_id, user_id=user_id, query=query, after=after, today=today_utc()
    )
    rows = await page_statement(shape).rows(connection, params)
    if not rows:
        if not await connection.scalar(USER_VISIBLE_STATEMENT, params):
            raise AppError(NO_SUCH_USER, code=ErrorCode.NOT_FOUND)
        total = await connection.scalar(count_statement(shape), _without_page(params))
        through = await connection.scalar(SYNCED_THROUGH_STATEMENT, params)
        return _page(
            [], total=int(total or 0), query=query, next_cursor=None, synced_through=through
        )

    total, through = int(rows[0][-2]), rows[0][-1]
    items = [dict(zip(ITEM_KEYS, row, strict=False)) for row in rows[: query.limit]]
    by_task: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        item["assignees"] = by_task[item["id"]] = []
    assignees = await ASSIGNEES_STATEMENT.rows(
        connection, {"task_ids": list(by_task), "account_id": caller.account_id}
    )
    for task_id, *values in assignees:
        by_task[task_id].append(dict(zip(ASSIGNEE_KEYS, values, strict=True)))
    next_cursor = None
    if len(rows) > query.limit:
        last = items[-1]
        next_cursor = cursors.encode(query_id=query_id, value=last[spec.column], last_id=last["id"])
    return _page(items, total=total, query=query, next_cursor=next_cursor, synced_through=through)


def _without_page(params: dict[str, Any]) -> dict[str, Any]:
    skip = {"limit", "offset", "after_id", "after_value"}
    return {key: value for key, value in params.items() if key not in skip}


def _page(
    items: list[dict[str, Any]],
    *,
    total: int,
    query: TaskListQuery,
    next_cursor: str | None,
    synced_through: datetime | None,
) -> dict[str, Any]:
    return {
        "items": items,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "next_cursor": next_cursor,
        "synced_through": synced_through,
    }


async def fetch_from_ace(
    database: Database, *, ace: AceApi, settings: Settings, cipher: GuidCipher, user: User
) -> JobCounts:
    """`POST /tasks/fetch-tasks`: what `sync.fetch.fetch_tasks` stores, with the caller's
    ACE session; counts per entity. No transaction stays open while ACE answers (on SQLite
    it would hold the write lock): the session's use is committed first, and the fetched rows
    are written in short transactions of their own."""
    guid = await ace_session_service.take_guid(database, cipher=cipher, user=user)
    return await fetch.fetch_tasks(
        database=database,
        ace=ace,
        settings=settings,
        creds=SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
        seen_by=user.id,
    )
