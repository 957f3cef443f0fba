"""Projects of the caller's account with their task counts (`GET /projects`, `/projects/{id}`).

Visibility: not-deleted projects of the caller's account; managers and admins see all of
them, a member only those in which a not-deleted task is assigned to them. Anything else is
"not found". Task counts cover every not-deleted task of the project, whoever it is assigned
to, so a member sees the same progress figures as their manager.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from app.ace.port import AceApi
from app.auth.caller import Caller
from app.auth.security import GuidCipher
from app.connection.database import Database
from app.dto.project_dto import ProjectListQuery, ProjectPage, ProjectRead, TaskCounts
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
    parse_sort,
    query_fingerprint,
)
from app.services.sync import fetch
from app.services.sync.account_sync import SyncCredentials

PROJECT_SORTS: dict[str, tuple[str, ValueKind]] = {
    "name": ("name", "str"),
    "updated": ("ace_modified_at", "datetime"),
    "id": ("id", "int"),
}

_PROJECT_TABLE = Project.__table__.c

# An item's fields (`ProjectRead`, but its task counts): the project's columns of those names.
_ITEM_COLUMNS: tuple[QueryableAttribute[Any], ...] = tuple(
    getattr(Project, name) for name in ProjectRead.model_fields if name != "task_counts"
)


def _visible_projects(caller: Caller) -> Select[Any]:
    statement = select(*_ITEM_COLUMNS).where(
        Project.account_id == caller.account_id, Project.deleted_at.is_(None)
    )
    if caller.role is RoleEnum.member:
        statement = statement.where(
            exists().where(
                TaskAssignee.user_id == caller.id,
                Task.id == TaskAssignee.task_id,
                Task.project_id == Project.id,
                Task.account_id == caller.account_id,
                Task.deleted_at.is_(None),
            )
        )
    return statement


def _conditions(query: ProjectListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.q is not None:
        conditions.append(Project.name.icontains(query.q, autoescape=True))
    if query.status is not None:
        conditions.append(Project.status == query.status)
    return conditions


async def list_projects(
    connection: AsyncConnection, *, caller: Caller, query: ProjectListQuery, cursors: CursorCodec
) -> ProjectPage:
    check_page(query)
    spec = parse_sort(query.sort, PROJECT_SORTS)
    query_id = query_fingerprint(
        "projects", caller.id, query.model_dump(exclude={"limit", "offset", "cursor"})
    )
    scope = _visible_projects(caller).where(*_conditions(query))
    total = await connection.scalar(select(func.count()).select_from(scope.subquery()))

    column, id_column = _PROJECT_TABLE[spec.column], _PROJECT_TABLE.id
    statement = scope
    if query.cursor is not None:
        value, last_id = cursors.decode(query.cursor, query_id=query_id, kind=spec.kind)
        statement = statement.where(after_key(spec, column, id_column, value, last_id))
    statement = (
        statement.order_by(*order_by(spec, column, id_column))
        .limit(query.limit + 1)
        .offset(query.offset)
    )
    projects = (await connection.execute(statement)).all()
    page = projects[: query.limit]
    next_cursor = None
    if len(projects) > query.limit:
        last = page[-1]
        next_cursor = cursors.encode(
            query_id=query_id, value=getattr(last, spec.column), last_id=last.id
        )
    counts = await _task_counts(connection, account_id=caller.account_id, projects=page)
    through = await connection.scalar(SYNCED_THROUGH_STATEMENT, {"account_id": caller.account_id})
    return ProjectPage(
        items=[_read(project, counts) for project in page],
        total=int(total or 0),
        limit=query.limit,
        offset=query.offset,
        next_cursor=next_cursor,
        synced_through=through,
    )


async def get_project(
    connection: AsyncConnection, *, caller: Caller, project_id: int
) -> ProjectRead:
    project = (
        await connection.execute(_visible_projects(caller).where(Project.id == project_id))
    ).first()
    if project is None:
        raise AppError("No such project in this account", code=ErrorCode.NOT_FOUND)
    counts = await _task_counts(connection, account_id=caller.account_id, projects=[project])
    return _read(project, counts)


async def _task_counts(
    connection: AsyncConnection, *, account_id: str, projects: list[Row[Any]]
) -> dict[int, TaskCounts]:
    """Not-deleted tasks per project and status type, for all the given projects at once."""
    counts = {project.id: TaskCounts() for project in projects}
    if not counts:
        return counts
    statement = (
        select(Task.project_id, Task.status_type, func.count())
        .where(
            Task.project_id.in_(list(counts)),
            Task.account_id == account_id,
            Task.deleted_at.is_(None),
        )
        .group_by(Task.project_id, Task.status_type)
    )
    for project_id, status_type, number in (await connection.execute(statement)).all():
        entry = counts[project_id]
        entry.total += number
        if status_type is StatusType.waiting:
            entry.waiting += number
        elif status_type is StatusType.in_progress:
            entry.in_progress += number
        elif status_type is StatusType.completed:
            entry.completed += number
    return counts


def _read(project: Row[Any], counts: dict[int, TaskCounts]) -> ProjectRead:
    fields: dict[str, Any] = dict(project._mapping)
    return ProjectRead(**fields, task_counts=counts[project.id])


async def fetch_from_ace(
    database: Database, *, ace: AceApi, cipher: GuidCipher, user: User
) -> JobCounts:
    """`POST /projects/fetch-projects`: the projects the caller sees in ACE, with the caller's
    ACE session, upserted; counts per entity. No transaction stays open while ACE answers (on
    SQLite it would hold the write lock): the session's use is committed first, and the
    fetched rows are written in short transactions of their own."""
    guid = await ace_session_service.take_guid(database, cipher=cipher, user=user)
    return await fetch.fetch_projects(
        database=database,
        ace=ace,
        creds=SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
    )
