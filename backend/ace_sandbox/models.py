"""Plain records the sandbox keeps in memory, and the lookup tables every account shares.

Invented choices (ace-api.md leaves them open):

- ``User.active`` is derived from ``access_status`` (1 active-allowed, 2 active-denied,
  3 inactive-denied, ace-api.md 6.5): a user is ACTIVE unless its status is 3; only
  status 1 may log in.
- Task statuses group into the three status types of ace-api.md 6.3 (1 waiting,
  2 in progress, 3 completed); a status is COMPLETED_STATUS when its type is 3.
- Project statuses carry a "completed" flag used by ``filtercompletedproject``.
- ``POURCENTAGE``/``POURCENTAGE_DONE`` are percentages 0..100 (the real scale is unconfirmed).
- Lookup ids (status, priority, type, group, client, time type) are the same small
  tables in every account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

STATUS_TYPE_WAITING = 1
STATUS_TYPE_IN_PROGRESS = 2
STATUS_TYPE_COMPLETED = 3
STATUS_TYPE_NAMES = {1: "Waiting", 2: "In progress", 3: "Completed"}

ACCESS_LEVEL_NORMAL = 1
ACCESS_LEVEL_ADMIN = 2

ACCESS_ALLOWED = 1
ACCESS_DENIED = 2
ACCESS_INACTIVE = 3


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_status_id: int
    name: str
    status_type_id: int

    @property
    def completed(self) -> bool:
        return self.status_type_id == STATUS_TYPE_COMPLETED


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    project_status_id: int
    name: str
    completed: bool


@dataclass(frozen=True, slots=True)
class Client:
    client_id: int
    number: str
    name: str


@dataclass(slots=True)
class User:
    user_id: int
    username: str
    first_name: str
    last_name: str
    email_alert: str
    password: str
    access_level: int = ACCESS_LEVEL_NORMAL
    access_status: int = ACCESS_ALLOWED
    user_group_id: int = 1
    date_modified: datetime = datetime(2025, 1, 1)

    @property
    def active(self) -> bool:
        return self.access_status != ACCESS_INACTIVE

    @property
    def is_admin(self) -> bool:
        return self.access_level == ACCESS_LEVEL_ADMIN

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(slots=True)
class Project:
    project_id: int
    project_name: str
    project_number: str = ""
    project_desc: str = ""
    project_type_id: int = 1
    project_status_id: int = 2
    project_priority_id: int = 2
    client_id: int = 1
    contact_name: str = ""
    contact_phone: str = ""
    date_created: datetime = datetime(2025, 1, 1)
    date_modified: datetime = datetime(2025, 1, 1)
    creator_user_id: int = 1
    update_user_id: int = 1
    pourcentage: float = 0.0
    deleted: bool = False


@dataclass(slots=True)
class Task:
    task_id: int
    project_id: int
    task_resume: str
    task_number: int = 1
    task_desc_creator: str = ""
    task_group_id: int = 1
    task_type_id: int = 1
    task_status_id: int = 1
    task_priority_id: int = 2
    date_created: datetime = datetime(2025, 1, 1)
    date_modified: datetime = datetime(2025, 1, 1)
    date_expected_start: datetime | None = None
    date_expected_end: datetime | None = None
    date_actual_start: datetime | None = None
    date_actual_end: datetime | None = None
    estimated_time: float = 0.0
    actual_hours: float = 0.0
    pourcentage_done: float = 0.0
    creator_user_id: int = 1
    update_user_id: int = 1


@dataclass(slots=True)
class Assignment:
    user_id: int
    is_assignee: bool = True
    is_reviewer: bool = False
    assigned_hours: float = 0.0


@dataclass(slots=True)
class TimeEntry:
    timesheet_line_id: int
    date_worked: datetime
    user_id: int
    project_id: int
    task_id: int
    total: float
    time_type_id: int = 1
    comment: str = ""
    date_created: datetime = datetime(2025, 1, 1)
    date_modified: datetime = datetime(2025, 1, 1)
    date_submitted: datetime | None = None
    approval_level: int = 0
    approval_user_id: int | None = None
    date_approval: datetime | None = None

    @property
    def key(self) -> tuple[int, datetime]:
        return (self.timesheet_line_id, self.date_worked)


@dataclass(slots=True)
class Session:
    guid: str
    account_id: str
    user_id: int
    created: float
    last_used: float


@dataclass(slots=True)
class Lookups:
    """Per-account lookup tables (the same defaults everywhere)."""

    task_statuses: dict[int, TaskStatus] = field(
        default_factory=lambda: {
            s.task_status_id: s
            for s in (
                TaskStatus(1, "Not started", STATUS_TYPE_WAITING),
                TaskStatus(2, "Waiting for input", STATUS_TYPE_WAITING),
                TaskStatus(3, "In progress", STATUS_TYPE_IN_PROGRESS),
                TaskStatus(4, "In review", STATUS_TYPE_IN_PROGRESS),
                TaskStatus(5, "Completed", STATUS_TYPE_COMPLETED),
                TaskStatus(6, "Cancelled", STATUS_TYPE_COMPLETED),
            )
        }
    )
    project_statuses: dict[int, ProjectStatus] = field(
        default_factory=lambda: {
            s.project_status_id: s
            for s in (
                ProjectStatus(1, "Not started", False),
                ProjectStatus(2, "In progress", False),
                ProjectStatus(3, "On hold", False),
                ProjectStatus(4, "Completed", True),
            )
        }
    )
    project_types: dict[int, str] = field(
        default_factory=lambda: {1: "Internal", 2: "Client", 3: "Maintenance"}
    )
    priorities: dict[int, str] = field(
        default_factory=lambda: {1: "Low", 2: "Normal", 3: "High", 4: "Urgent"}
    )
    clients: dict[int, Client] = field(
        default_factory=lambda: {
            c.client_id: c
            for c in (
                Client(1, "C-001", "Internal"),
                Client(2, "C-002", "Northwind Traders"),
                Client(3, "C-003", "Contoso Ltd"),
                Client(4, "C-004", "Fabrikam Inc"),
            )
        }
    )
    task_groups: dict[int, str] = field(
        default_factory=lambda: {1: "General", 2: "Development", 3: "Design", 4: "Quality"}
    )
    task_types: dict[int, str] = field(
        default_factory=lambda: {1: "Task", 2: "Bug", 3: "Feature", 4: "Meeting"}
    )
    user_groups: dict[int, str] = field(
        default_factory=lambda: {1: "Staff", 2: "Management", 3: "Contractors"}
    )
    time_types: dict[int, str] = field(default_factory=lambda: {1: "Regular", 2: "Overtime"})
    approval_levels: dict[int, str] = field(
        default_factory=lambda: {0: "In progress", 1: "Submitted", 2: "Approved"}
    )
