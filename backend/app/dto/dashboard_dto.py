"""The web dashboard's query parameters (what its filter forms send)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.dto.report_dto import TimeReportQuery
from app.dto.task import MAX_ID, TaskListQuery
from app.models import StatusType

TASKS_PER_PAGE = 20
DEFAULT_RANGE_DAYS = 27  # four weeks, today included
MAX_RANGE_DAYS = 366 * 2


class DashboardQuery(BaseModel):
    """The task table's filters and page, and the time section's range. A form's empty
    field means "any"."""

    status_type: list[StatusType] = Field(default_factory=list)
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    overdue: bool | None = None
    offset: int = Field(default=0, ge=0, le=100_000)
    date_from: date | None = None
    date_to: date | None = None
    bucket: Literal["day", "week"] = "day"

    @field_validator("project_id", "overdue", "date_from", "date_to", mode="before")
    @classmethod
    def _empty_is_any(cls, value: Any) -> Any:
        return None if value == "" else value

    def time_range(self, today: date) -> tuple[date, date]:
        end = self.date_to or today
        start = self.date_from or end - timedelta(days=DEFAULT_RANGE_DAYS)
        # A chart of more than two years of days helps nobody; keep the end, cut the start.
        return max(start, end - timedelta(days=MAX_RANGE_DAYS)), end

    def task_query(self) -> TaskListQuery:
        return TaskListQuery(
            limit=TASKS_PER_PAGE,
            offset=self.offset,
            status_type=self.status_type,
            project_id=self.project_id,
            overdue=self.overdue,
        )

    def time_query(self, today: date, **extra: Any) -> TimeReportQuery:
        start, end = self.time_range(today)
        return TimeReportQuery(
            group=self.bucket,
            sub_group="project",
            date_from=start,
            date_to=end,
            fill_gaps=True,
            **extra,
        )
