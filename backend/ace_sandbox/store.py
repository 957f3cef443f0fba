"""In-memory data of the sandbox: accounts, their users, projects, tasks, assignments, time
entries, and the GUID session table.

Every account keeps indexes so that the hot queries stay fast on 100k+ tasks: tasks by
project, by assignee and by reviewer, and day buckets of DATE_TASK_MODIFIED and
DATE_TASK_CREATED; time entries by day worked and by creator.

The mutation helpers (used by tests, benchmarks and the admin endpoints) keep those indexes
right and bump ``Account.version`` so cached query results are dropped. Choices the real
API does not document (ace-api.md 6.4, 9):

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
"""

from __future__ import annotations

import threading
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields, replace
from datetime import date, datetime

from ace_sandbox.models import (
    ACCESS_ALLOWED,
    ACCESS_INACTIVE,
    Assignment,
    Lookups,
    Project,
    Session,
    Task,
    TimeEntry,
    User,
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
        self.time_entries: dict[tuple[int, datetime], TimeEntry] = {}
        self.time_by_day: dict[date, list[TimeEntry]] = {}
        self.time_days: list[date] = []
        self.time_by_user: dict[int, list[TimeEntry]] = {}

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

    def add_project(self, project: Project, members: Iterable[int] = ()) -> Project:
        with self.lock:
            self.projects[project.project_id] = project
            self.project_members.setdefault(project.project_id, set())
            self.tasks_by_project.setdefault(project.project_id, set())
            for user_id in members:
                self._add_member(project.project_id, user_id)
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

    # tasks -------------------------------------------------------------------------------

    def task(self, task_id: int) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownObjectError(f"no task {task_id} in account {self.account_id}") from None

    def add_task(self, task: Task) -> Task:
        with self.lock:
            self.project(task.project_id)
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
            del self.tasks[task_id]
            self._changed()

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
                self._unindex_entry(old)
            self.time_entries[entry.key] = entry
            day = entry.date_worked.date()
            bucket = self.time_by_day.get(day)
            if bucket is None:
                bucket = self.time_by_day[day] = []
                insort(self.time_days, day)
            bucket.append(entry)
            self.time_by_user.setdefault(entry.user_id, []).append(entry)
            self._changed()
            return entry

    def load_time_entries(self, entries: Iterable[TimeEntry]) -> int:
        """Bulk insert of new rows (generator fast path; keys must not exist yet)."""
        with self.lock:
            rows = self.time_entries
            by_day = self.time_by_day
            by_user = self.time_by_user
            days: dict[datetime, date] = {}
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
                count += 1
            self.time_days = sorted(by_day)
            self._changed()
            return count

    def delete_time_entry(self, timesheet_line_id: int, date_worked: datetime) -> bool:
        with self.lock:
            entry = self.time_entries.pop((timesheet_line_id, date_worked), None)
            if entry is None:
                return False
            self._unindex_entry(entry)
            self._changed()
            return True

    def _unindex_entry(self, entry: TimeEntry) -> None:
        day = entry.date_worked.date()
        _remove_identity(self.time_by_day.get(day, []), entry)
        if not self.time_by_day.get(day, True):
            del self.time_by_day[day]
            del self.time_days[bisect_left(self.time_days, day)]
        _remove_identity(self.time_by_user.get(entry.user_id, []), entry)

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
