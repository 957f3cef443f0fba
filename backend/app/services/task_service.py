"""The tasks of a user (`GET /tasks/{user_id}`): visibility, filters, sorts and pages.

Visibility: the caller's account only; a member sees only their own tasks, managers and admins
anyone's in their account. A user the caller may not see is "not found", exactly like one that
does not exist. Deleted tasks, tasks of deleted projects and deleted users are hidden.

The hot path is one statement, one round trip (`page_statement`): the caller re-read by token,
the requested user's visibility, the page (its `total` counted by a window function over the
matching rows, so no separate count) and the page's assignees, one row per (task, assignee).
Rows become plain dicts shaped as `dto.task.TaskPage`; the route serialises them straight to
JSON.

Pages are cut by `offset` or by a keyset cursor (every sort supports one; `pagination`). A
cursor is signed and bound to the user and filters it was made for, so a tampered or foreign
one is a 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute, aliased

from app.ace.port import AceApi
from app.auth.caller import SessionKey, check_active, session_live
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
    user_id: int,
    query: TaskListQuery,
    after: tuple[Any, int] | None,
    today: date,
) -> tuple[TaskQueryShape, dict[str, Any]]:
    """The shape of a request and the parameter values its statements take."""
    params: dict[str, Any] = {
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


def _task_conditions(
    shape: TaskQueryShape, *, user_id: ColumnElement[Any], account_id: ColumnElement[Any]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        TaskAssignee.user_id == user_id,
        Task.account_id == account_id,
        Task.deleted_at.is_(None),
        Project.account_id == account_id,
        Project.deleted_at.is_(None),
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


# The columns of a page row before the task's: who the caller is (re-read, as every request
# does), whether they may see the requested user, and how fresh the mirror is.
CALLER_KEYS = ("account_id", "is_active", "is_disabled", "session_live", "visible")


@lru_cache(maxsize=512)
def page_statement(shape: TaskQueryShape) -> ReadStatement:
    """The whole answer in one statement, one round trip: the caller by token (`guid`,
    `sid`), the requested user (`user_id`) if the caller may see them, one page of their
    matching tasks (`limit` + 1 of them, to tell whether more follow) with `total`, the number
    of matching tasks over all pages, and each task's assignees, one row per (task, assignee).

    Rows: CALLER_KEYS, `synced_through`, ITEM_KEYS, `total`, ASSIGNEE_KEYS, in page order
    and then by assignee name. A caller that exists gets at least one row (its task and
    assignee columns null when the page is empty); an unknown one gets none. A task without
    visible assignees has one row with null assignee columns."""
    caller = (
        select(
            User.id.label("caller_id"),
            User.account_id,
            User.role,
            User.is_active,
            User.is_disabled,
            session_live(),
            # Here, not in the outer select: there it would run once per row of the answer.
            synced_through(User.account_id),
        )
        .where(User.guid == bindparam("guid"))
        .cte("caller")
    )
    # The requested user, only when the caller may see them: same account, not deleted, and
    # the caller active, signed in, and a manager or admin unless it is themselves.
    requested = aliased(User, name="requested")
    target = (
        select(requested.id, requested.account_id)
        .join(caller, caller.c.account_id == requested.account_id)
        .where(
            requested.id == bindparam("user_id"),
            requested.deleted_at.is_(None),
            caller.c.session_live,
            caller.c.is_active,
            caller.c.is_disabled.is_(False),
            or_(caller.c.role != RoleEnum.member, caller.c.caller_id == requested.id),
        )
        .cte("target")
    )
    matching = (
        _matching_tasks(*_ITEM_COLUMNS, func.count().over().label("total"))
        .join(target, target.c.id == TaskAssignee.user_id)
        .where(*_task_conditions(shape, user_id=target.c.id, account_id=target.c.account_id))
        .subquery("matching")
    )
    spec = parse_sort(shape.sort, TASK_SORTS)
    column, id_column = matching.c[spec.column], matching.c.id
    page = select(matching)
    if shape.after != "none":
        value: object = None if shape.after == "null" else bindparam("after_value")
        page = page.where(after_key(spec, column, id_column, value, bindparam("after_id")))
    page_rows = (
        page.order_by(*order_by(spec, column, id_column))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    assignees = (
        select(
            TaskAssignee.task_id,
            TaskAssignee.user_id,
            User.username,
            TaskAssignee.is_assignee,
            TaskAssignee.is_reviewer,
            TaskAssignee.assigned_hours,
        )
        .join(User, User.id == TaskAssignee.user_id)
        .where(User.account_id == target.c.account_id, User.deleted_at.is_(None))
        .subquery("assignee")
    )
    with_assignees = page_rows.outerjoin(assignees, assignees.c.task_id == page_rows.c.id)
    statement = (
        select(
            caller.c.account_id.label("caller_account_id"),
            caller.c.is_active,
            caller.c.is_disabled,
            caller.c.session_live,
            exists(select(target.c.id)).label("visible"),
            caller.c.synced_through,
            *(page_rows.c[key] for key in (*ITEM_KEYS, "total")),
            *(assignees.c[key] for key in ASSIGNEE_KEYS),
        )
        .select_from(caller)
        .outerjoin(with_assignees, true())
        .order_by(
            *order_by(spec, page_rows.c[spec.column], page_rows.c.id),
            assignees.c.username,
            assignees.c.user_id,
        )
    )
    return ReadStatement(statement)


@lru_cache(maxsize=512)
def count_statement(shape: TaskQueryShape) -> Select[Any]:
    """The number of matching tasks (`user_id`, `account_id`): for a page past the end,
    whose rows carry no `total`."""
    return _matching_tasks(func.count()).where(
        *_task_conditions(shape, user_id=bindparam("user_id"), account_id=bindparam("account_id"))
    )


_CALLER_WIDTH = len(CALLER_KEYS) + 1  # and synced_through
_TASK_END = _CALLER_WIDTH + len(ITEM_KEYS)


async def list_user_tasks(
    connection: AsyncConnection,
    *,
    session: SessionKey,
    user_id: int,
    query: TaskListQuery,
    cursors: CursorCodec,
) -> dict[str, Any]:
    """One page of the tasks assigned to `user_id`, as a mapping shaped as `TaskPage`, for the
    caller the verified token `session` names. The caller is re-read in the same statement:
    gone is 401 `TOKEN_INVALID`, deactivated, disabled or signed out 401 `TOKEN_REVOKED`; a
    user they may not see is 404, like one that does not exist."""
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
    shape, params = task_query_params(user_id=user_id, query=query, after=after, today=today_utc())
    params["guid"], params["sid"] = session.guid, session.sid
    rows = await page_statement(shape).rows(connection, params)
    if not rows:
        check_active(None, session_live=False)
    first = rows[0]
    account_id, is_active, is_disabled, live, visible, through = first[:_CALLER_WIDTH]
    check_active(_Activity(bool(is_active), bool(is_disabled)), session_live=bool(live))
    if not visible:
        raise AppError(NO_SUCH_USER, code=ErrorCode.NOT_FOUND)

    items: list[dict[str, Any]] = []
    more = False
    if first[_CALLER_WIDTH] is None:  # no task on this page
        total = 0
        if query.offset or after is not None:  # past the end: count what comes before it
            total = await connection.scalar(
                count_statement(shape),
                {**_without_page(params), "user_id": user_id, "account_id": account_id},
            )
        return _page(
            [], total=int(total or 0), query=query, next_cursor=None, synced_through=through
        )
    total = int(first[_TASK_END])
    current: dict[str, Any] | None = None
    for row in rows:
        task_id = row[_CALLER_WIDTH]
        if current is None or current["id"] != task_id:
            if len(items) == query.limit:
                more = True
                break
            current = dict(zip(ITEM_KEYS, row[_CALLER_WIDTH:_TASK_END], strict=True))
            current["assignees"] = []
            items.append(current)
        if row[_TASK_END + 1] is not None:
            current["assignees"].append(dict(zip(ASSIGNEE_KEYS, row[_TASK_END + 1 :], strict=True)))
    next_cursor = None
    if more:
        last = items[-1]
        next_cursor = cursors.encode(query_id=query_id, value=last[spec.column], last_id=last["id"])
    return _page(items, total=total, query=query, next_cursor=next_cursor, synced_through=through)


@dataclass(frozen=True, slots=True)
class _Activity:
    is_active: bool
    is_disabled: bool


def _without_page(params: dict[str, Any]) -> dict[str, Any]:
    skip = {"limit", "offset", "after_id", "after_value", "guid", "sid"}
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
