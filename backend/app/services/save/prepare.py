"""Preparing a batch save (no database): parse and validate the raw body, apply the item cap,
refuse duplicate keys, and lay every entity out column by column, sorted by its key (the order
its rows are written, hence locked, in). See `app.services.data_service` for the guarantees."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from app.dto import save_dto
from app.dto.save_dto import Problem, SaveBatch
from app.errors import AppError, ErrorCode


@dataclass(frozen=True)
class Rows:
    """One entity's items, column by column, sorted by key; `positions` are the items'
    indexes in the payload list (for error messages)."""

    entity: str
    columns: dict[str, list[Any]]
    positions: list[int]

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class PreparedBatch:
    users: Rows
    projects: Rows
    tasks: Rows
    assignees: Rows
    ace_logs: Rows  # keyed by (ace_timesheet_line_id, date_worked)
    local_logs: Rows  # keyed by client_id

    @property
    def item_count(self) -> int:
        return sum(len(rows) for rows in self._all())

    def _all(self) -> tuple[Rows, ...]:
        return (
            self.users,
            self.projects,
            self.tasks,
            self.assignees,
            self.ace_logs,
            self.local_logs,
        )


USER_FIELDS: Final = ("ace_user_id", "username", "first_name", "last_name", "email")
PROJECT_FIELDS: Final = tuple(save_dto.ProjectItem.model_fields)
TASK_FIELDS: Final = tuple(save_dto.TaskItem.model_fields)
ASSIGNEE_FIELDS: Final = tuple(save_dto.AssigneeItem.model_fields)
LOG_FIELDS: Final = (
    "ace_task_id",
    "ace_user_id",
    "kind",
    "date_worked",
    "hours",
    "comment",
    "old_status",
    "new_status",
)


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while batches are parsed.

    A batch of 30k items makes ~100k new container objects, which trigger repeated full
    collections over everything the process holds (most of the parse time, see
    docs/benchmarks.md). The objects are acyclic, so reference counting frees them as before;
    collection
    resumes when the last batch being parsed is done (the pause nests across threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._resume:
                    gc.enable()


_collector_paused = _CollectorPause()


async def prepare_batch(raw: bytes, *, max_items: int) -> PreparedBatch:
    """Validate the raw body off the event loop; raises `VALIDATION_ERROR` (422) listing every
    problem, or `PAYLOAD_TOO_LARGE` (413) when the batch has more items than allowed."""
    return await asyncio.to_thread(_prepare, raw, max_items)


def _prepare(raw: bytes, max_items: int) -> PreparedBatch:
    with _collector_paused():
        return _prepare_unpaused(raw, max_items)


def _prepare_unpaused(raw: bytes, max_items: int) -> PreparedBatch:
    parsed = save_dto.parse_save_batch(raw)
    if not isinstance(parsed, SaveBatch):
        raise invalid(parsed)
    if parsed.item_count > max_items:
        raise AppError(
            f"The batch has {parsed.item_count} items; at most {max_items} are accepted per "
            "request (send it in smaller batches)",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    problems: list[Problem] = []
    ace_logs = [(i, item) for i, item in enumerate(parsed.task_logs) if item.client_id is None]
    local_logs = [(i, item) for i, item in enumerate(parsed.task_logs) if item.client_id]
    prepared = PreparedBatch(
        users=_rows(
            "users", list(enumerate(parsed.users)), USER_FIELDS, ("ace_user_id",), problems
        ),
        projects=_rows(
            "projects",
            list(enumerate(parsed.projects)),
            PROJECT_FIELDS,
            ("ace_project_id",),
            problems,
        ),
        tasks=_rows(
            "tasks", list(enumerate(parsed.tasks)), TASK_FIELDS, ("ace_task_id",), problems
        ),
        assignees=_rows(
            "assignees",
            list(enumerate(parsed.assignees)),
            ASSIGNEE_FIELDS,
            ("ace_task_id", "ace_user_id"),
            problems,
        ),
        ace_logs=_rows(
            "task_logs",
            ace_logs,
            ("ace_timesheet_line_id", *LOG_FIELDS),
            ("ace_timesheet_line_id", "date_worked"),
            problems,
        ),
        local_logs=_rows(
            "task_logs", local_logs, ("client_id", *LOG_FIELDS), ("client_id",), problems
        ),
    )
    if problems:
        raise invalid(problems)
    # Internal ids of users the batch may create (ignored for users that exist already).
    prepared.users.columns["guid"] = [uuid.uuid4() for _ in prepared.users.positions]
    return prepared


def _rows(
    entity: str,
    indexed: list[tuple[int, Any]],
    fields: Sequence[str],
    key: Sequence[str],
    problems: list[Problem],
) -> Rows:
    """Sort by key (the order rows are written, hence locked, in) and refuse repeated keys."""
    key_of = attrgetter(*key)
    indexed.sort(key=lambda pair: key_of(pair[1]))  # stable: the first of equal keys stays first
    previous: Any = object()
    first = -1
    for position, item in indexed:
        current = key_of(item)
        if current == previous:
            problems.append(
                Problem(
                    entity=entity,
                    index=position,
                    field=",".join(key),
                    message=f"repeats the key of {entity}[{first}]; each item must be unique",
                )
            )
        else:
            previous, first = current, position
    items = [item for _, item in indexed]
    columns = {name: list(map(attrgetter(name), items)) for name in fields}
    return Rows(entity, columns, [position for position, _ in indexed])


def invalid(problems: list[Problem]) -> AppError:
    listed = problems[: save_dto.MAX_LISTED_PROBLEMS]
    first = listed[0]
    where = first.entity or "body"
    if first.index is not None:
        where += f"[{first.index}]"
    if first.field:
        where += f".{first.field}"
    message = f"The batch was not saved: {len(problems)} problem(s), first {where}: {first.message}"
    if len(problems) > len(listed):
        message += f" (the first {len(listed)} are listed)"
    return AppError(
        message, code=ErrorCode.VALIDATION_ERROR, data=[problem.model_dump() for problem in listed]
    )
