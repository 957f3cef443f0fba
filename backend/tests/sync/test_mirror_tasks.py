"""`mirror_tasks` from column batches: a repeated task keeps its last row, a task of an
unmirrored project is skipped and counted (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.ace.dto import AceProject, AceTask, AceTaskStatus
from app.ace.statuses import StatusList
from app.connection.database import Database
from app.models import Task
from app.services.sync import mirror as mirror_service
from app.services.sync.mirror import TaskBatch

NOW = datetime(2025, 5, 2, 12, 0, tzinfo=UTC)
# Project 1's statuses: id 7 is in progress (COMPLETED_STATUS 2), whatever the row claims.
STATUSES = {
    1: StatusList(
        [
            AceTaskStatus.model_validate(
                {"TASK_STATUS_ID": 7, "TASK_STATUS_NAME": "Doing", "COMPLETED_STATUS": 2}
            )
        ]
    )
}


def _task(task_id: int, project_id: int, title: str) -> AceTask:
    return AceTask.model_validate(
        {
            "TASK_ID": task_id,
            "PROJECT_ID": project_id,
            "TASK_RESUME": title,
            "TASK_STATUS_ID": 7,
            "STATUS_TYPE_ID": 1,
            "DATE_TASK_MODIFIED": "2025-05-01T09:30:15",
        }
    )


async def test_batches_keep_the_last_row_and_skip_unknown_projects(database: Database) -> None:
    async with database.session() as session, session.begin():
        await mirror_service.mirror_projects(
            session,
            account_id="demo",
            projects=[AceProject.model_validate({"PROJECT_ID": 1, "PROJECT_NAME": "Site"})],
            now=NOW,
        )
        project_ids = await mirror_service.project_ids_by_ace_id(session, account_id="demo")
        batch = TaskBatch.of([_task(10, 1, "first"), _task(11, 99, "orphan")], STATUSES)
        batch.extend(TaskBatch.of([_task(12, 1, "other"), _task(10, 1, "last")], STATUSES))
        assert len(batch) == 4
        assert batch.unknown_statuses == 1  # the orphan's project has no list
        counts, skipped = await mirror_service.mirror_tasks(
            session, account_id="demo", tasks=batch, project_ids=project_ids, now=NOW
        )
        rows = (await session.execute(select(Task.ace_task_id, Task.title, Task.status_type))).all()
    assert skipped == 1
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    assert sorted((r[0], r[1], str(r[2])) for r in rows) == [
        (10, "last", "in_progress"),
        (12, "other", "in_progress"),
    ]


async def test_a_batch_of_only_unknown_projects_writes_nothing(database: Database) -> None:
    async with database.session() as session, session.begin():
        counts, skipped = await mirror_service.mirror_tasks(
            session,
            account_id="demo",
            tasks=TaskBatch.of([_task(10, 5, "orphan")], STATUSES),
            project_ids={},
            now=NOW,
        )
    assert skipped == 1
    assert counts.as_dict() == {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
