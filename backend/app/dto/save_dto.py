"""The batch save's payload (`POST /data/save`) and its result.

Items are keyed by ACE ids inside the caller's account and refer to each other by ACE ids.
Only client-settable fields exist here: internal ids, the account, roles, the active flag and
the server's timestamps are not fields, so `extra="forbid"` refuses them. Validation is strict
(no string-to-number coercion), lengths follow the columns, hours are finite and non-negative,
ids fit in a signed 64-bit integer, and text may hold neither NUL nor lone surrogates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import InstrumentedAttribute

from app.dto.base import InputModel
from app.models import Project, Task, TaskLog, User
from app.models.enums import StatusType, TaskLogKind

INT64_MAX: Final = 2**63 - 1
# Largest number of problems listed in one 422 (the message gives the full count).
MAX_LISTED_PROBLEMS: Final = 1000
# The payload's lists, in the order they are written.
ENTITIES: Final = ("users", "projects", "tasks", "assignees", "task_logs")


def _as_utc(value: datetime) -> datetime:
    """ACE timestamps without an offset are taken as UTC; others are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported range") from None


# Text checks run inside pydantic-core (no Python call per string): a pattern refusing NUL
# (PostgreSQL text cannot hold it), and the parser refuses lone surrogates.
_NO_NUL = r"^[^\x00]*$"


def _text(column: InstrumentedAttribute[Any] | None = None, *, required: bool = False) -> Any:
    """Text that fits `column` (its length is the one limit; no column: unbounded)."""
    max_length = None if column is None else column.type.length
    return StringConstraints(
        min_length=1 if required else None, max_length=max_length, pattern=_NO_NUL
    )


Text = Annotated[str, _text()]
AceId = Annotated[int, Field(ge=1, le=INT64_MAX, description="An ACE id (1 .. 2^63-1)")]
Hours = Annotated[float, Field(ge=0, allow_inf_nan=False, description="Finite, at least 0")]
LoggedHours = Annotated[float, Field(ge=0, le=24, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
AceTimestamp = Annotated[
    datetime, AfterValidator(_as_utc), Field(description="ISO 8601; no offset means UTC")
]


class _Item(InputModel):
    # strict: no "12" for 12 nor 1.0 for an id; dates still come as ISO strings (JSON has no
    # date type). Enum members arrive as their plain string values.
    model_config = ConfigDict(strict=True, allow_inf_nan=False, use_enum_values=True)


def _range_problem(start: date | None, end: date | None, start_name: str, end_name: str) -> None:
    if start is not None and end is not None and end < start:
        raise PydanticCustomError(
            "date_range",
            "{field} must not be before {start_field}",
            {"field": end_name, "start_field": start_name},
        )


class UserItem(_Item):
    """A person of the ACE account. New ones are stored as inactive ACE placeholders with the
    member role; an existing user's role, active flag and sign-in data are never changed."""

    ace_user_id: AceId
    username: Annotated[str, _text(User.username, required=True)]
    first_name: Annotated[str, _text(User.first_name)] | None = None
    last_name: Annotated[str, _text(User.last_name)] | None = None
    email: Annotated[str, _text(User.email)] | None = None


class ProjectItem(_Item):
    ace_project_id: AceId
    name: Annotated[str, _text(Project.name, required=True)]
    number: Annotated[str, _text(Project.number)] | None = None
    description: Text | None = None
    status: Annotated[str, _text(Project.status)] | None = None
    type: Annotated[str, _text(Project.type)] | None = None
    priority: Annotated[str, _text(Project.priority)] | None = None
    client_name: Annotated[str, _text(Project.client_name)] | None = None
    percent_done: Percent | None = None
    ace_created_at: AceTimestamp | None = None
    ace_modified_at: AceTimestamp | None = None


class TaskItem(_Item):
    ace_task_id: AceId
    ace_project_id: AceId = Field(description="The task's project: in this batch or stored")
    title: Annotated[str, _text(Task.title, required=True)]
    number: Annotated[str, _text(Task.number)] | None = None
    description: Text | None = None
    status: Annotated[str, _text(Task.status)] | None = None
    status_type: StatusType | None = None
    priority: Annotated[str, _text(Task.priority)] | None = None
    type: Annotated[str, _text(Task.type)] | None = None
    group_name: Annotated[str, _text(Task.group_name)] | None = None
    estimated_hours: Hours | None = None
    actual_hours: Hours | None = None
    percent_done: Percent | None = None
    expected_start: date | None = None
    expected_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    ace_created_at: AceTimestamp | None = None
    ace_modified_at: AceTimestamp | None = None

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        _range_problem(self.expected_start, self.expected_end, "expected_start", "expected_end")
        _range_problem(self.actual_start, self.actual_end, "actual_start", "actual_end")
        return self


class AssigneeItem(_Item):
    ace_task_id: AceId
    ace_user_id: AceId
    is_assignee: bool = True
    is_reviewer: bool = False
    assigned_hours: Hours | None = None


class TaskLogItem(_Item):
    """Time worked, a status change or a note. Keyed either by ACE's timesheet line id plus
    `date_worked` (an ACE time entry, stored with `source=ace`) or by a `client_id` the client
    chose (a local log, `source=local`): exactly one of the two."""

    client_id: Annotated[str, _text(TaskLog.client_id, required=True)] | None = None
    ace_timesheet_line_id: AceId | None = None
    ace_task_id: AceId
    ace_user_id: AceId
    kind: TaskLogKind
    date_worked: date
    hours: LoggedHours | None = None
    comment: Text | None = None
    old_status: Annotated[str, _text(TaskLog.old_status)] | None = None
    new_status: Annotated[str, _text(TaskLog.new_status)] | None = None

    @model_validator(mode="after")
    def _check_key_and_kind(self) -> Self:
        if (self.client_id is None) == (self.ace_timesheet_line_id is None):
            raise PydanticCustomError(
                "log_key",
                "give exactly one of client_id (a local log) or ace_timesheet_line_id "
                "(an ACE time entry)",
                {"field": "client_id"},
            )
        if self.kind == TaskLogKind.time and self.hours is None:
            raise PydanticCustomError("missing", "a time log needs its hours", {"field": "hours"})
        return self


class SaveBatch(InputModel):
    """Every list is optional; at most `SAVE_MAX_ITEMS` items in all."""

    model_config = ConfigDict(strict=True)

    users: list[UserItem] = Field(default_factory=list)
    projects: list[ProjectItem] = Field(default_factory=list)
    tasks: list[TaskItem] = Field(default_factory=list)
    assignees: list[AssigneeItem] = Field(default_factory=list)
    task_logs: list[TaskLogItem] = Field(default_factory=list)

    @property
    def item_count(self) -> int:
        return (
            len(self.users)
            + len(self.projects)
            + len(self.tasks)
            + len(self.assignees)
            + len(self.task_logs)
        )


class Problem(BaseModel):
    """One problem of a rejected batch: which list, which item, which field, and what."""

    entity: str | None = Field(description="The payload list (`tasks`, ...), if any")
    index: int | None = Field(description="The item's position in that list, from 0")
    field: str | None = Field(description="The item's field, if the problem is one field's")
    message: str


class EntityCounts(BaseModel):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


class SaveResult(BaseModel):
    """Per entity, how many items were new, changed an existing row, or matched it already."""

    users: EntityCounts = Field(default_factory=EntityCounts)
    projects: EntityCounts = Field(default_factory=EntityCounts)
    tasks: EntityCounts = Field(default_factory=EntityCounts)
    assignees: EntityCounts = Field(default_factory=EntityCounts)
    task_logs: EntityCounts = Field(default_factory=EntityCounts)

    @property
    def item_count(self) -> int:
        """The batch's items: each is counted once, as inserted, updated or unchanged."""
        return sum(
            counts.inserted + counts.updated + counts.unchanged
            for counts in (self.users, self.projects, self.tasks, self.assignees, self.task_logs)
        )


_MESSAGES: Final = {
    "extra_forbidden": "is not a field that can be set here",
    "string_pattern_mismatch": "must not contain NUL characters",
    "string_unicode": "must be valid Unicode (no lone surrogates)",
}


def problems_from_validation_error(exc: ValidationError) -> list[Problem]:
    """Pydantic's errors as problems: `loc` ("tasks", 3, "title") becomes entity/index/field."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        context: dict[str, Any] = error.get("ctx") or {}
        message = _MESSAGES.get(error["type"], error["msg"])
        # Cross-field checks report on the item; they name their field in the context.
        problems.append(_problem_at(error["loc"], message, field=context.get("field")))
    return problems


def problems_from_invalid_json(raw: bytes, parser_message: str) -> list[Problem]:
    """Where the strict JSON parser refuses a body, say why, and point at the strings with
    lone surrogates (valid JSON escapes that no database can store) when that is the cause."""
    whole_body = [Problem(entity=None, index=None, field=None, message=parser_message)]
    found: list[Problem] = []
    try:
        _find_unencodable(json.loads(raw), [], found)
    except (ValueError, RecursionError):
        return whole_body
    return found or whole_body


def _find_unencodable(value: Any, path: list[str | int], found: list[Problem]) -> None:
    if len(found) >= MAX_LISTED_PROBLEMS:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_encodable(key):
                found.append(_problem_at(path, "a key is not valid Unicode (lone surrogate)"))
            _find_unencodable(item, [*path, key], found)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _find_unencodable(item, [*path, position], found)
    elif isinstance(value, str) and not _is_encodable(value):
        found.append(_problem_at(path, "must be valid Unicode (no lone surrogates)"))


def _is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem_at(loc: Sequence[str | int], message: str, *, field: str | None = None) -> Problem:
    """`("tasks", 3, "title")` as entity `tasks`, index 3, field `title`."""
    rest = list(loc)
    entity: str | None = None
    index: int | None = None
    if rest and rest[0] in ENTITIES:
        entity = str(rest.pop(0))
        if rest and isinstance(rest[0], int):
            index = rest.pop(0)
    if not rest and field is not None:
        rest = [field]
    # Keys with lone surrogates are printed escaped, so the answer itself stays valid JSON.
    name = ".".join(str(part).encode("utf-8", "backslashreplace").decode() for part in rest)
    return Problem(entity=entity, index=index, field=name or None, message=message)


def parse_save_batch(raw: bytes) -> SaveBatch | list[Problem]:
    """The validated batch, or every problem found in it (shape, fields, cross-field rules)."""
    try:
        return SaveBatch.model_validate_json(raw)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc)
        if len(problems) == 1 and exc.errors()[0]["type"] == "json_invalid":
            return problems_from_invalid_json(raw, problems[0].message)
        return problems
