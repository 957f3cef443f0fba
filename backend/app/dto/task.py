"""Tasks of a user: the query parameters of `GET /tasks/{user_id}` and the page it answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.dto.base import Day, OutputModel, SafeStr
from app.models.enums import StatusType

# Ids are BIGINT: a larger number can name no row, and must not reach the database driver.
MAX_ID = 2**63 - 1
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000

TaskSort = Literal[
    "due", "-due", "title", "-title", "updated", "-updated", "priority", "-priority", "id", "-id"
]


def split_csv(value: object) -> object:
    """`a,b` and repeated parameters (`x=a&x=b`) both become `[a, b]`. An empty item
    (`x=`, `a,,b`) is kept, so validation refuses it: a filter left blank must not silently
    widen to everything."""
    if value is None:
        return []
    items: list[object] = list(value) if isinstance(value, list | tuple) else [value]
    texts = [item for item in items if isinstance(item, str)]
    if len(texts) != len(items):
        return value
    return [part.strip() for text in texts for part in text.split(",")]


class PageQuery(BaseModel):
    """Pagination shared by the list endpoints: `offset` or an opaque keyset `cursor`."""

    limit: int = Field(default=50, ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_OFFSET,
        description="Rows to skip; must be 0 (or absent) when `cursor` is given",
    )
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="`next_cursor` of the previous page (same filters and sort); any sort",
    )


class TaskListQuery(PageQuery):
    """Filters, sort and page of `GET /tasks/{user_id}`; unknown parameters are ignored."""

    status: SafeStr | None = Field(
        default=None, min_length=1, max_length=100, description="Exact ACE status name"
    )
    status_type: list[StatusType] = Field(
        default_factory=list,
        description="One or more of waiting, in_progress, completed: repeat the parameter "
        "(`status_type=waiting&status_type=in_progress`) or list them (`waiting,in_progress`)",
    )
    project_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="acehub project id (`GET /projects`)"
    )
    due_after: Day | None = Field(
        default=None, description="Expected end on or after this date (YYYY-MM-DD)"
    )
    due_before: Day | None = Field(
        default=None, description="Expected end on or before this date (YYYY-MM-DD)"
    )
    overdue: bool | None = Field(
        default=None,
        description="true: expected end before today (UTC) and not completed; false: the others",
    )
    q: SafeStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Case-insensitive text the title contains (taken literally; no wildcards)",
    )
    sort: TaskSort = Field(
        default="due",
        description="due (expected end, tasks without one last), title, updated (ACE "
        "modification time), priority or id; a leading `-` reverses it; ties go by id",
    )

    _split_status_types = field_validator("status_type", mode="before")(split_csv)


class TaskAssigneeRead(OutputModel):
    user_id: int = Field(description="acehub user id")
    username: str
    is_assignee: bool
    is_reviewer: bool
    assigned_hours: float | None


class TaskRead(OutputModel):
    """One task of the list, with its project and assignees."""

    id: int = Field(description="acehub task id")
    ace_task_id: int
    ace_project_id: int
    project_id: int = Field(description="acehub project id")
    project_name: str
    number: str | None
    title: str
    status: str | None
    status_type: StatusType | None
    priority: str | None
    type: str | None
    estimated_hours: float | None
    actual_hours: float | None
    percent_done: float | None
    expected_start: date | None
    expected_end: date | None
    actual_start: date | None
    actual_end: date | None
    ace_modified_at: datetime | None = Field(description="Last change in ACE")
    synced_at: datetime | None = Field(
        description="When acehub last wrote the task from ACE (first seen or changed there); "
        "`synced_through` of the page says how fresh it is"
    )
    assignees: list[TaskAssigneeRead]


class TaskPage(OutputModel):
    items: list[TaskRead]
    total: int = Field(description="Tasks matching the filters, over all pages")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    synced_through: datetime | None = Field(
        description="Start of the account's latest successful sync: the tasks reflect ACE as "
        "of then at least (null before the first sync)"
    )


MAX_COMMENT_LENGTH = 10_000


class TaskUpdate(BaseModel):
    """`PATCH /tasks/{task_id}`: what a person may change of a task, sent to ACE. Give a
    `status` by name (one of the task's project's statuses) or a `status_type` (the
    project's first status of that type), and/or `percent_done` and a `comment`."""

    # minProperties: an empty body is refused below ("give at least one field").
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    status: SafeStr | None = Field(default=None, min_length=1, max_length=100)
    status_type: StatusType | None = None
    percent_done: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    comment: SafeStr | None = Field(default=None, min_length=1, max_length=MAX_COMMENT_LENGTH)

    @model_validator(mode="after")
    def _one_change_at_least(self) -> Self:
        if self.status is not None and self.status_type is not None:
            raise PydanticCustomError(
                "status_or_type", "give `status` or `status_type`, not both", {}
            )
        if self.model_fields_set.isdisjoint({"status", "status_type", "percent_done", "comment"}):
            raise PydanticCustomError("nothing_to_change", "give at least one field to change", {})
        return self


class TaskChanged(OutputModel):
    """The task as ACE now has it, and the `status_change` log that records the change."""

    task_id: int
    ace_task_id: int
    status: str | None
    status_type: StatusType | None
    percent_done: float | None
    log_id: int | None = Field(
        description="The `status_change` log; null when a sync had already recorded the move"
    )
