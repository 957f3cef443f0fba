"""The tasks of a user (`GET /tasks/{user_id}`): visibility, filters, sorts and pages.

Visibility: the caller's account only; a member sees only their own tasks, managers and admins
anyone's in their account. A user the caller may not see is "not found", exactly like one that
does not exist. Deleted tasks, tasks of deleted projects and deleted users are hidden.

The hot path is two statements: the page (its `total` counted by a window function over the
matching rows, so no separate count) and the page's assignees. Rows become plain dicts shaped
as `dto.task.TaskPage`; the route serialises them straight to JSON.

Pages are cut by `offset` or by a keyset cursor (every sort supports one). A cursor is signed
and bound to the user and filters it was made for, so a tampered or foreign one is a 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

import asyncpg
from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import UnaryExpression

from app.dto.response import ErrorCode
from app.dto.task import TaskListQuery
from app.errors import DatabaseUnavailableError, NotFoundError, ValidationFailed
from app.models import (
    Project,
    RoleEnum,
    StatusType,
    SyncJob,
    SyncState,
    Task,
    TaskAssignee,
    User,
)

ValueKind = Literal["int", "str", "date", "datetime"]


class Caller(Protocol):
    """Who asks: what visibility depends on. A `User`, or the lighter `SignedInCaller` the read
    routes load (`dependencies.auth_dependencies`)."""

    @property
    def id(self) -> int: ...

    @property
    def account_id(self) -> str: ...

    @property
    def role(self) -> RoleEnum: ...


NO_SUCH_USER = "No such user in this account"


# --- keyset pagination (shared with project_service) ---------------------------------------


@dataclass(frozen=True, slots=True)
class SortSpec:
    """Order by `column` (nulls last), then by `id` ascending; `column == "id"` sorts by id."""

    column: str
    descending: bool
    kind: ValueKind


def parse_sort(sort: str, columns: Mapping[str, tuple[str, ValueKind]]) -> SortSpec:
    """`-name` → descending `name`; the names are the DTO's whitelist, so this cannot fail."""
    descending = sort.startswith("-")
    column, kind = columns[sort.removeprefix("-")]
    return SortSpec(column=column, descending=descending, kind=kind)


def order_by(
    spec: SortSpec, column: ColumnElement[Any], id_column: ColumnElement[Any]
) -> list[UnaryExpression[Any]]:
    if spec.column == "id":
        return [id_column.desc() if spec.descending else id_column.asc()]
    primary = column.desc() if spec.descending else column.asc()
    return [primary.nulls_last(), id_column.asc()]


def after_key(
    spec: SortSpec,
    column: ColumnElement[Any],
    id_column: ColumnElement[Any],
    value: object,
    last_id: object,
) -> ColumnElement[bool]:
    """Rows after (`value`, `last_id`) in the order `order_by` gives."""
    if spec.column == "id":
        return id_column < last_id if spec.descending else id_column > last_id
    later_id = id_column > last_id
    if value is None:  # already among the trailing nulls
        return and_(column.is_(None), later_id)
    beyond = column < value if spec.descending else column > value
    return or_(beyond, and_(column == value, later_id), column.is_(None))


def query_fingerprint(*parts: Any) -> str:
    """A short digest of what a cursor was made for (user, filters, sort)."""
    text = json.dumps(parts, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _decode_value(raw: Any, kind: ValueKind) -> Any:
    if raw is None:
        return None
    if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == "str" and isinstance(raw, str):
        return raw
    if kind == "date" and isinstance(raw, str):
        return date.fromisoformat(raw)
    if kind == "datetime" and isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is not None:
            return moment
    raise ValueError("unexpected key value")


def param_error(message: str, field: str = "cursor") -> ValidationFailed:
    """A 422 naming one query parameter, shaped like FastAPI's own validation errors."""
    return ValidationFailed(
        f"The request is not valid: check query.{field}",
        code=ErrorCode.VALIDATION_ERROR,
        data=[{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


class CursorCodec:
    """Opaque page cursors: the last row's sort value and id, signed with a key derived from
    the app's secret and bound to the query they were made for."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"acehub-page-cursor\x00" + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, *, query_id: str, value: Any, last_id: int) -> str:
        payload = json.dumps(
            {"q": query_id, "v": _encode_value(value), "i": last_id}, separators=(",", ":")
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, token: str, *, query_id: str, kind: ValueKind) -> tuple[Any, int]:
        """The (value, id) a cursor carries; a 422 naming `cursor` when it is not one of ours,
        was altered, or belongs to another query (other user, filters or sort)."""
        try:
            payload_text, signature_text = token.split(".")
            payload = _b64decode(payload_text)
            signature = _b64decode(signature_text)
        except (ValueError, binascii.Error) as exc:
            raise param_error("not a cursor returned by this endpoint") from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise param_error("not a cursor returned by this endpoint")
        try:
            content = json.loads(payload)
            if content["q"] != query_id:
                raise param_error("the cursor was made for other filters or another sort")
            last_id = content["i"]
            if not isinstance(last_id, int) or isinstance(last_id, bool):
                raise ValueError("bad id")
            return _decode_value(content["v"], kind), last_id
        except (ValueError, KeyError, TypeError) as exc:
            raise param_error("not a cursor returned by this endpoint") from exc


# --- running cached read statements ----------------------------------------------------------

# asyncpg's errors for a connection that is gone or refused (SQLAlchemy's handlers see none),
# or left unusable (a backend terminated while the connection sat idle in the pool surfaces
# as an `InternalClientError` on its next statement).
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


class ReadStatement:
    """A read statement built once and run many times.

    On SQLite it runs through SQLAlchemy. On PostgreSQL its SQL, compiled once per set of list
    lengths, goes straight to the asyncpg driver of the session's connection: the same SQL on
    the same connection, without SQLAlchemy's per-execution work (measured at about 0.35 ms of
    CPU for the two statements of a page of tasks). Values need no conversion there: they are
    ints, strings, str enums, dates and aware datetimes, which asyncpg encodes as they are.
    A lost connection becomes `DB_UNAVAILABLE`, as it does through SQLAlchemy.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        # list lengths → (SQL, where each $n comes from: (parameter, index in its list or -1
        # for the whole value, or None and a constant the statement carries))
        self._asyncpg: dict[tuple[int, ...], tuple[str, list[tuple[str | None, int, Any]]]] = {}

    async def rows(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        if connection.dialect.name != "postgresql":
            return (await connection.execute(self.statement, params)).all()
        sql, sources = self._asyncpg_sql(connection, params)
        args = [
            constant if name is None else params[name] if index < 0 else params[name][index]
            for name, index, constant in sources
        ]
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        try:
            rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *args)
        except _CONNECTION_ERRORS as exc:
            await _invalidate(connection, raw, exc)
            raise DatabaseUnavailableError(
                "The database is unavailable; try again shortly", headers={"Retry-After": "5"}
            ) from exc
        return rows

    def _asyncpg_sql(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> tuple[str, list[tuple[str | None, int, Any]]]:
        lengths = tuple(len(value) for value in params.values() if isinstance(value, list))
        if lengths not in self._asyncpg:
            # Compile with placeholders standing for the request's values, so each position
            # tells where its value comes from; other positions hold the statement's constants.
            slots = {
                name: [_Slot(name, index) for index in range(len(value))]
                if isinstance(value, list)
                else _Slot(name, -1)
                for name, value in params.items()
            }
            compiled = self.statement.compile(dialect=connection.dialect)
            state = compiled.construct_expanded_state(slots)
            assert state.positiontup is not None
            sources: list[tuple[str | None, int, Any]] = []
            for position in state.positiontup:
                value = state.parameters[position]
                if isinstance(value, _Slot):
                    sources.append((value.name, value.index, None))
                else:
                    sources.append((None, -1, value))
            self._asyncpg[lengths] = (state.statement, sources)
        return self._asyncpg[lengths]


async def _invalidate(connection: AsyncConnection, raw: Any, exc: BaseException) -> None:
    """What SQLAlchemy does on a disconnect error it sees itself: mark every connection the
    pool opened before this one as stale (recycled at its next checkout) and discard this
    one, so a database restart costs a worker one failed request, not one per pooled
    connection."""
    pool = getattr(connection.sync_engine, "pool", None)
    if pool is not None:
        pool._invalidate(raw, exc, _checkin=False)
    if not connection.invalidated:
        await connection.invalidate(exc)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Stands for the request's value `name` (item `index` of it when >= 0) while compiling."""

    name: str
    index: int


# --- the tasks of a user --------------------------------------------------------------------

TASK_SORTS: dict[str, tuple[str, ValueKind]] = {
    "due": ("expected_end", "date"),
    "title": ("title", "str"),
    "updated": ("ace_modified_at", "datetime"),
    "priority": ("priority", "str"),
    "id": ("id", "int"),
}

_ITEM_COLUMNS: tuple[QueryableAttribute[Any] | ColumnElement[Any], ...] = (
    Task.id,
    Task.ace_task_id,
    Project.ace_project_id,
    Task.project_id,
    Project.name.label("project_name"),
    Task.number,
    Task.title,
    Task.status,
    Task.status_type,
    Task.priority,
    Task.type,
    Task.estimated_hours,
    Task.actual_hours,
    Task.percent_done,
    Task.expected_start,
    Task.expected_end,
    Task.actual_start,
    Task.actual_end,
    Task.ace_modified_at,
    Task.synced_at,
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
    if query.cursor is not None and query.offset:
        raise param_error("give either offset or cursor, not both", field="offset")


def synced_through() -> ColumnElement[Any]:
    """When the account's latest successful sync started (null before the first): every
    mirrored row reflected ACE as of then at least, whether or not that sync rewrote it."""
    return (
        select(SyncJob.started_at)
        .where(SyncJob.account_id == bindparam("account_id"), SyncJob.state == SyncState.succeeded)
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
        .scalar_subquery()
        .label("synced_through")
    )


SYNCED_THROUGH_STATEMENT = select(synced_through())


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
        raise NotFoundError(NO_SUCH_USER)
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
            raise NotFoundError(NO_SUCH_USER)
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
