"""Reports (`/reports/...`): their query parameters and the JSON they answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from app.dto.base import Day, OutputModel
from app.dto.task import MAX_ID, split_csv
from app.models import StatusType

Dimension = Literal["user", "project", "task", "day", "week", "month", "status_type", "source"]
Rounding = Literal["up", "down", "nearest"]
ReportFormat = Literal["json", "csv", "xlsx"]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class ReportFilters(BaseModel):
    """The filters every report takes; list filters repeat (`user_id=1&user_id=2`) or list
    (`1,2`). Unknown parameters are ignored."""

    date_from: Day | None = Field(default=None, description="First day worked (YYYY-MM-DD)")
    date_to: Day | None = Field(default=None, description="Last day worked, inclusive")
    user_id: list[Id] = Field(default_factory=list, description="acehub user ids")
    project_id: list[Id] = Field(default_factory=list, description="acehub project ids")
    task_id: list[Id] = Field(default_factory=list, description="acehub task ids")
    status_type: list[StatusType] = Field(
        default_factory=list, description="Task status types: waiting, in_progress, completed"
    )
    format: ReportFormat = Field(default="json", description="json, csv or xlsx")
    bom: bool = Field(default=False, description="CSV only: start the file with a UTF-8 BOM")

    _split = field_validator("user_id", "project_id", "task_id", "status_type", mode="before")(
        split_csv
    )


class TimeReportQuery(ReportFilters):
    group: Dimension = Field(description="First level of the tree")
    sub_group: Dimension | None = Field(default=None, description="Optional second level")
    rounding: Rounding | None = Field(
        default=None, description="Round each entry up, down or to the nearest step"
    )
    rounding_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="The rounding step, in minutes"
    )
    fill_gaps: bool = Field(
        default=False,
        description="Add empty day/week/month buckets of the range (needs date_from and date_to)",
    )


class TimeNode(OutputModel):
    key: int | str | None = Field(
        description="acehub id (user, project, task), first day of the bucket (day, week, "
        "month) or the value itself (status_type, source)"
    )
    label: str
    hours: float
    entries: int
    estimated_hours: float | None = Field(
        default=None, description="Task and project nodes: the estimate"
    )
    ratio: float | None = Field(
        default=None, description="Task and project nodes: logged / estimated (null: none)"
    )
    groups: list[TimeNode] = Field(default_factory=list)


class RoundingRule(OutputModel):
    mode: Rounding | None = Field(description="null: hours as logged")
    minutes: int | None


class TimeReport(OutputModel):
    group: Dimension
    sub_group: Dimension | None
    date_from: date | None
    date_to: date | None
    rounding: RoundingRule
    week_start: str
    timezone: str
    hours: float
    entries: int
    groups: list[TimeNode]


class WorkloadRow(OutputModel):
    user_id: int
    label: str
    open_tasks: int = Field(description="Not completed, not deleted tasks assigned to the user")
    remaining_hours: float = Field(
        description="Sum over open tasks of max(estimate - hours logged on it, 0)"
    )
    hours_logged: float = Field(description="Hours the user logged in the range")
    overdue_tasks: int


class WorkloadReport(OutputModel):
    date_from: date | None
    date_to: date | None
    today: date
    users: list[WorkloadRow]


class OverdueTask(OutputModel):
    task_id: int
    title: str
    project_id: int
    project_name: str
    expected_end: date
    days_overdue: int
    status_type: StatusType | None
    assignees: list[str]


class OverdueReport(OutputModel):
    today: date
    total: int
    tasks: list[OverdueTask]


class WeekHours(OutputModel):
    week: date
    hours: float


class ProjectProgress(OutputModel):
    project_id: int
    name: str
    date_from: date | None
    date_to: date | None
    tasks_by_status_type: dict[str, int] = Field(
        description="waiting, in_progress, completed and none (untyped)"
    )
    total_tasks: int
    percent_done: float | None = Field(description="Completed tasks / all tasks, in percent")
    estimated_hours: float
    logged_hours: float
    ratio: float | None
    overdue_tasks: int
    hours_per_week: list[WeekHours]
