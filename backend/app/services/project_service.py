"""Projects of the caller's account with their task counts (`GET /projects`, `/projects/{id}`).

Visibility: not-deleted projects of the caller's account; managers and admins see all of
them, a member only those in which a not-deleted task is assigned to them. Anything else is
"not found". Task counts cover every not-deleted task of the project, whoever it is assigned
to, so a member sees the same progress figures as their manager.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.dto.project_dto import ProjectListQuery, ProjectPage, ProjectRead, TaskCounts
from app.errors import NotFoundError
from app.models import Project, RoleEnum, StatusType, Task, TaskAssignee
from app.services.task_service import (
    SYNCED_THROUGH_STATEMENT,
    Caller,
    CursorCodec,
    ValueKind,
    after_key,
    order_by,
    param_error,
    parse_sort,
    query_fingerprint,
)

PROJECT_SORTS: dict[str, tuple[str, ValueKind]] = {
    "name": ("name", "str"),
    "updated": ("ace_modified_at", "datetime"),
    "id": ("id", "int"),
}

_PROJECT_TABLE = Project.__table__.c


def _visible_projects(caller: Caller) -> Select[Project]:
    statement = select(Project).where(
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
    session: AsyncSession, *, caller: Caller, query: ProjectListQuery, cursors: CursorCodec
) -> ProjectPage:
    if query.cursor is not None and query.offset:
        raise param_error("give either offset or cursor, not both", field="offset")
    spec = parse_sort(query.sort, PROJECT_SORTS)
    query_id = query_fingerprint(
        "projects", caller.id, query.model_dump(exclude={"limit", "offset", "cursor"})
    )
    scope = _visible_projects(caller).where(*_conditions(query))
    total = await session.scalar(select(func.count()).select_from(scope.subquery()))

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
    projects = list(await session.scalars(statement))
    page = projects[: query.limit]
    next_cursor = None
    if len(projects) > query.limit:
        last = page[-1]
        next_cursor = cursors.encode(
            query_id=query_id, value=getattr(last, spec.column), last_id=last.id
        )
    counts = await _task_counts(session, account_id=caller.account_id, projects=page)
    through = await session.scalar(SYNCED_THROUGH_STATEMENT, {"account_id": caller.account_id})
    return ProjectPage(
        items=[_read(project, counts) for project in page],
        total=int(total or 0),
        limit=query.limit,
        offset=query.offset,
        next_cursor=next_cursor,
        synced_through=through,
    )


async def get_project(session: AsyncSession, *, caller: Caller, project_id: int) -> ProjectRead:
    project = await session.scalar(_visible_projects(caller).where(Project.id == project_id))
    if project is None:
        raise NotFoundError("No such project in this account")
    counts = await _task_counts(session, account_id=caller.account_id, projects=[project])
    return _read(project, counts)


async def _task_counts(
    session: AsyncSession, *, account_id: str, projects: list[Project]
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
    for project_id, status_type, number in (await session.execute(statement)).all():
        entry = counts[project_id]
        entry.total += number
        if status_type is StatusType.waiting:
            entry.waiting += number
        elif status_type is StatusType.in_progress:
            entry.in_progress += number
        elif status_type is StatusType.completed:
            entry.completed += number
    return counts


def _read(project: Project, counts: dict[int, TaskCounts]) -> ProjectRead:
    fields: dict[str, Any] = {
        name: getattr(project, name) for name in ProjectRead.model_fields if name != "task_counts"
    }
    return ProjectRead(**fields, task_counts=counts[project.id])
