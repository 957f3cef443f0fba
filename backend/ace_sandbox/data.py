"""Deterministic demo and benchmark data.

One generator makes every account; only the ``AccountSpec`` differs. It uses a seeded
``random.Random`` (string seed ``"<seed>/<account id>"``) and no wall clock: all dates
are spread relative to ``today`` (default ``DEFAULT_TODAY``, a fixed Monday).

Shapes (all invented, none of them comes from the real API):

- Ids: users from 1, projects from 1000, tasks from 10000, time-sheet lines from 1 in
  every account, so ids overlap between accounts on purpose.
- Users: the spec's named users first, then generated ``user0002``, ``user0003``…;
  every password is ``demo-password``; e-mail ``<username>@<account>.example.com``.
- Project members: explicit per project in the spec, else a seeded sample of up to
  ``members_per_project`` normal users. Tasks go round-robin over projects; the first
  assignee rotates over the project's members, a second one is added for about 30 % of
  tasks, and an administrator reviews about 20 %.
- Task-status lists: explicit per project in the spec (the demo account's), else drawn
  per project from name pools: 1-2 waiting, 1-2 in progress and 1-2 completed statuses in a
  shuffled sort order, so lists differ in length and names, and one name (e.g. "Review")
  can be waiting in one project and in progress in another. The ids of all lists are one
  account-wide sequence, shuffled, so an id says nothing about its kind. Statuses come from
  their own seeded RNG (``"<seed>/<account id>/statuses"``), so they do not move the rest of
  the data.
- Status kinds follow ``slot = (index + index // projects) % 10`` (index = task index):
  0-3 waiting, 4-6 in progress, 7-9 completed; the task gets a status of that kind from
  its project's list. Percent done (tenths, 0..10): 0 waiting, 1-9 in progress, 10
  completed. Tasks in slot 0 or 5 are overdue (due 1-14 days before ``today``); other due
  dates fall between 10 days before and 40 days after.
- Time entries are daily rows of weekly lines (1-5 week days, Monday-Friday, never after
  ``today``) by an assignee of the task, within ``history_weeks`` weeks; weeks older than
  two are approved, last week submitted, the current one in progress. Each task's
  ACTUAL_HOURS is the sum of its time entries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ace_sandbox.models import (
    ACCESS_LEVEL_ADMIN,
    ACCESS_LEVEL_NORMAL,
    PERCENT_DONE_MAX,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    STATUS_WAITING,
    Assignment,
    Project,
    Task,
    TaskStatus,
    TimeEntry,
    User,
)
from ace_sandbox.store import Account, Store, wall_clock

StatusList = tuple[tuple[str, int], ...]  # (name, CompletedStatus code) in sort order

DEFAULT_TODAY = date(2025, 6, 2)
DEFAULT_SEED = 20250602
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True, slots=True)
class DatasetSize:
    """How much data one account gets (``users`` counts the named users too)."""

    projects: int = 1000
    tasks: int = 100_000
    users: int = 500
    time_entries: int = 500_000

    def __post_init__(self) -> None:
        if min(self.projects, self.tasks, self.users, self.time_entries) < 0:
            raise ValueError("dataset sizes must not be negative")


@dataclass(frozen=True, slots=True)
class NamedUser:
    username: str
    first_name: str
    last_name: str
    access_level: int = ACCESS_LEVEL_NORMAL
    user_group_id: int = 1


@dataclass(frozen=True, slots=True)
class AccountSpec:
    account_id: str
    company_name: str
    size: DatasetSize
    named_users: tuple[NamedUser, ...] = ()
    #: Usernames of the members of each project, by project index (None = seeded sample).
    memberships: tuple[tuple[str, ...], ...] | None = None
    members_per_project: int = 8
    #: Project names by index (the generic pool is used past its end or when empty).
    project_names: tuple[str, ...] = ()
    #: Task-status lists by project index (drawn from the name pools past its end).
    status_lists: tuple[StatusList, ...] = ()
    history_weeks: int = 26
    password: str = DEMO_PASSWORD
    product_name: str = "AceProject"
    company_id: int = 1


DEMO_SPEC = AccountSpec(
    account_id="demo",
    company_name="Demo Company",
    size=DatasetSize(projects=4, tasks=24, users=3, time_entries=60),
    named_users=(
        NamedUser("admin", "Ada", "Admin", ACCESS_LEVEL_ADMIN, user_group_id=2),
        NamedUser("alice", "Alice", "Anders"),
        NamedUser("bob", "Bob", "Brown"),
    ),
    memberships=(("alice", "bob"), ("alice", "bob"), ("alice",), ("bob",)),
    status_lists=(
        (
            ("Not started", STATUS_WAITING),
            ("Review", STATUS_WAITING),
            ("In progress", STATUS_IN_PROGRESS),
            ("Done", STATUS_COMPLETED),
            ("Cancelled", STATUS_COMPLETED),
        ),
        (
            ("To do", STATUS_WAITING),
            ("Review", STATUS_IN_PROGRESS),
            ("Testing", STATUS_IN_PROGRESS),
            ("Completed", STATUS_COMPLETED),
        ),
        (("New", STATUS_WAITING), ("Started", STATUS_IN_PROGRESS), ("Closed", STATUS_COMPLETED)),
        (
            ("Backlog", STATUS_WAITING),
            ("Waiting for input", STATUS_WAITING),
            ("In progress", STATUS_IN_PROGRESS),
            ("Review", STATUS_IN_PROGRESS),
            ("Done", STATUS_COMPLETED),
            ("Cancelled", STATUS_COMPLETED),
        ),
    ),
    history_weeks=4,
    product_name="AceProject Demo",
    company_id=101,
)

ACME_SPEC = AccountSpec(
    account_id="acme",
    company_name="Acme Corporation",
    size=DatasetSize(projects=3, tasks=12, users=2, time_entries=24),
    named_users=(
        NamedUser("carol", "Carol", "Chen", ACCESS_LEVEL_ADMIN, user_group_id=2),
        NamedUser("dave", "Dave", "Diaz"),
    ),
    memberships=(("dave",), ("dave",), ("dave",)),
    project_names=("Rocket Skates", "Giant Magnet", "Tornado Kit"),
    history_weeks=4,
    product_name="Acme Projects",
    company_id=202,
)

BENCH_SIZE = DatasetSize()


def bench_spec(size: DatasetSize = BENCH_SIZE, account_id: str = "bench") -> AccountSpec:
    """The benchmark account: an ``admin`` administrator plus generated users."""
    return AccountSpec(
        account_id=account_id,
        company_name="Benchmark Inc",
        size=size,
        named_users=(NamedUser("admin", "Bench", "Admin", ACCESS_LEVEL_ADMIN, user_group_id=2),),
        history_weeks=52,
        company_id=303,
    )


_FIRST = (
    "Liam", "Olivia", "Noah", "Emma", "Lucas", "Mia", "Ethan", "Zoe", "Mason", "Chloe",
    "Leo", "Nora", "Hugo", "Iris", "Felix", "Clara", "Oscar", "Lena", "Adam", "Sofia",
)  # fmt: skip
_LAST = (
    "Martin", "Tremblay", "Roy", "Gagnon", "Smith", "Garcia", "Nguyen", "Kowalski",
    "Silva", "Dubois", "Fischer", "Rossi", "Ibrahim", "Kim", "Patel", "Novak",
)  # fmt: skip
_PROJECT_NAMES = (
    "Website Redesign", "Mobile App", "Internal Tools", "Marketing Campaign",
    "Customer Portal", "Data Warehouse", "Billing Revamp", "Support Center",
    "Onboarding Flow", "Security Audit", "Cloud Migration", "Reporting Suite",
)  # fmt: skip
_VERBS = (
    "Design", "Implement", "Review", "Test", "Document", "Refactor", "Deploy", "Plan",
    "Fix", "Estimate", "Prototype", "Validate",
)  # fmt: skip
_OBJECTS = (
    "login page", "search index", "invoice export", "user settings", "dashboard",
    "API gateway", "payment form", "email templates", "audit log", "release notes",
    "data import", "mobile layout", "access rules", "backup job", "help articles",
)  # fmt: skip
_DESCRIPTIONS = tuple(
    f"<p>{text}</p>"
    for text in (
        "Details to follow.",
        "See the attached <b>specification</b>.",
        "Agreed with the client during the last meeting.",
        "Follow the checklist &amp; update the wiki.",
        "",
    )
)
_COMMENTS = ("", "", "Meeting", "Implementation", "Code review", "Testing", "Support call")
_HOURS = tuple(q / 4 for q in range(1, 33))
_STATUS_NAMES = {
    STATUS_WAITING: ("Not started", "To do", "New", "Backlog", "Review", "Waiting for input"),
    STATUS_IN_PROGRESS: ("In progress", "Review", "Testing", "Started", "In development"),
    STATUS_COMPLETED: ("Completed", "Done", "Cancelled", "Closed"),
}


def _status_kind(slot: int) -> int:
    if slot < 4:
        return STATUS_WAITING
    if slot < 7:
        return STATUS_IN_PROGRESS
    return STATUS_COMPLETED


def _drawn_status_list(rng: random.Random) -> StatusList:
    """1-2 statuses of each kind, names unique within the list, in a shuffled order."""
    chosen: list[tuple[str, int]] = []
    for kind in (STATUS_WAITING, STATUS_IN_PROGRESS, STATUS_COMPLETED):
        pool = [name for name in _STATUS_NAMES[kind] if name not in {n for n, _ in chosen}]
        chosen.extend((name, kind) for name in rng.sample(pool, 1 + int(rng.random() * 2)))
    rng.shuffle(chosen)
    return tuple(chosen)


def _status_lists(spec: AccountSpec, seed: int) -> list[list[TaskStatus]]:
    """Every project's statuses, ids dealt from one shuffled account-wide sequence."""
    rng = random.Random(f"{seed}/{spec.account_id}/statuses")  # noqa: S311 - sample data
    named = spec.status_lists
    shapes = [
        named[index] if index < len(named) else _drawn_status_list(rng)
        for index in range(spec.size.projects)
    ]
    ids = list(range(1, sum(len(shape) for shape in shapes) + 1))
    rng.shuffle(ids)
    dealt = iter(ids)
    return [
        [TaskStatus(next(dealt), name, kind, order) for order, (name, kind) in enumerate(shape, 1)]
        for shape in shapes
    ]


def _ids_by_kind(statuses: list[TaskStatus]) -> dict[int, list[int]]:
    by_kind: dict[int, list[int]] = {}
    for status in statuses:
        by_kind.setdefault(status.completed_status, []).append(status.task_status_id)
    return by_kind


class _Builder:
    """Generates one account from a spec; kept as a class to share the RNG and pools."""

    def __init__(self, spec: AccountSpec, seed: int, today: date) -> None:
        self.spec = spec
        self.statuses = _status_lists(spec, seed)
        # deterministic sample data, not security material
        self.rng = random.Random(f"{seed}/{spec.account_id}")  # noqa: S311
        self.today = today
        self.now = datetime.combine(today, time(18, 0))

    def _moment(self, days_back: float) -> datetime:
        """A whole-second moment ``days_back`` days before today 18:00 (never in the future)."""
        return self.now - timedelta(seconds=int(max(days_back, 0.0) * 86400))

    def build(self, clock: Callable[[], datetime]) -> Account:
        spec = self.spec
        account = Account(
            spec.account_id,
            spec.company_name,
            company_id=spec.company_id,
            product_name=spec.product_name,
            clock=clock,
        )
        users = self._users(account)
        if not users:
            raise ValueError(f"account {spec.account_id!r} needs at least one user")
        admins = [u.user_id for u in users if u.access_level == ACCESS_LEVEL_ADMIN]
        normal = [u.user_id for u in users if u.access_level != ACCESS_LEVEL_ADMIN] or admins
        by_name = {u.username: u.user_id for u in users}
        projects = self._projects(account, normal, admins or normal, by_name)
        tasks = self._tasks(account, projects, admins or normal)
        self._time_entries(account, tasks, admins or normal)
        return account

    def _users(self, account: Account) -> list[User]:
        spec, rng = self.spec, self.rng
        users: list[User] = []
        domain = f"{spec.account_id}.example.com"
        for index, named in enumerate(spec.named_users):
            users.append(
                User(
                    user_id=index + 1,
                    username=named.username,
                    first_name=named.first_name,
                    last_name=named.last_name,
                    email_alert=f"{named.username}@{domain}",
                    password=spec.password,
                    access_level=named.access_level,
                    user_group_id=named.user_group_id,
                    date_modified=self._moment(30 + 300 * rng.random()),
                )
            )
        for user_id in range(len(users) + 1, spec.size.users + 1):
            username = f"user{user_id:04d}"
            users.append(
                User(
                    user_id=user_id,
                    username=username,
                    first_name=_FIRST[int(rng.random() * len(_FIRST))],
                    last_name=_LAST[int(rng.random() * len(_LAST))],
                    email_alert=f"{username}@{domain}",
                    password=spec.password,
                    user_group_id=1 + int(rng.random() * 3),
                    date_modified=self._moment(30 + 300 * rng.random()),
                )
            )
        for user in users:
            account.add_user(user)
        return users

    def _projects(
        self, account: Account, normal: list[int], admins: list[int], by_name: dict[str, int]
    ) -> list[tuple[Project, list[int], dict[int, list[int]]]]:
        spec, rng = self.spec, self.rng
        result: list[tuple[Project, list[int], dict[int, list[int]]]] = []
        span = max(60, spec.history_weeks * 7 * 2)
        for index in range(spec.size.projects):
            project_id = 1000 + index
            base = _PROJECT_NAMES[index % len(_PROJECT_NAMES)]
            if index < len(spec.project_names):
                name = spec.project_names[index]
            elif index < len(_PROJECT_NAMES):
                name = base
            else:
                name = f"{base} {index // len(_PROJECT_NAMES) + 1}"
            slot = index % 5
            status = 4 if slot == 4 else 3 if slot == 3 else 1 + int(rng.random() * 2)
            created_back = span * (0.6 + 0.4 * rng.random())
            created = self._moment(created_back)
            modified = self._moment(created_back * rng.random())
            if spec.memberships is not None and index < len(spec.memberships):
                members = [by_name[member] for member in spec.memberships[index]]
            else:
                count = min(len(normal), spec.members_per_project)
                members = sorted(rng.sample(normal, count))
            project = Project(
                project_id=project_id,
                project_name=name,
                project_number=f"P-{project_id}",
                project_desc=_DESCRIPTIONS[index % len(_DESCRIPTIONS)],
                project_type_id=1 + int(rng.random() * 3),
                project_status_id=status,
                project_priority_id=1 + int(rng.random() * 4),
                client_id=1 + int(rng.random() * 4),
                contact_name=f"{_FIRST[index % len(_FIRST)]} {_LAST[index % len(_LAST)]}",
                contact_phone=f"+1 555 01{index % 100:02d}",
                date_created=created,
                date_modified=max(modified, created),
                creator_user_id=admins[0],
                update_user_id=admins[-1],
                pourcentage=100.0 if status == 4 else float(int(rng.random() * 95)),
            )
            statuses = self.statuses[index]
            account.add_project(project, members, statuses)
            result.append((project, members, _ids_by_kind(statuses)))
        return result

    def _tasks(
        self,
        account: Account,
        projects: list[tuple[Project, list[int], dict[int, list[int]]]],
        admins: list[int],
    ) -> list[tuple[Task, list[int]]]:
        spec, rng, today = self.spec, self.rng, self.today
        if not projects:
            return []
        midnight = datetime.combine(today, time())
        numbers = [0] * len(projects)
        result: list[tuple[Task, list[int]]] = []
        rand = rng.random
        for index in range(spec.size.tasks):
            p_index = index % len(projects)
            project, members, status_ids = projects[p_index]
            numbers[p_index] += 1
            slot = (index + index // len(projects)) % 10
            kind = _status_kind(slot)
            choices = status_ids[kind]
            status_id = choices[int(rand() * len(choices))]
            age = (self.now - project.date_created).total_seconds() / 86400
            created_back = age * rand()
            created = self._moment(max(created_back, 1.0))
            modified = self._moment(created_back * rand())
            start = datetime.combine(created.date(), time()) + timedelta(days=int(rand() * 10))
            if kind != STATUS_COMPLETED and slot % 5 == 0:
                end = midnight - timedelta(days=1 + int(rand() * 14))
                start = min(start, end)
            else:
                end = max(start, midnight + timedelta(days=int(rand() * 50) - 10))
            estimated = float(1 + int(rand() * 40))
            task = Task(
                task_id=10000 + index,
                project_id=project.project_id,
                task_resume=(
                    f"{_VERBS[int(rand() * len(_VERBS))]} {_OBJECTS[int(rand() * len(_OBJECTS))]}"
                ),
                task_number=numbers[p_index],
                task_desc_creator=_DESCRIPTIONS[index % len(_DESCRIPTIONS)],
                task_group_id=1 + int(rand() * 4),
                task_type_id=1 + int(rand() * 4),
                task_status_id=status_id,
                task_priority_id=1 + int(rand() * 4),
                date_created=created,
                date_modified=max(modified, created),
                date_expected_start=start,
                date_expected_end=end,
                date_actual_start=start if kind != STATUS_WAITING else None,
                date_actual_end=min(end, midnight) if kind == STATUS_COMPLETED else None,
                estimated_time=estimated,
                # whole tenths, as ACE's PercentDone (0..10) is entered
                pourcentage_done=(
                    int(PERCENT_DONE_MAX)
                    if kind == STATUS_COMPLETED
                    else 1 + int(rand() * 9)
                    if kind == STATUS_IN_PROGRESS
                    else 0
                ),
                creator_user_id=admins[0],
                update_user_id=admins[int(rand() * len(admins))],
            )
            account.add_task(task)
            assignees: list[int] = []
            if members:
                first = members[(index // len(projects)) % len(members)]
                assignees.append(first)
                if len(members) > 1 and rand() < 0.3:
                    second = members[int(rand() * len(members))]
                    if second != first:
                        assignees.append(second)
            for user_id in assignees:
                account._assign_raw(
                    task, Assignment(user_id, True, False, float(int(rand() * estimated)))
                )
            if rand() < 0.2:
                reviewer = admins[int(rand() * len(admins))]
                if reviewer not in assignees:
                    account._assign_raw(task, Assignment(reviewer, False, True, 0.0))
            result.append((task, assignees))
        return result

    def _time_entries(
        self, account: Account, tasks: list[tuple[Task, list[int]]], admins: list[int]
    ) -> None:
        spec, rng, today = self.spec, self.rng, self.today
        workable = [(task, users) for task, users in tasks if users]
        if not workable:
            return
        rand = rng.random
        this_sunday = datetime.combine(today, time()) - timedelta(days=(today.weekday() + 1) % 7)
        last_day = datetime.combine(today, time())
        weeks = max(1, spec.history_weeks)
        first_week = 1 if today.weekday() == 6 else 0  # on a Sunday this week has no work day yet
        # (week back, weekday) -> (worked, created, submitted, approved); shared datetimes
        days: dict[tuple[int, int], tuple[datetime, datetime, datetime | None, datetime | None]]
        days = {}
        entries: list[TimeEntry] = []
        append = entries.append
        line_id = 0
        target = spec.size.time_entries
        n_work, n_hours, n_comments = len(workable), len(_HOURS), len(_COMMENTS)
        while len(entries) < target:
            task, users = workable[int(rand() * n_work)]
            user_id = users[int(rand() * len(users))]
            week_back = first_week + int(rand() * weeks)
            level = 2 if week_back >= 2 else 1 if week_back == 1 else 0
            first_day = 1 + int(rand() * 5)
            count = 1 + int(rand() * (6 - first_day))
            line_id += 1
            comment = _COMMENTS[int(rand() * n_comments)]
            approver = admins[0] if level == 2 else None
            task_id, project_id = task.task_id, task.project_id
            overtime = rand() < 0.05
            for offset in range(first_day, first_day + count):
                stamp = days.get((week_back, offset))
                if stamp is None:
                    sunday = this_sunday - timedelta(days=7 * week_back)
                    worked = sunday + timedelta(days=offset)
                    week_end = sunday + timedelta(days=6, hours=17)
                    closed = week_end <= self.now
                    stamp = days[(week_back, offset)] = (
                        worked,
                        worked + timedelta(hours=17, minutes=30),
                        week_end if closed and level >= 1 else None,
                        week_end + timedelta(days=2) if closed and level == 2 else None,
                    )
                worked, created, submitted, approved = stamp
                if worked > last_day or len(entries) >= target:
                    break
                total = _HOURS[int(rand() * n_hours)]
                append(
                    TimeEntry(
                        line_id,
                        worked,
                        user_id,
                        project_id,
                        task_id,
                        total,
                        2 if overtime else 1,
                        comment,
                        created,
                        created,
                        submitted,
                        level,
                        approver,
                        approved,
                    )
                )
        account.load_time_entries(entries)  # also sums each task's ACTUAL_HOURS


def build_account(
    spec: AccountSpec,
    *,
    seed: int = DEFAULT_SEED,
    today: date = DEFAULT_TODAY,
    clock: Callable[[], datetime] = wall_clock,
) -> Account:
    """Generate one account from ``spec`` (deterministic for a given seed and today)."""
    account = _Builder(spec, seed, today).build(clock)
    account.version = 0
    return account


def generate(
    size: DatasetSize | None = None,
    *,
    seed: int = DEFAULT_SEED,
    today: date = DEFAULT_TODAY,
    include_demo: bool = True,
    bench_account: str = "bench",
    clock: Callable[[], datetime] = wall_clock,
) -> Store:
    """A store with the ``demo`` and ``acme`` accounts and, when ``size`` is given, a
    benchmark account named ``bench_account`` of that size."""
    store = Store()
    if include_demo:
        for spec in (DEMO_SPEC, ACME_SPEC):
            store.add_account(build_account(spec, seed=seed, today=today, clock=clock))
    if size is not None:
        spec = bench_spec(size, bench_account)
        store.add_account(build_account(spec, seed=seed, today=today, clock=clock))
    return store
