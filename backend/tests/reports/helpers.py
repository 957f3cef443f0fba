"""Generated data for the report tests, and the sums the reports must match, computed here
in Python from the generated rows (never by the code under test)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from sqlalchemy import update

from app.connection.database import Database
from app.models import RoleEnum, StatusType, TaskLog, TaskLogKind, TaskLogSource, User
from tests.factories import SignedIn, create_user, local_user_signed_in
from tests.tasks.seeding import add_project, add_task

START = date(2026, 10, 26)
DAYS = 75


@dataclass
class Log:
    user: int
    task: int
    day: date
    hours: Decimal
    source: str


@dataclass
class World:
    boss: SignedIn
    alice: SignedIn
    bob_id: int
    # per task id: (project id, title, estimate, status_type or None)
    tasks: dict[int, tuple[int, str, float | None, str | None]] = field(default_factory=dict)
    projects: dict[int, str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    visible: list[Log] = field(default_factory=list)  # the account's visible time logs
    foreign_task: int = 0
    foreign_user: int = 0
    deleted_project: int = 0


async def build_world(client: httpx.AsyncClient, database: Database, seed: int = 7) -> World:
    rng = random.Random(seed)
    boss = await local_user_signed_in(client, database, username="boss", role=RoleEnum.manager)
    alice = await local_user_signed_in(client, database, username="alice", role=RoleEnum.member)
    await _name(database, alice.user_id)
    bob = await create_user(database, username="bob", first_name="Bob", last_name="Marsh")
    ghost = await create_user(database, username="ghost", deleted_at=datetime.now(UTC))
    world = World(boss=boss, alice=alice, bob_id=bob.id)
    world.users = {boss.user_id: "boss", alice.user_id: "Alice Liddell", bob.id: "Bob Marsh"}

    web = await add_project(database, name="Web")
    app = await add_project(database, name="=App")  # a name a spreadsheet would run
    gone = await add_project(database, name="Gone", deleted_at=datetime.now(UTC))
    world.deleted_project = gone.id
    world.projects = {web.id: "Web", app.id: "=App"}
    specs: list[tuple[Any, str, float | None, StatusType | None, bool]] = [
        (web, "Landing", 10.0, StatusType.in_progress, False),
        (web, "Checkout", None, StatusType.waiting, False),
        (web, "-Legal", 3.5, StatusType.completed, False),
        (app, "Login", 8.0, None, False),
        (app, "Sync", 20.0, StatusType.in_progress, False),
        (app, "Dropped", 4.0, StatusType.waiting, True),
        (gone, "Old", 2.0, StatusType.waiting, False),
    ]
    all_tasks: list[tuple[int, bool]] = []
    for project, title, estimate, status_type, deleted in specs:
        task = await add_task(
            database,
            project,
            title=title,
            estimated_hours=estimate,
            status_type=status_type,
            deleted_at=datetime.now(UTC) if deleted else None,
            assignees=[alice.user_id],
        )
        hidden = deleted or project is gone
        all_tasks.append((task.id, hidden))
        if not hidden:
            world.tasks[task.id] = (project.id, title, estimate, status_type)

    theirs = await add_project(database, name="Theirs", account_id="globex")
    foreign = await add_task(database, theirs, title="Foreign", estimated_hours=1.0)
    stranger = await create_user(database, username="stranger", account_id="globex")
    world.foreign_task, world.foreign_user = foreign.id, stranger.id

    people = [(alice.user_id, False), (bob.id, False), (boss.user_id, False), (ghost.id, True)]
    rows: list[TaskLog] = []
    for _ in range(260):
        user, ghosted = rng.choice(people)
        task_id, hidden = rng.choice(all_tasks)
        day = START + timedelta(days=rng.randrange(DAYS))
        hours = Decimal(rng.randrange(1, 160)) * Decimal("0.05")
        source = rng.choice([TaskLogSource.local, TaskLogSource.ace])
        rows.append(_log("acme", task_id, user, day, hours, source))
        if not (ghosted or hidden):
            world.visible.append(Log(user, task_id, day, hours, source.value))
    # Not time, or another account's: never counted.
    task_id = next(iter(world.tasks))
    rows.append(_log("acme", task_id, alice.user_id, START, None, TaskLogSource.local, "note"))
    rows.append(
        _log("acme", task_id, alice.user_id, START, None, TaskLogSource.local, "status_change")
    )
    for offset in range(5):
        rows.append(
            _log(
                "globex",
                foreign.id,
                stranger.id,
                START + timedelta(days=offset),
                Decimal(3),
                TaskLogSource.local,
            )
        )
    async with database.session() as session:
        session.add_all(rows)
        await session.commit()
    return world


async def _name(database: Database, user_id: int) -> None:
    async with database.session() as session:
        await session.execute(
            update(User).where(User.id == user_id).values(first_name="Alice", last_name="Liddell")
        )
        await session.commit()


def _log(
    account: str,
    task_id: int,
    user_id: int,
    day: date,
    hours: Decimal | None,
    source: TaskLogSource,
    kind: str = "time",
) -> TaskLog:
    return TaskLog(
        account_id=account,
        task_id=task_id,
        user_id=user_id,
        kind=TaskLogKind(kind),
        date_worked=day,
        hours=None if hours is None else float(hours),
        source=source,
    )


def rounded(hours: Decimal, mode: str | None, minutes: int) -> Decimal:
    if mode is None:
        return hours
    steps = hours * 60 / Decimal(minutes)
    how = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}[mode]
    return steps.quantize(Decimal(1), rounding=how) * Decimal(minutes) / 60


def week_of(day: date, first_weekday: int) -> date:
    while day.weekday() != first_weekday:
        day -= timedelta(days=1)
    return day


def key_of(world: World, log: Log, dimension: str, first_weekday: int = 0) -> Any:
    if dimension == "user":
        return log.user
    if dimension == "project":
        return world.tasks[log.task][0]
    if dimension == "task":
        return log.task
    if dimension == "day":
        return log.day.isoformat()
    if dimension == "week":
        return week_of(log.day, first_weekday).isoformat()
    if dimension == "month":
        return f"{log.day.year:04d}-{log.day.month:02d}-01"
    if dimension == "status_type":
        status = world.tasks[log.task][3]
        return None if status is None else str(status)
    return log.source


def expected(
    world: World,
    logs: list[Log],
    levels: list[str],
    *,
    mode: str | None = None,
    minutes: int = 15,
    first_weekday: int = 0,
) -> dict[tuple[Any, ...], tuple[Decimal, int]]:
    """(key, ...) -> (hours, entries) for every prefix of the levels, and () for the root."""
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for log in logs:
        keys = tuple(key_of(world, log, level, first_weekday) for level in levels)
        value = rounded(log.hours, mode, minutes)
        for depth in range(len(keys) + 1):
            entry = sums[keys[:depth]]
            entry[0] += value
            entry[1] += 1
    return {key: (value[0], value[1]) for key, value in sums.items()}


def flatten(report: dict[str, Any]) -> dict[tuple[Any, ...], tuple[float, int]]:
    """The report's tree as (key, ...) -> (hours, entries), root included."""
    out: dict[tuple[Any, ...], tuple[float, int]] = {(): (report["hours"], report["entries"])}

    def walk(nodes: list[dict[str, Any]], prefix: tuple[Any, ...]) -> None:
        for node in nodes:
            key = (*prefix, node["key"])
            assert key not in out, key
            out[key] = (node["hours"], node["entries"])
            walk(node["groups"], key)

    walk(report["groups"], ())
    return out
