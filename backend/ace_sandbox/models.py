"""Plain records the sandbox keeps in memory, and the lookup tables every account shares.

Task statuses follow the documented ``CompletedStatus`` code list of ACE's ``savetaskstatus``
function: 0 waiting, 1 completed, 2 in progress (``COMPLETED_STATUS`` on ``gettaskstatuses``
rows is that code, not a boolean). Percent done of a task (``POURCENTAGE_DONE``) is on ACE's
documented ``PercentDone`` scale 0..10 (tenths: 4 means 40 %); a project's ``POURCENTAGE``
is 0..100.

Invented choices (the public sources leave them open):

- ``User.active`` is derived from ``access_status`` (1 active-allowed, 2 active-denied,
  3 inactive-denied): a user is ACTIVE unless its status is 3; only status 1 may log in.
- Every project has its own ordered list of task statuses; status ids come from one
  account-wide sequence. A status listed in no project exists only through
  ``Account.give_task_unknown_status`` / ``Account.set_task_status`` (test aids).
- ``STATUS_TYPE_ID`` on task rows is a per-project permutation of the codes 1..3 over the
  three status kinds (``status_type_code``), so no fixed table decodes it for every project.
- Project statuses carry a "completed" flag used by ``filtercompletedproject``.
- A time-sheet line is one user's week (Sunday to Saturday) of daily entries; it keeps its
  id, user and week even when no day has hours left.
- Lookup ids (project status, priority, type, group, client, time type) are the same small
  tables in every account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import permutations

# The documented CompletedStatus codes of a task status.
STATUS_WAITING = 0
STATUS_COMPLETED = 1
STATUS_IN_PROGRESS = 2
COMPLETED_STATUS_CODES = (STATUS_WAITING, STATUS_COMPLETED, STATUS_IN_PROGRESS)

PERCENT_DONE_MAX = 10.0

# All orders of the codes 1..3; a project's STATUS_TYPE_ID codes are one of them.
_STATUS_TYPE_PERMUTATIONS = tuple(permutations((1, 2, 3)))


def status_type_code(project_id: int, completed_status: int) -> int:
    """The STATUS_TYPE_ID a task row of this project carries for a status kind (invented:
    neighbouring project ids use different permutations, so no single table fits)."""
    codes = _STATUS_TYPE_PERMUTATIONS[project_id % len(_STATUS_TYPE_PERMUTATIONS)]
    return codes[completed_status]


def week_start_of(day: date) -> date:
    """The Sunday that starts the ACE time-sheet week of ``day``."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


ACCESS_LEVEL_NORMAL = 1
ACCESS_LEVEL_ADMIN = 2

ACCESS_ALLOWED = 1
ACCESS_DENIED = 2
ACCESS_INACTIVE = 3


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_status_id: int
    name: str
    completed_status: int
    sort_order: int = 0

    @property
    def completed(self) -> bool:
        return self.completed_status == STATUS_COMPLETED


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
    #: 0 = "the first status of the project's list", resolved by ``Account.add_task``
    task_status_id: int = 0
    task_priority_id: int = 2
    date_created: datetime = datetime(2025, 1, 1)
    date_modified: datetime = datetime(2025, 1, 1)
    date_expected_start: datetime | None = None
    date_expected_end: datetime | None = None
    date_actual_start: datetime | None = None
    date_actual_end: datetime | None = None
    estimated_time: float = 0.0
    actual_hours: float = 0.0
    #: tenths, 0..10 (ACE's PercentDone scale)
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
class TimeLine:
    """One weekly time-sheet line: a user's hours on one task, by day of the week."""

    timesheet_line_id: int
    user_id: int
    week_start: date
    days: dict[date, TimeEntry] = field(default_factory=dict)

    @property
    def approval_level(self) -> int:
        return max((e.approval_level for e in self.days.values()), default=0)


@dataclass(frozen=True, slots=True)
class TaskComment:
    user_id: int
    text: str
    date_created: datetime


@dataclass(slots=True)
class Session:
    guid: str
    account_id: str
    user_id: int
    created: float
    last_used: float


@dataclass(slots=True)
class Lookups:
    """Per-account lookup tables (the same defaults everywhere; task statuses are per project,
    see ``Account``)."""

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
