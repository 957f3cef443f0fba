"""Projects: the query parameters of `GET /projects` and the projects it answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.dto.base import OutputModel, SafeStr
from app.dto.task import PageQuery

ProjectSort = Literal["name", "-name", "updated", "-updated", "id", "-id"]


class ProjectListQuery(PageQuery):
    """Filters, sort and page of `GET /projects`; unknown parameters are ignored."""

    q: SafeStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Case-insensitive text the name contains (taken literally; no wildcards)",
    )
    status: SafeStr | None = Field(
        default=None, min_length=1, max_length=100, description="Exact ACE project status"
    )
    sort: ProjectSort = Field(
        default="name",
        description="name, updated (ACE modification time) or id; a leading `-` reverses it; "
        "ties go by id",
    )


class TaskCounts(OutputModel):
    """Not-deleted tasks of the project by status type (`total` also counts untyped ones)."""

    waiting: int = 0
    in_progress: int = 0
    completed: int = 0
    total: int = 0


class ProjectRead(OutputModel):
    id: int = Field(description="acehub project id")
    ace_project_id: int
    name: str
    number: str | None
    description: str | None
    status: str | None
    type: str | None
    priority: str | None
    client_name: str | None
    percent_done: float | None
    ace_created_at: datetime | None
    ace_modified_at: datetime | None
    synced_at: datetime | None = Field(
        description="When acehub last wrote it from ACE (first seen or changed there); "
        "`synced_through` of the list says how fresh it is"
    )
    task_counts: TaskCounts


class ProjectPage(OutputModel):
    items: list[ProjectRead]
    total: int
    limit: int
    offset: int
    next_cursor: str | None
    synced_through: datetime | None = Field(
        description="Start of the account's latest successful sync: the projects reflect ACE "
        "as of then at least (null before the first sync)"
    )
