"""Task logs: the bodies of `POST /tasks/{task_id}/logs` and `PATCH /task-logs/{log_id}`, the
query of the log lists, and the log and page they answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.dto.base import Day, InputModel, OutputModel, SafeStr
from app.dto.task import MAX_ID, PageQuery
from app.models.enums import TaskLogKind, TaskLogSource

MAX_LOG_COMMENT_LENGTH = 10_000
MAX_DAY_HOURS = 24.0

Hours = Annotated[
    float,
    Field(gt=0, le=MAX_DAY_HOURS, allow_inf_nan=False, description="Hours worked, > 0 and ≤ 24"),
]
Comment = Annotated[
    SafeStr, Field(min_length=1, max_length=MAX_LOG_COMMENT_LENGTH, description="Free text")
]

TaskLogSort = Literal["date", "-date", "id", "-id"]


class TaskLogCreate(InputModel):
    """A new log of the caller on a task: `time` (date_worked, hours, optional comment) or
    `note` (comment; date_worked defaults to today). `status_change` logs are recorded by
    the system when a task's status moves and cannot be created here (422). Which fields a
    kind needs is checked by the service (422 naming the field)."""

    kind: TaskLogKind = Field(description="time or note")
    date_worked: Day | None = Field(
        default=None, description="The day (YYYY-MM-DD); required for time, today by default"
    )
    hours: Hours | None = None
    comment: Comment | None = None


def _not_null(schema: dict[str, Any]) -> None:
    """Published without `null`: the field may be left out, but null is refused."""
    kinds = [kind for kind in schema.pop("anyOf") if kind != {"type": "null"}]
    schema.pop("default", None)
    schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})


class TaskLogUpdate(InputModel):
    """What may change of a log: a time log's date_worked, hours and comment, a note's
    comment. Give at least one field."""

    # The schema says what the validator below refuses: an empty body, a null date or hours.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    date_worked: Day | None = Field(default=None, json_schema_extra=_not_null)
    hours: Hours | None = Field(default=None, json_schema_extra=_not_null)
    comment: Comment | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise PydanticCustomError("missing_field", "give date_worked, hours or comment")
        for name in self.model_fields_set:
            if getattr(self, name) is None and name != "comment":
                raise PydanticCustomError("null_field", f"{name} must not be null")
        return self


class TaskLogFilters(PageQuery):
    """Filters, sort and page of the log lists; unknown parameters are ignored."""

    date_from: Day | None = Field(default=None, description="date_worked on or after")
    date_to: Day | None = Field(default=None, description="date_worked on or before")
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="acehub user id")
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="acehub project id")
    kind: TaskLogKind | None = None
    source: TaskLogSource | None = None
    sort: TaskLogSort = Field(
        default="-date",
        description="date (date_worked) or id; a leading `-` reverses it; ties go by id",
    )


class TaskLogListQuery(TaskLogFilters):
    task_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="acehub task id")


class TaskLogRead(OutputModel):
    id: int
    task_id: int = Field(description="acehub task id")
    user_id: int = Field(description="acehub user id of the person who logged it")
    kind: TaskLogKind
    date_worked: date
    hours: float | None
    comment: str | None
    old_status: str | None
    new_status: str | None
    source: TaskLogSource = Field(description="ace: mirrors an ACE time entry; local: acehub's")
    ace_timesheet_line_id: int | None
    created_at: datetime
    updated_at: datetime


class TaskLogPage(OutputModel):
    items: list[TaskLogRead]
    total: int = Field(description="Logs matching the filters, over all pages")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
