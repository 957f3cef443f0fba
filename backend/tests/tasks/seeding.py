"""Rows for the read tests, put in through the models (never through the API)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.connection.database import Database
from app.models import Project, SyncJob, SyncState, Task, TaskAssignee

_ace_ids = itertools.count(1000)


def now() -> datetime:
    return datetime.now(UTC)


async def add_project(
    database: Database, *, account_id: str = "acme", name: str = "Project", **values: Any
) -> Project:
    async with database.session() as session:
        project = Project(
            account_id=account_id,
            ace_project_id=values.pop("ace_project_id", next(_ace_ids)),
            name=name,
            synced_at=values.pop("synced_at", now()),
            **values,
        )
        session.add(project)
        await session.commit()
        return project


async def add_task(
    database: Database,
    project: Project,
    *,
    title: str = "Task",
    assignees: Iterable[int] = (),
    reviewers: Iterable[int] = (),
    **values: Any,
) -> Task:
    """A task of `project` (same account unless `account_id` is given), assigned as told."""
    async with database.session() as session:
        task = Task(
            account_id=values.pop("account_id", project.account_id),
            ace_task_id=values.pop("ace_task_id", next(_ace_ids)),
            project_id=project.id,
            title=title,
            synced_at=values.pop("synced_at", now()),
            **values,
        )
        session.add(task)
        await session.flush()
        reviewer_ids = set(reviewers)
        for user_id in [*assignees, *reviewer_ids]:
            session.add(
                TaskAssignee(
                    task_id=task.id,
                    user_id=user_id,
                    is_assignee=user_id not in reviewer_ids,
                    is_reviewer=user_id in reviewer_ids,
                    assigned_hours=2.5,
                )
            )
        await session.commit()
        return task


async def add_tasks(
    database: Database, project: Project, count: int, *, assignee: int, **values: Any
) -> list[int]:
    """`count` tasks titled `t000`, `t001`, … assigned to `assignee`, in one transaction."""
    async with database.session() as session:
        tasks = [
            Task(
                account_id=project.account_id,
                ace_task_id=next(_ace_ids),
                project_id=project.id,
                title=f"t{number:03d}",
                **values,
            )
            for number in range(count)
        ]
        session.add_all(tasks)
        await session.flush()
        session.add_all(TaskAssignee(task_id=task.id, user_id=assignee) for task in tasks)
        await session.commit()
        return [task.id for task in tasks]


async def add_sync_job(
    database: Database, account_id: str, state: SyncState, started: datetime
) -> None:
    """A finished sync job of `account_id` (two minutes long)."""
    async with database.session() as session:
        session.add(
            SyncJob(
                account_id=account_id,
                kind="incremental",
                state=state,
                started_at=started,
                finished_at=started + timedelta(minutes=2),
            )
        )
        await session.commit()
