"""`GET /reports/time`: hours by one or two dimensions, summed in SQL.

One `GROUP BY` statement per request sums the (optionally rounded) hours and counts the
entries of each (group, sub_group) pair; the tree and its totals are assembled from those
grouped rows. Rounding is per entry, in SQL, so a group's total is the sum of its rounded
entries. Day/week/month buckets come from `connection.buckets`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.caller import Caller
from app.config import Settings
from app.connection.buckets import BucketUnit, date_bucket, floor_
from app.dto.report_dto import (
    Dimension,
    RoundingRule,
    TimeNode,
    TimeReport,
    TimeReportQuery,
)
from app.models import Project, Task, TaskLog, User, table_of
from app.services.pagination import param_error
from app.services.reports import scope

TIME_UNITS = ("day", "week", "month")
MAX_FILLED_BUCKETS = 5000
# Floating-point slack when rounding: 0.1 h is 6.000000000000001 minutes.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class _Dimension:
    """One level of the tree: the key it groups by, and the columns its labels are read from
    (joined to the grouped rows, so the grouping itself is by the key alone)."""

    name: Dimension
    key_column: Any
    key: Callable[[Sequence[Any]], int | str | None]
    label: Callable[[Sequence[Any]], str]
    sort: Callable[[TimeNode], Any]
    # The table the labels come from, joined on its id = the key, and its label columns.
    label_table: Any = None
    label_columns: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return 1 + len(self.label_columns)


def _by_label(node: TimeNode) -> Any:
    return (node.label.lower(), str(node.key))


def _by_key(node: TimeNode) -> Any:
    return ("" if node.key is None else str(node.key),)


def _value(values: Sequence[Any]) -> str | None:
    return None if values[0] is None else str(values[0])


def _iso(values: Sequence[Any]) -> str:
    return _as_date(values[0]).isoformat()


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def dimension(name: Dimension, first_weekday: int) -> _Dimension:
    if name == "user":
        return _Dimension(
            name,
            TaskLog.user_id,
            lambda v: int(v[0]),
            lambda v: scope.user_label(v[1], v[2], v[3]),
            _by_label,
            User,
            ("username", "first_name", "last_name"),
        )
    if name == "project":
        return _Dimension(
            name,
            Task.project_id,
            lambda v: int(v[0]),
            lambda v: v[1],
            _by_label,
            Project,
            ("name",),
        )
    if name == "task":
        return _Dimension(
            name,
            TaskLog.task_id,
            lambda v: int(v[0]),
            lambda v: v[1],
            _by_label,
            Task,
            ("title", "estimated_hours"),
        )
    if name in TIME_UNITS:
        bucket = date_bucket(TaskLog.date_worked, cast(BucketUnit, name), first_weekday)
        label: Callable[[Sequence[Any]], str] = _iso
        if name == "month":
            label = lambda v: _iso(v)[:7]  # noqa: E731
        elif name == "week":
            label = lambda v: f"Week of {_iso(v)}"  # noqa: E731
        return _Dimension(name, bucket, _iso, label, _by_key)
    if name == "status_type":
        return _Dimension(name, Task.status_type, _value, lambda v: _value(v) or "none", _by_key)
    return _Dimension(name, TaskLog.source, _value, lambda v: str(v[0]), _by_key)


def rounded_hours(query: TimeReportQuery) -> ColumnElement[Any]:
    """Each entry's hours, rounded to `rounding_minutes` as asked (in SQL)."""
    if query.rounding is None:
        return cast(ColumnElement[Any], TaskLog.hours)
    step = query.rounding_minutes
    units = TaskLog.hours * 60.0 / float(step)
    if query.rounding == "up":
        count = -floor_(-units + _EPSILON)
    elif query.rounding == "down":
        count = floor_(units + _EPSILON)
    else:
        count = floor_(units + (0.5 + _EPSILON))
    rounded: ColumnElement[Any] = count * float(step) / 60.0
    return rounded


def check_query(query: TimeReportQuery) -> None:
    scope.check_range(query)
    if query.sub_group is not None and query.sub_group == query.group:
        raise param_error("sub_group must differ from group", "sub_group")
    if query.fill_gaps:
        for name in ("date_from", "date_to"):
            if getattr(query, name) is None:
                raise param_error(f"fill_gaps needs {name}", name)


@dataclass(slots=True)
class TimeStatement:
    """The grouped statement of a request and how to read its rows."""

    statement: Select[Any]
    levels: list[_Dimension]
    widths: list[int] = field(default_factory=list)

    def split(self, row: Sequence[Any]) -> list[Sequence[Any]]:
        parts, start = [], 0
        for width in self.widths:
            parts.append(row[start : start + width])
            start += width
        return parts


def time_statement(caller: Caller, query: TimeReportQuery, settings: Settings) -> TimeStatement:
    """Sum per key pair over the visible logs, then join the labels to the (few) grouped rows:
    grouping by the labels too would make the planner expect as many groups as rows, and sort
    every log instead of hashing them (with a parallel aggregate on PostgreSQL)."""
    first_weekday = scope.week_start(settings)
    levels = [dimension(query.group, first_weekday)]
    if query.sub_group is not None:
        levels.append(dimension(query.sub_group, first_weekday))
    keys = [level.key_column.label(f"k{depth}") for depth, level in enumerate(levels)]
    grouped = (
        select(
            *keys,
            func.sum(rounded_hours(query)).label("hours"),
            func.count().label("entries"),
        )
        .select_from(TaskLog, Task, Project, User)
        .where(*scope.time_log_conditions(caller, query))
        .group_by(*(level.key_column for level in levels))
        .subquery("grouped")
    )
    columns: list[Any] = []
    source: Any = grouped
    for depth, level in enumerate(levels):
        key = grouped.c[f"k{depth}"]
        columns.append(key)
        if level.label_table is not None:
            table = table_of(level.label_table)
            source = source.join(table, table.c.id == key)
            columns.extend(table.c[name] for name in level.label_columns)
    statement = (
        select(*columns, grouped.c.hours, grouped.c.entries)
        .select_from(source)
        .order_by(*(grouped.c[f"k{depth}"] for depth in range(len(levels))))
    )
    return TimeStatement(statement, levels, [level.width for level in levels])


def _node(level: _Dimension, values: Sequence[Any]) -> TimeNode:
    node = TimeNode(key=level.key(values), label=level.label(values), hours=0, entries=0)
    if level.name == "task":
        node.estimated_hours = None if values[2] is None else float(values[2])
    return node


def _fill(nodes: dict[Any, TimeNode], level: _Dimension, query: TimeReportQuery, ws: int) -> None:
    if not query.fill_gaps or level.name not in TIME_UNITS:
        return
    if query.date_from is None or query.date_to is None:
        return
    day = scope.bucket_start(query.date_from, level.name, ws)
    while day <= query.date_to:
        key = day.isoformat()
        if key not in nodes:
            nodes[key] = _node(level, (day,))
        if level.name == "month":
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            day += timedelta(days=7 if level.name == "week" else 1)


def _finish(nodes: dict[Any, TimeNode], level: _Dimension) -> list[TimeNode]:
    ordered = sorted(nodes.values(), key=level.sort)
    for node in ordered:
        node.hours = scope.hours(node.hours)
        if level.name in {"task", "project"}:
            node.ratio = scope.ratio(node.hours, node.estimated_hours)
    return ordered


def _check_fill_size(query: TimeReportQuery, levels: list[_Dimension]) -> None:
    if not query.fill_gaps or query.date_from is None or query.date_to is None:
        return
    days = (query.date_to - query.date_from).days + 1
    for level in levels:
        size = {"day": days, "week": days // 7 + 1, "month": days // 28 + 1}.get(level.name, 0)
        if size > MAX_FILLED_BUCKETS:
            raise param_error(
                f"fill_gaps makes at most {MAX_FILLED_BUCKETS} buckets; narrow the range",
                "fill_gaps",
            )


async def _project_estimates(
    connection: AsyncConnection, caller: Caller, query: TimeReportQuery, ids: list[int]
) -> dict[int, float | None]:
    """Per project: the estimates of its not-deleted tasks that match the task filters."""
    if not ids:
        return {}
    statement = (
        select(Task.project_id, func.sum(Task.estimated_hours))
        .select_from(Task, Project)
        .where(*scope.task_conditions(caller, query), Task.project_id.in_(ids))
        .group_by(Task.project_id)
    )
    rows = (await connection.execute(statement)).all()
    return {int(row[0]): None if row[1] is None else float(row[1]) for row in rows}


async def get_time_report(
    connection: AsyncConnection, *, caller: Caller, query: TimeReportQuery, settings: Settings
) -> TimeReport:
    check_query(query)
    plan = time_statement(caller, query, settings)
    _check_fill_size(query, plan.levels)
    ws = scope.week_start(settings)
    rows = (await connection.execute(plan.statement)).all()

    top: dict[Any, TimeNode] = {}
    children: dict[Any, dict[Any, TimeNode]] = {}
    first = plan.levels[0]
    for row in rows:
        parts = plan.split(row)
        key = first.key(parts[0])
        node = top.get(key)
        if node is None:
            node = top[key] = _node(first, parts[0])
        hours, entries = float(row.hours or 0), int(row.entries)
        node.hours += hours
        node.entries += entries
        if len(plan.levels) > 1:
            second = plan.levels[1]
            below = children.setdefault(key, {})
            sub_key = second.key(parts[1])
            child = below.get(sub_key)
            if child is None:
                child = below[sub_key] = _node(second, parts[1])
            child.hours += hours
            child.entries += entries

    _fill(top, first, query, ws)
    if len(plan.levels) > 1:
        for key in top:
            below = children.setdefault(key, {})
            _fill(below, plan.levels[1], query, ws)
    await _add_project_estimates(connection, caller, query, plan.levels, top, children)
    for key, node in top.items():
        if len(plan.levels) > 1:
            node.groups = _finish(children[key], plan.levels[1])
    groups = _finish(top, first)
    return TimeReport(
        group=query.group,
        sub_group=query.sub_group,
        date_from=query.date_from,
        date_to=query.date_to,
        rounding=RoundingRule(
            mode=query.rounding,
            minutes=query.rounding_minutes if query.rounding is not None else None,
        ),
        week_start=settings.report_week_start,
        timezone=settings.report_timezone,
        hours=scope.hours(sum(node.hours for node in groups)),
        entries=sum(node.entries for node in groups),
        groups=groups,
    )


async def _add_project_estimates(
    connection: AsyncConnection,
    caller: Caller,
    query: TimeReportQuery,
    levels: list[_Dimension],
    top: dict[Any, TimeNode],
    children: dict[Any, dict[Any, TimeNode]],
) -> None:
    project_nodes: list[TimeNode] = []
    if levels[0].name == "project":
        project_nodes.extend(top.values())
    if len(levels) > 1 and levels[1].name == "project":
        project_nodes.extend(node for below in children.values() for node in below.values())
    ids = sorted({int(node.key) for node in project_nodes if isinstance(node.key, int)})
    estimates = await _project_estimates(connection, caller, query, ids)
    for node in project_nodes:
        if isinstance(node.key, int):
            node.estimated_hours = estimates.get(node.key)
