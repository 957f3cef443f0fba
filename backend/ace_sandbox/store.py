"""In-memory data of the sandbox: accounts, their users, projects, tasks, assignments, time
entries, and the GUID session table.

Every account keeps indexes so that the hot queries stay fast on 100k+ tasks: tasks by
project, by assignee and by reviewer, and day buckets of DATE_TASK_MODIFIED and
DATE_TASK_CREATED; time entries by day worked and by creator.

The mutation helpers (used by tests, benchmarks and the admin endpoints) keep those indexes
right and bump ``Account.version`` so cached query results are dropped. Choices the real
API does not document:

- Assigning or unassigning a user bumps the task's DATE_TASK_MODIFIED (and its
  UPDATE_USER_ID is left alone).
- Assigning a user to a task also makes the user a member of the task's project (project
  membership is what a normal user's visibility is based on). Unassigning keeps it.
- Deleting a task removes it for good; deleting a project only flags it ``deleted`` (it is
  then listed by ``getprojects&deletedprojects=true`` only, and its tasks disappear from
  ``gettasks``).
- Modification stamps come from ``Account.clock`` (local wall-clock time, whole seconds)
  unless a helper is given an explicit ``at=``.
- Deactivating a user (access status 3) invalidates that user's GUIDs at their next use:
  a session is valid only while its user may log in.
- Task statuses: each project has its own ordered list; ids come from one account-wide
  sequence. A project added without a list gets "Not started" / "In progress" /
  "Completed" with fresh ids handed out out of kind order. A task added with status 0
  gets the first status of its project's list.
- Time: entries are grouped into weekly lines (``time_lines``); a line keeps existing with
  no hours until ``delete_time_line``. Every insert or removal of an entry keeps its task's
  ACTUAL_HOURS equal to the sum of the task's entries, without touching DATE_TASK_MODIFIED.
  ``closed_through`` (default None) is the last day of the account's closed period.
"""

from __future__ import annotations

import threading
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import date, datetime, time, timedelta

from ace_sandbox.models import (
    ACCESS_ALLOWED,
    ACCESS_INACTIVE,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    STATUS_WAITING,
    Assignment,
    Lookups,
    Project,
    Session,
    Task,
    TaskComment,
    TaskStatus,
    TimeEntry,
    TimeLine,
    User,
    week_start_of,
)

OP_ON_OR_BEFORE = 1
OP_BEFORE = 2
OP_ON_OR_AFTER = 3
OP_AFTER = 4
OP_EQUAL = 5
DATE_OPERATORS = (OP_ON_OR_BEFORE, OP_BEFORE, OP_ON_OR_AFTER, OP_AFTER, OP_EQUAL)


def wall_clock() -> datetime:
    """Local wall-clock time in whole seconds (the account-local time ACE would stamp)."""
    return datetime.now().replace(microsecond=0)


def day_matches(value: date, op: int, bound: date) -> bool:
    """Compare two days with a date-triple operator (see ``DATE_OPERATORS``)."""
    if op == OP_ON_OR_BEFORE:
        return value <= bound
    if op == OP_BEFORE:
        return value < bound
    if op == OP_ON_OR_AFTER:
        return value >= bound
    if op == OP_AFTER:
        return value > bound
    return value == bound


class DayIndex:
    """Ids bucketed by day, with range selection by date-triple operator."""

    __slots__ = ("_buckets", "_days")

    def __init__(self) -> None:
        self._buckets: dict[date, set[int]] = {}
        self._days: list[date] = []

    def add(self, day: date, key: int) -> None:
        bucket = self._buckets.get(day)
        if bucket is None:
            bucket = self._buckets[day] = set()
            insort(self._days, day)
        bucket.add(key)

    def remove(self, day: date, key: int) -> None:
        bucket = self._buckets.get(day)
        if bucket is None:
            return
        bucket.discard(key)
        if not bucket:
            del self._buckets[day]
            del self._days[bisect_left(self._days, day)]

    def select(self, op: int, bound: date) -> set[int]:
        days = self._days
        if op == OP_EQUAL:
            return set(self._buckets.get(bound, ()))
        if op == OP_ON_OR_BEFORE:
            chosen = days[: bisect_right(days, bound)]
        elif op == OP_BEFORE:
            chosen = days[: bisect_left(days, bound)]
        elif op == OP_ON_OR_AFTER:
            chosen = days[bisect_left(days, bound) :]
        else:
            chosen = days[bisect_right(days, bound) :]
        return set().union(*(self._buckets[d] for d in chosen))


class UnknownObjectError(KeyError):
    """A mutation helper was given an id that does not exist in the account."""


_TASK_FIELDS = frozenset(f.name for f in fields(Task)) - {"task_id"}
_PROJECT_FIELDS = frozenset(f.name for f in fields(Project)) - {"project_id"}
_USER_FIELDS = frozenset(f.name for f in fields(User)) - {"user_id"}


# (name, kind, position of its id among the fresh ids): ids deliberately out of kind order
_DEFAULT_STATUSES = (
    ("Not started", STATUS_WAITING, 1),
    ("In progress", STATUS_IN_PROGRESS, 2),
    ("Completed", STATUS_COMPLETED, 0),
)


def _check_fields(changes: dict[str, object], allowed: frozenset[str], kind: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"unknown {kind} field(s): {', '.join(unknown)}")


class Account:
    """One AceProject account (a sub-domain) with its data and indexes."""

    def __init__(
        self,
        account_id: str,
        company_name: str = "",
        *,
        company_id: int = 1,
        product_name: str = "AceProject",
        clock: Callable[[], datetime] = wall_clock,
        lookups: Lookups | None = None,
    ) -> None:
        self.account_id = account_id.lower()
        self.company_name = company_name or account_id
        self.company_id = company_id
        self.product_name = product_name
        self.clock = clock
        self.lookups = lookups or Lookups()
        self.lock = threading.RLock()
        self.version = 0
        self.users: dict[int, User] = {}
        self._user_by_login: dict[str, int] = {}
        self.projects: dict[int, Project] = {}
        self.project_members: dict[int, set[int]] = {}
        self.projects_by_member: dict[int, set[int]] = {}
        self.tasks: dict[int, Task] = {}
        self.tasks_by_project: dict[int, set[int]] = {}
        self.assignments: dict[int, dict[int, Assignment]] = {}
        self.tasks_by_assignee: dict[int, set[int]] = {}
        self.tasks_by_reviewer: dict[int, set[int]] = {}
        self.task_modified_index = DayIndex()
        self.task_created_index = DayIndex()
        self.task_statuses: dict[int, TaskStatus] = {}
        self.status_lists: dict[int, list[int]] = {}
        self.task_comments: dict[int, list[TaskComment]] = {}
        self.time_entries: dict[tuple[int, datetime], TimeEntry] = {}
        self.time_by_day: dict[date, list[TimeEntry]] = {}
        self.time_days: list[date] = []
        self.time_by_user: dict[int, list[TimeEntry]] = {}
        self.time_lines: dict[int, TimeLine] = {}
        self.closed_through: date | None = None

    def _stamp(self, at: datetime | None) -> datetime:
        return at if at is not None else self.clock()

    def _changed(self) -> None:
        self.version += 1

    # users -------------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.user_id] = user
            self._user_by_login[user.username.lower()] = user.user_id
            self._changed()
            return user

    def find_login(self, login: str) -> User | None:
        """Find a user by username or e-mail (case-insensitive)."""
        key = login.lower()
        user_id = self._user_by_login.get(key)
        if user_id is not None:
            return self.users.get(user_id)
        for user in self.users.values():
            if user.email_alert.lower() == key:
                return user
        return None

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise UnknownObjectError(f"no user {user_id} in account {self.account_id}") from None

    def update_user(self, user_id: int, *, at: datetime | None = None, **changes: object) -> User:
        _check_fields(changes, _USER_FIELDS, "user")
        with self.lock:
            user = self.user(user_id)
            old_login = user.username.lower()
            for name, value in changes.items():
                setattr(user, name, value)
            user.date_modified = self._stamp(at)
            if user.username.lower() != old_login:
                del self._user_by_login[old_login]
                self._user_by_login[user.username.lower()] = user_id
            self._changed()
            return user

    def deactivate_user(self, user_id: int, *, at: datetime | None = None) -> User:
        """Set ACCESS_STATUS 3 (inactive, access denied); the user's GUIDs stop working."""
        return self.update_user(user_id, at=at, access_status=ACCESS_INACTIVE)

    def activate_user(self, user_id: int, *, at: datetime | None = None) -> User:
        return self.update_user(user_id, at=at, access_status=ACCESS_ALLOWED)

    # projects ----------------------------------------------------------------------------

    def project(self, project_id: int) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise UnknownObjectError(
                f"no project {project_id} in account {self.account_id}"
            ) from None

    def add_project(
        self,
        project: Project,
        members: Iterable[int] = (),
        statuses: Iterable[TaskStatus] | None = None,
    ) -> Project:
        """Add a project with its members and task-status list (``None``: the default
        list, unless the project already has one)."""
        with self.lock:
            project_id = project.project_id
            self.projects[project_id] = project
            self.project_members.setdefault(project_id, set())
            self.tasks_by_project.setdefault(project_id, set())
            for user_id in members:
                self._add_member(project_id, user_id)
            if statuses is not None:
                self.status_lists[project_id] = []
                for status in statuses:
                    self._list_status(project_id, status)
            elif project_id not in self.status_lists:
                self._add_default_statuses(project_id)
            self._changed()
            return project

    def _add_member(self, project_id: int, user_id: int) -> None:
        self.project_members.setdefault(project_id, set()).add(user_id)
        self.projects_by_member.setdefault(user_id, set()).add(project_id)

    def add_project_member(self, project_id: int, user_id: int) -> None:
        with self.lock:
            self.project(project_id)
            self.user(user_id)
            self._add_member(project_id, user_id)
            self._changed()

    def remove_project_member(self, project_id: int, user_id: int) -> None:
        with self.lock:
            self.project_members.get(project_id, set()).discard(user_id)
            self.projects_by_member.get(user_id, set()).discard(project_id)
            self._changed()

    def update_project(
        self, project_id: int, *, at: datetime | None = None, **changes: object
    ) -> Project:
        _check_fields(changes, _PROJECT_FIELDS, "project")
        with self.lock:
            project = self.project(project_id)
            for name, value in changes.items():
                setattr(project, name, value)
            project.date_modified = self._stamp(at)
            self._changed()
            return project

    def delete_project(self, project_id: int, *, at: datetime | None = None) -> Project:
        """Soft delete: the project moves to the ``deletedprojects`` list."""
        return self.update_project(project_id, at=at, deleted=True)

    # task statuses -----------------------------------------------------------------------

    def next_status_id(self) -> int:
        return max(self.task_statuses, default=0) + 1

    def _list_status(self, project_id: int, status: TaskStatus) -> None:
        self.task_statuses[status.task_status_id] = status
        self.status_lists.setdefault(project_id, []).append(status.task_status_id)

    def _add_default_statuses(self, project_id: int) -> None:
        first = self.next_status_id()
        self.status_lists[project_id] = []
        for order, (name, kind, position) in enumerate(_DEFAULT_STATUSES, start=1):
            self._list_status(project_id, TaskStatus(first + position, name, kind, order))

    def add_task_status(
        self, project_id: int, name: str, completed_status: int, *, status_id: int | None = None
    ) -> TaskStatus:
        """Append a status to a project's list (id: the next of the account sequence)."""
        with self.lock:
            self.project(project_id)
            listed = self.status_lists.setdefault(project_id, [])
            status = TaskStatus(
                status_id if status_id is not None else self.next_status_id(),
                name,
                completed_status,
                len(listed) + 1,
            )
            self._list_status(project_id, status)
            self._changed()
            return status

    def task_status_list(self, project_id: int) -> list[TaskStatus]:
        """The statuses a task of this project may have, in SORT_ORDER (``[]`` for an
        unknown project)."""
        statuses = [self.task_statuses[i] for i in self.status_lists.get(project_id, ())]
        return sorted(statuses, key=lambda s: (s.sort_order, s.task_status_id))

    def set_task_status(
        self,
        task_id: int,
        status_id: int,
        name: str | None = None,
        completed_status: int = STATUS_IN_PROGRESS,
        *,
        at: datetime | None = None,
    ) -> TaskStatus:
        """Give a task any status id, even one its project's list does not know (another
        project's, or a new one named ``name``); bumps DATE_TASK_MODIFIED."""
        with self.lock:
            self.task(task_id)
            status = self.task_statuses.get(status_id)
            if status is None:
                status = TaskStatus(status_id, name or f"Status {status_id}", completed_status)
                self.task_statuses[status_id] = status
            elif name is not None and name != status.name:
                raise ValueError(f"status {status_id} is already named {status.name!r}")
            self.update_task(task_id, at=at, task_status_id=status_id)
            return status

    def status_of(self, task: Task) -> TaskStatus | None:
        return self.task_statuses.get(task.task_status_id)

    def give_task_unknown_status(
        self,
        task_id: int,
        name: str = "Unlisted",
        completed_status: int = STATUS_IN_PROGRESS,
        *,
        at: datetime | None = None,
    ) -> TaskStatus:
        """Give a task a new status that no project's list contains (for "unknown status"
        tests); bumps DATE_TASK_MODIFIED."""
        with self.lock:
            return self.set_task_status(
                task_id, self.next_status_id(), name, completed_status, at=at
            )

    # tasks -------------------------------------------------------------------------------

    def task(self, task_id: int) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownObjectError(f"no task {task_id} in account {self.account_id}") from None

    def add_task(self, task: Task) -> Task:
        """Add (or replace) a task; status 0 becomes the first of its project's list."""
        with self.lock:
            self.project(task.project_id)
            if task.task_status_id == 0:
                listed = self.task_status_list(task.project_id)
                task.task_status_id = listed[0].task_status_id if listed else 0
            if task.task_id in self.tasks:
                self.delete_task(task.task_id)
            self.tasks[task.task_id] = task
            self.tasks_by_project.setdefault(task.project_id, set()).add(task.task_id)
            self.task_modified_index.add(task.date_modified.date(), task.task_id)
            self.task_created_index.add(task.date_created.date(), task.task_id)
            self.assignments.setdefault(task.task_id, {})
            self._changed()
            return task

    def next_task_id(self) -> int:
        return max(self.tasks, default=0) + 1

    def update_task(self, task_id: int, *, at: datetime | None = None, **changes: object) -> Task:
        """Change task fields and bump DATE_TASK_MODIFIED (to ``at`` or the clock)."""
        _check_fields(changes, _TASK_FIELDS, "task")
        with self.lock:
            task = self.task(task_id)
            old = replace(task)
            for name, value in changes.items():
                setattr(task, name, value)
            if "date_modified" not in changes:
                task.date_modified = self._stamp(at)
            self._reindex_task(old, task)
            self._changed()
            return task

    def _reindex_task(self, old: Task, new: Task) -> None:
        if old.project_id != new.project_id:
            self.project(new.project_id)
            self.tasks_by_project[old.project_id].discard(new.task_id)
            self.tasks_by_project.setdefault(new.project_id, set()).add(new.task_id)
        if old.date_modified.date() != new.date_modified.date():
            self.task_modified_index.remove(old.date_modified.date(), new.task_id)
            self.task_modified_index.add(new.date_modified.date(), new.task_id)
        if old.date_created.date() != new.date_created.date():
            self.task_created_index.remove(old.date_created.date(), new.task_id)
            self.task_created_index.add(new.date_created.date(), new.task_id)

    def touch_task(self, task_id: int, *, at: datetime | None = None) -> Task:
        return self.update_task(task_id, at=at)

    def delete_task(self, task_id: int) -> None:
        """Remove a task, its assignments and its index entries."""
        with self.lock:
            task = self.task(task_id)
            for user_id in list(self.assignments.get(task_id, {})):
                self._unassign_raw(task_id, user_id)
            self.assignments.pop(task_id, None)
            self.tasks_by_project.get(task.project_id, set()).discard(task_id)
            self.task_modified_index.remove(task.date_modified.date(), task_id)
            self.task_created_index.remove(task.date_created.date(), task_id)
            self.task_comments.pop(task_id, None)
            del self.tasks[task_id]
            self._changed()

    def add_task_comment(
        self, task_id: int, user_id: int, text: str, *, at: datetime | None = None
    ) -> TaskComment:
        """Append a comment to a task (kept in ``task_comments``; the task itself is not
        touched, ``savetask`` bumps it)."""
        with self.lock:
            self.task(task_id)
            comment = TaskComment(user_id, text, self._stamp(at))
            self.task_comments.setdefault(task_id, []).append(comment)
            self._changed()
            return comment

    # assignments -------------------------------------------------------------------------

    def _assign_raw(self, task: Task, assignment: Assignment) -> None:
        task_id, user_id = task.task_id, assignment.user_id
        self._unassign_raw(task_id, user_id)
        self.assignments.setdefault(task_id, {})[user_id] = assignment
        if assignment.is_assignee:
            self.tasks_by_assignee.setdefault(user_id, set()).add(task_id)
        if assignment.is_reviewer:
            self.tasks_by_reviewer.setdefault(user_id, set()).add(task_id)
        self._add_member(task.project_id, user_id)

    def _unassign_raw(self, task_id: int, user_id: int) -> bool:
        existing = self.assignments.get(task_id, {}).pop(user_id, None)
        if existing is None:
            return False
        self.tasks_by_assignee.get(user_id, set()).discard(task_id)
        self.tasks_by_reviewer.get(user_id, set()).discard(task_id)
        return True

    def assign(
        self,
        task_id: int,
        user_id: int,
        *,
        is_assignee: bool = True,
        is_reviewer: bool = False,
        assigned_hours: float = 0.0,
        at: datetime | None = None,
        bump: bool = True,
    ) -> Assignment:
        """Assign (or re-flag) a user on a task; bumps DATE_TASK_MODIFIED unless ``bump=False``."""
        with self.lock:
            task = self.task(task_id)
            self.user(user_id)
            assignment = Assignment(user_id, is_assignee, is_reviewer, assigned_hours)
            self._assign_raw(task, assignment)
            if bump:
                self.touch_task(task_id, at=at)
            self._changed()
            return assignment

    def unassign(self, task_id: int, user_id: int, *, at: datetime | None = None) -> bool:
        """Remove a user from a task; bumps DATE_TASK_MODIFIED when something was removed."""
        with self.lock:
            self.task(task_id)
            removed = self._unassign_raw(task_id, user_id)
            if removed:
                self.touch_task(task_id, at=at)
            self._changed()
            return removed

    def task_assignments(self, task_id: int) -> list[Assignment]:
        return list(self.assignments.get(task_id, {}).values())

    # time entries ------------------------------------------------------------------------

    def add_time_entry(self, entry: TimeEntry) -> TimeEntry:
        """Insert or replace the daily row keyed by (TIMESHEET_LINE_ID, DATE_WORKED)."""
        with self.lock:
            old = self.time_entries.get(entry.key)
            if old is not None:
                self._remove_entry(old)
            self._insert_entry(entry)
            self._changed()
            return entry

    def _insert_entry(self, entry: TimeEntry) -> None:
        self.time_entries[entry.key] = entry
        day = entry.date_worked.date()
        bucket = self.time_by_day.get(day)
        if bucket is None:
            bucket = self.time_by_day[day] = []
            insort(self.time_days, day)
        bucket.append(entry)
        self.time_by_user.setdefault(entry.user_id, []).append(entry)
        self._line_for(entry, day).days[day] = entry
        self._add_hours(entry.task_id, entry.total)

    def _remove_entry(self, entry: TimeEntry) -> None:
        del self.time_entries[entry.key]
        day = entry.date_worked.date()
        _remove_identity(self.time_by_day.get(day, []), entry)
        if not self.time_by_day.get(day, True):
            del self.time_by_day[day]
            del self.time_days[bisect_left(self.time_days, day)]
        _remove_identity(self.time_by_user.get(entry.user_id, []), entry)
        line = self.time_lines.get(entry.timesheet_line_id)
        if line is not None and line.days.get(day) is entry:
            del line.days[day]
        self._add_hours(entry.task_id, -entry.total)

    def _line_for(self, entry: TimeEntry, day: date) -> TimeLine:
        line = self.time_lines.get(entry.timesheet_line_id)
        if line is None:
            line = TimeLine(entry.timesheet_line_id, entry.user_id, week_start_of(day))
            self.time_lines[entry.timesheet_line_id] = line
        return line

    def _add_hours(self, task_id: int, hours: float) -> None:
        task = self.tasks.get(task_id)
        if task is not None:
            task.actual_hours = round(task.actual_hours + hours, 2)

    def load_time_entries(self, entries: Iterable[TimeEntry]) -> int:
        """Bulk insert of new rows (generator fast path; keys must not exist yet)."""
        with self.lock:
            rows, by_day, by_user = self.time_entries, self.time_by_day, self.time_by_user
            lines = self.time_lines
            days: dict[datetime, date] = {}
            hours: dict[int, float] = {}
            count = 0
            for entry in entries:
                worked = entry.date_worked
                rows[(entry.timesheet_line_id, worked)] = entry
                day = days.get(worked)
                if day is None:
                    day = days[worked] = worked.date()
                bucket = by_day.get(day)
                if bucket is None:
                    bucket = by_day[day] = []
                bucket.append(entry)
                user_rows = by_user.get(entry.user_id)
                if user_rows is None:
                    user_rows = by_user[entry.user_id] = []
                user_rows.append(entry)
                line = lines.get(entry.timesheet_line_id)
                if line is None:
                    line = lines[entry.timesheet_line_id] = TimeLine(
                        entry.timesheet_line_id, entry.user_id, week_start_of(day)
                    )
                line.days[day] = entry
                hours[entry.task_id] = hours.get(entry.task_id, 0.0) + entry.total
                count += 1
            self.time_days = sorted(by_day)
            for task_id, total in hours.items():
                self._add_hours(task_id, total)
            self._changed()
            return count

    def delete_time_entry(self, timesheet_line_id: int, date_worked: datetime) -> bool:
        with self.lock:
            entry = self.time_entries.get((timesheet_line_id, date_worked))
            if entry is None:
                return False
            self._remove_entry(entry)
            self._changed()
            return True

    def time_line(self, timesheet_line_id: int) -> TimeLine:
        try:
            return self.time_lines[timesheet_line_id]
        except KeyError:
            raise UnknownObjectError(
                f"no time-sheet line {timesheet_line_id} in account {self.account_id}"
            ) from None

    def next_line_id(self) -> int:
        return max(self.time_lines, default=0) + 1

    def save_time_line(
        self,
        timesheet_line_id: int | None,
        *,
        user_id: int,
        week_start: date,
        hours: Sequence[float],
        project_id: int,
        task_id: int,
        time_type_id: int = 1,
        comment: str = "",
        at: datetime | None = None,
    ) -> TimeLine:
        """Create (id None) or replace a weekly line: ``hours`` are its seven days from
        Sunday; a day with 0 hours has no entry. Entries kept from before keep their
        DATE_CREATED; all of them get DATE_MODIFIED ``at`` (or the clock)."""
        with self.lock:
            stamp = self._stamp(at)
            if timesheet_line_id is None:
                line = TimeLine(self.next_line_id(), user_id, week_start)
                self.time_lines[line.timesheet_line_id] = line
            else:
                line = self.time_line(timesheet_line_id)
            for old in list(line.days.values()):
                self._remove_entry(old)
            line.week_start = week_start
            for offset, total in enumerate(hours):
                if total <= 0:
                    continue
                worked = datetime.combine(week_start + timedelta(days=offset), time())
                self._insert_entry(
                    TimeEntry(
                        line.timesheet_line_id, worked, line.user_id, project_id, task_id,
                        total, time_type_id, comment, stamp, stamp,
                    )
                )  # fmt: skip
            self._changed()
            return line

    def delete_time_line(self, timesheet_line_id: int) -> TimeLine:
        """Remove a line and all its days."""
        with self.lock:
            line = self.time_line(timesheet_line_id)
            for entry in list(line.days.values()):
                self._remove_entry(entry)
            del self.time_lines[timesheet_line_id]
            self._changed()
            return line

    def close_period(self, through: date | None) -> None:
        """Close every day up to ``through`` (None reopens everything): lines of weeks that
        touch the closed period can no longer be created, changed or deleted."""
        with self.lock:
            self.closed_through = through
            self._changed()

    def week_is_closed(self, week_start: date) -> bool:
        return self.closed_through is not None and week_start <= self.closed_through

    def time_entries_between(self, first: date | None, last: date | None) -> Iterator[TimeEntry]:
        """Entries whose DATE_WORKED day lies in [first, last] (either bound optional)."""
        days = self.time_days
        lo = 0 if first is None else bisect_left(days, first)
        hi = len(days) if last is None else bisect_right(days, last)
        for day in days[lo:hi]:
            yield from self.time_by_day[day]


def _remove_identity(items: list[TimeEntry], entry: TimeEntry) -> None:
    for index, item in enumerate(items):
        if item is entry:
            del items[index]
            return


class SessionTable:
    """GUID → session, with a sliding idle expiry and an optional absolute cap."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._created_since_purge = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, account_id: str, user_id: int, now: float) -> Session:
        session = Session(str(uuid.uuid4()), account_id, user_id, now, now)
        with self._lock:
            self._sessions[session.guid] = session
            self._created_since_purge += 1
        return session

    def valid(
        self, guid: str, now: float, idle_seconds: float, max_age_seconds: float | None
    ) -> Session | None:
        """The live session for ``guid`` or None; expired sessions are dropped."""
        with self._lock:
            session = self._sessions.get(guid.lower())
            if session is None:
                return None
            if _expired(session, now, idle_seconds, max_age_seconds):
                del self._sessions[session.guid]
                return None
            return session

    @staticmethod
    def touch(session: Session, now: float) -> None:
        session.last_used = max(session.last_used, now)

    def drop(self, guid: str) -> bool:
        with self._lock:
            return self._sessions.pop(guid.lower(), None) is not None

    def expire(self, account_id: str | None = None, user_id: int | None = None) -> int:
        """Forget sessions (all, one account's, or one user's); returns how many."""
        with self._lock:
            doomed = [
                s.guid
                for s in self._sessions.values()
                if (account_id is None or s.account_id == account_id.lower())
                and (user_id is None or s.user_id == user_id)
            ]
            for guid in doomed:
                del self._sessions[guid]
            return len(doomed)

    def purge(self, now: float, idle_seconds: float, max_age_seconds: float | None) -> int:
        with self._lock:
            doomed = [
                s.guid
                for s in self._sessions.values()
                if _expired(s, now, idle_seconds, max_age_seconds)
            ]
            for guid in doomed:
                del self._sessions[guid]
            self._created_since_purge = 0
            return len(doomed)

    @property
    def created_since_purge(self) -> int:
        return self._created_since_purge


def _expired(session: Session, now: float, idle: float, max_age: float | None) -> bool:
    if now - session.last_used > idle:
        return True
    return max_age is not None and now - session.created > max_age


class Store:
    """All accounts of one sandbox plus its GUID sessions."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.accounts: dict[str, Account] = {}
        self.sessions = SessionTable()
        for account in accounts:
            self.add_account(account)

    def add_account(self, account: Account) -> Account:
        self.accounts[account.account_id] = account
        return account

    def account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id.lower())

    def __getitem__(self, account_id: str) -> Account:
        account = self.account(account_id)
        if account is None:
            raise UnknownObjectError(f"no account {account_id!r}")
        return account
