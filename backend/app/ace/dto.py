"""Typed rows parsed from AceProject answers.

ACE's JSON is loosely typed and its exact shapes are partly unknown (docs/ace-api.md), so
every field here is parsed tolerantly:

* field names in any case (`task_id`, `Task_Id` and `TASK_ID` are the same field);
* integers and decimals that arrive as strings (`"42"`, `"3.50"`);
* booleans as `true`/`"True"`/`1`/`"1"`/`"yes"`;
* "no value" as `null`, `""`, `"NULL"` or a missing key;
* date-times as ISO-8601 with or without offset, fraction or `Z`, with a space instead of
  `T`, as a bare date, or as .NET's `/Date(ms)/` (`format=JSON`).

**Time zones.** ACE sends the account's local wall-clock time without saying which zone that
is (a naive ISO string, or `/Date(ms)/` that encodes the wall-clock as if it were UTC). acehub
cannot know the account's zone, so every naive value is labelled UTC as-is: the stored
instant's wall-clock equals what the ACE user sees. A value that does carry an offset is a
real instant and is converted to UTC. Every `datetime` here is therefore timezone-aware UTC.
Calendar dates (`DATE_WORKED`, planned start/end) keep the calendar day ACE wrote, never
shifted by an offset.

A row that cannot be parsed raises `pydantic.ValidationError`; the client turns that into
`ACE_BAD_RESPONSE`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from app.models.enums import StatusType

_DOTNET_DATE = re.compile(r"^/?Date\((-?\d+)([+-]\d{4})?\)/?$")
_NULL_STRINGS = frozenset({"", "null", "none"})
_TRUE_STRINGS = frozenset({"true", "1", "yes", "y", "t", "on"})
_FALSE_STRINGS = frozenset({"false", "0", "no", "n", "f", "off"})

# The converters below run for every field of every row (100k-task syncs), so each one
# checks the shape ACE normally sends first, with exact `type(...) is` tests.


def _to_int(value: object) -> object:
    if type(value) is int or value is None:
        return value
    if type(value) is str:
        text = value.strip()
        if text.lower() in _NULL_STRINGS:
            return None
        try:
            return int(text)
        except ValueError:
            number = float(text)  # "12.0" is an integer written by a .NET serializer
            if not number.is_integer():
                raise ValueError("expected an integer") from None
            return int(number)
    if type(value) is float:
        if not value.is_integer():
            raise ValueError("expected an integer, got a fraction")
        return int(value)
    if type(value) is bool:
        raise ValueError("expected an integer, got a boolean")
    return value


def _to_float(value: object) -> object:
    if type(value) is float:
        number = value
    elif type(value) is int:
        return float(value)
    elif value is None:
        return None
    elif type(value) is str:
        text = value.strip()
        if text.lower() in _NULL_STRINGS:
            return None
        number = float(text)
    elif type(value) is bool:
        raise ValueError("expected a number, got a boolean")
    else:
        return value
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _to_bool(value: object) -> object:
    if value is True or value is False or value is None:
        return value
    if type(value) is int or type(value) is float:
        if value in (0, 1):
            return bool(value)
        raise ValueError("expected a boolean")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
        if text in _NULL_STRINGS:
            return None
    raise ValueError("expected a boolean")


def _to_str(value: object) -> object:
    if value is None:
        return value
    if type(value) is str:
        # Upstream text is untrusted: NUL cannot be stored in PostgreSQL text.
        return value.replace("\x00", "") if "\x00" in value else value
    if type(value) is int or type(value) is bool:
        return str(value)
    if type(value) is float:
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _to_optional_str(value: object) -> object:
    """Like `_to_str`, but an empty or blank string means "no value"."""
    if type(value) is str:  # `_to_str`'s string case inlined: most fields of a row are these
        if "\x00" in value:
            value = value.replace("\x00", "")
        return value if value and not value.isspace() else None
    return _to_str(value)


def _dotnet_date(text: str) -> datetime | None:
    """`/Date(ms)/`: wall-clock time encoded as if it were UTC (a "+hhmm" suffix only says
    which zone the server was in, so it is ignored)."""
    match = _DOTNET_DATE.match(text)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)


def _to_utc(parsed: datetime) -> datetime:
    """A parsed `datetime`: naive is labelled UTC (see module doc), aware is converted."""
    if parsed.tzinfo is None:
        # The value of `parsed.replace(tzinfo=UTC)` at a third of its cost (Python 3.11).
        return datetime.combine(parsed.date(), parsed.time(), UTC)
    return parsed.astimezone(UTC)


def parse_ace_datetime(value: object) -> datetime | None:
    """Parse any date-time shape ACE sends; naive values are labelled UTC (see module doc)."""
    if type(value) is str:
        try:
            # ACE's usual shape, tried as sent: `fromisoformat` refuses surrounding blanks,
            # null words and `/Date(ms)/`, which `_parse_datetime_text` then handles.
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _parse_datetime_text(value)
        return _to_utc(parsed)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return _to_utc(datetime(value.year, value.month, value.day))
    raise ValueError("expected a date-time string")


def _parse_datetime_text(value: str) -> datetime | None:
    text = value.strip()
    if text.lower() in _NULL_STRINGS:
        return None
    if "Date(" in text:
        dotnet = _dotnet_date(text)
        if dotnet is not None:
            return dotnet
    return _to_utc(datetime.fromisoformat(text))


def parse_ace_date(value: object) -> date | None:
    """Parse a calendar date; a date-time keeps the day ACE wrote (no zone shift)."""
    if type(value) is str:
        try:
            return datetime.fromisoformat(value).date()  # as in `parse_ace_datetime`
        except ValueError:
            pass
        text = value.strip()
        if text.lower() in _NULL_STRINGS:
            return None
        if "Date(" in text:
            dotnet = _dotnet_date(text)
            if dotnet is not None:
                return dotnet.date()
        return datetime.fromisoformat(text).date()
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError("expected a date string")


def _tenths_to_percent(value: object) -> object:
    """`PercentDone` tenths (0-10) to percent (0-100); off the scale is None."""
    number = _to_float(value)
    if not isinstance(number, float):
        return number
    return number * 10 if 0 <= number <= 10 else None


AceInt = Annotated[int, BeforeValidator(_to_int)]
AceFloat = Annotated[float, BeforeValidator(_to_float)]
AceBool = Annotated[bool, BeforeValidator(_to_bool)]
AceStr = Annotated[str, BeforeValidator(_to_str)]
OptInt = Annotated[int | None, BeforeValidator(_to_int)]
OptFloat = Annotated[float | None, BeforeValidator(_to_float)]
OptBool = Annotated[bool | None, BeforeValidator(_to_bool)]
OptStr = Annotated[str | None, BeforeValidator(_to_optional_str)]
OptDateTime = Annotated[datetime | None, BeforeValidator(parse_ace_datetime)]
OptDate = Annotated[date | None, BeforeValidator(parse_ace_date)]


# `CompletedStatus`, the one code list ACE documents for statuses (`savetaskstatus`).
_COMPLETED_STATUS_CODES = {
    0: StatusType.waiting,
    1: StatusType.completed,
    2: StatusType.in_progress,
}


class AceRow(BaseModel):
    """Base of every row: field names are matched case-insensitively, unknown ones ignored."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _upper_case_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            names_text = "".join(data)
        except TypeError:  # a key that is not a string
            pass
        else:
            # The usual case, ACE's UPPER_SNAKE_CASE names: nothing to rename. ASCII names
            # are checked with `upper()` and one compare, far cheaper than `isupper()`.
            if names_text.isascii():
                if names_text.upper() == names_text:
                    return data
            elif names_text.isupper():
                return data
        names = cls.model_fields
        return {
            key if (not isinstance(key, str) or key in names) else key.upper(): value
            for key, value in data.items()
        }

    @classmethod
    def validate_rows(cls, rows: list[Any]) -> list[Self]:
        """`model_validate` of each row, in one call into pydantic for the whole list (a page
        of a sync: cheaper than a call per row). A bad row raises the same error as its own
        `model_validate`, so reports name its fields, not its place in the list."""
        try:
            return _rows_adapter(cls).validate_python(rows)
        except ValidationError:
            for row in rows:
                cls.model_validate(row)
            raise


@cache
def _rows_adapter(model: type[AceRow]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


class AceLogin(AceRow):
    """The row of a successful `login` or `getlogininfo`.

    Only `GUID`, `FIRST_NAME` and `LAST_NAME` are attested for the real ACE; the rest are
    read when present and must not be relied on (docs/ace-api.md, "Sign-in").
    """

    guid: str = Field(alias="GUID", min_length=1, repr=False)
    user_id: OptInt = Field(default=None, alias="USER_ID")
    username: OptStr = Field(default=None, alias="USERNAME")
    first_name: OptStr = Field(default=None, alias="FIRST_NAME")
    last_name: OptStr = Field(default=None, alias="LAST_NAME")
    email: OptStr = Field(default=None, alias="EMAIL_ALERT")
    access_level: OptInt = Field(default=None, alias="ACCESS_LEVEL")
    account_id: OptStr = Field(default=None, alias="ACCOUNT_ID")

    @model_validator(mode="after")
    def _guid_is_token(self) -> AceLogin:
        if not self.guid.strip() or any(ch.isspace() for ch in self.guid):
            raise ValueError("GUID must be a non-blank token")
        return self


class AcePublicSettings(AceRow):
    """`getpublicsettings`: a few named fields plus every raw value, upper-cased."""

    custom_product_name: OptStr = Field(default=None, alias="CUSTOM_PRODUCT_NAME")
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and "values" not in data:
            return {**data, "values": {str(k).upper(): v for k, v in data.items()}}
        return data


class AceUser(AceRow):
    """A `getusers` row. What its `ACTIVE`, `ACCESS_LEVEL` and `ACCESS_STATUS` mean for
    acehub (who is an administrator, who may sign in) is the sign-in's policy
    (`app.services.ace_identity`)."""

    user_id: AceInt = Field(alias="USER_ID")
    username: AceStr = Field(alias="USERNAME")
    first_name: OptStr = Field(default=None, alias="FIRST_NAME")
    last_name: OptStr = Field(default=None, alias="LAST_NAME")
    email: OptStr = Field(default=None, alias="EMAIL_ALERT")
    active: OptBool = Field(default=None, alias="ACTIVE")
    access_level: OptInt = Field(default=None, alias="ACCESS_LEVEL")
    access_status: OptInt = Field(default=None, alias="ACCESS_STATUS")
    user_group_id: OptInt = Field(default=None, alias="USER_GROUP_ID")
    user_group_name: OptStr = Field(default=None, alias="USER_GROUP_NAME")
    modified_at: OptDateTime = Field(default=None, alias="DATE_MODIFIED")


class AceProject(AceRow):
    """A `getprojects` row."""

    project_id: AceInt = Field(alias="PROJECT_ID")
    name: AceStr = Field(alias="PROJECT_NAME")
    number: OptStr = Field(default=None, alias="PROJECT_NUMBER")
    description: OptStr = Field(default=None, alias="PROJECT_DESC")
    type_id: OptInt = Field(default=None, alias="PROJECT_TYPE")
    type_name: OptStr = Field(default=None, alias="PROJECT_TYPE_NAME")
    status_id: OptInt = Field(default=None, alias="PROJECT_STATUS_ID")
    status_name: OptStr = Field(default=None, alias="PROJECT_STATUS_NAME")
    priority_id: OptInt = Field(default=None, alias="PROJECT_PRIORITY_ID")
    priority_name: OptStr = Field(default=None, alias="PROJECT_PRIORITY_NAME")
    client_id: OptInt = Field(default=None, alias="CLIENT_ID")
    client_name: OptStr = Field(default=None, alias="CLIENT_NAME")
    creator_user_id: OptInt = Field(default=None, alias="PROJECT_CREATOR_ID")
    completed: OptBool = Field(default=None, alias="COMPLETED")
    percent_done: OptFloat = Field(default=None, alias="POURCENTAGE")
    assigned: OptStr = Field(default=None, alias="ASSIGNED_USERS")
    created_at: OptDateTime = Field(default=None, alias="DATE_CREATED")
    modified_at: OptDateTime = Field(default=None, alias="DATE_MODIFIED")


class AceTaskRef(AceRow):
    """A `gettasks` row read for its id only: the assignee pass lists the tasks of each user
    (docs/ace-api.md, "Assignees") and needs nothing else of them."""

    task_id: AceInt = Field(alias="TASK_ID")


class AceTask(AceRow):
    """A `gettasks` row. `title` is ACE's `TASK_RESUME`; `assigned` is its display string.

    `POURCENTAGE_DONE` is on ACE's documented `PercentDone` scale, 0 to 10 meaning 0-100 %;
    `percent_done` is that value in percent (a value off the scale is dropped, not guessed).
    The row's `STATUS_TYPE_ID` is not read: no source gives its codes, so the status type
    comes from the project's status list (`app.ace.statuses`).
    """

    task_id: AceInt = Field(alias="TASK_ID")
    project_id: AceInt = Field(alias="PROJECT_ID")
    project_name: OptStr = Field(default=None, alias="PROJECT_NAME")
    number: OptStr = Field(default=None, alias="TASK_NUMBER")
    title: AceStr = Field(alias="TASK_RESUME")
    description: OptStr = Field(default=None, alias="TASK_DESC_CREATOR")
    status_id: OptInt = Field(default=None, alias="TASK_STATUS_ID")
    status_name: OptStr = Field(default=None, alias="TASK_STATUS_NAME")
    priority_id: OptInt = Field(default=None, alias="TASK_PRIORITY_ID")
    priority: OptStr = Field(default=None, alias="TASK_PRIORITY_NAME")
    type_id: OptInt = Field(default=None, alias="TASK_TYPE_ID")
    type: OptStr = Field(default=None, alias="TASK_TYPE_NAME")
    group_id: OptInt = Field(default=None, alias="TASK_GROUP_ID")
    group: OptStr = Field(default=None, alias="TASK_GROUP_NAME")
    estimated_hours: OptFloat = Field(default=None, alias="ESTIMATED_TIME")
    actual_hours: OptFloat = Field(default=None, alias="ACTUAL_HOURS")
    percent_done: Annotated[float | None, BeforeValidator(_tenths_to_percent)] = Field(
        default=None, alias="POURCENTAGE_DONE"
    )
    expected_start: OptDate = Field(default=None, alias="DATE_EXPECTED_START_TASK")
    expected_end: OptDate = Field(default=None, alias="DATE_EXPECTED_END_TASK")
    actual_start: OptDate = Field(default=None, alias="DATE_ACTUAL_START_DATE")
    actual_end: OptDate = Field(default=None, alias="DATE_ACTUAL_END_DATE")
    created_at: OptDateTime = Field(default=None, alias="DATE_TASK_CREATED")
    modified_at: OptDateTime = Field(default=None, alias="DATE_TASK_MODIFIED")
    creator_user_id: OptInt = Field(default=None, alias="USER_CREATOR_ID")
    assigned: OptStr = Field(default=None, alias="ASSIGNED")
    reviewer: OptStr = Field(default=None, alias="REVIEWER")


class AceTaskStatus(AceRow):
    """A `gettaskstatuses` row: one status of one project's list. `COMPLETED_STATUS` is the
    documented code (0 waiting, 1 completed, 2 in progress), not a boolean."""

    status_id: OptInt = Field(default=None, alias="TASK_STATUS_ID")
    name: OptStr = Field(default=None, alias="TASK_STATUS_NAME")
    completed_status: OptInt = Field(default=None, alias="COMPLETED_STATUS")

    @property
    def status_type(self) -> StatusType | None:
        """The type its `COMPLETED_STATUS` code names; None for a code ACE does not document."""
        if self.completed_status is None:
            return None
        return _COMPLETED_STATUS_CODES.get(self.completed_status)


class AceTimeEntry(AceRow):
    """A `gettimereport` (view 1) row: one day of one time-sheet line.

    Its natural key is `(timesheet_line_id, date_worked)`.
    """

    timesheet_line_id: AceInt = Field(alias="TIMESHEET_LINE_ID")
    date_worked: Annotated[date, BeforeValidator(parse_ace_date)] = Field(alias="DATE_WORKED")
    project_id: OptInt = Field(default=None, alias="PROJECT_ID")
    project_name: OptStr = Field(default=None, alias="PROJECT_NAME")
    task_id: OptInt = Field(default=None, alias="TASK_ID")
    task_title: OptStr = Field(default=None, alias="TASK_RESUME")
    creator_user_id: OptInt = Field(default=None, alias="CREATOR_USER_ID")
    creator_username: OptStr = Field(default=None, alias="CREATOR_USERNAME")
    total_hours: AceFloat = Field(alias="TOTAL")
    comment: OptStr = Field(default=None, alias="COMMENT")
    time_type_id: OptInt = Field(default=None, alias="TIME_TYPE_ID")
    time_type_name: OptStr = Field(default=None, alias="TIME_TYPE_NAME")
    time_status_name: OptStr = Field(default=None, alias="TIME_STATUS_NAME")
    approval_level: OptInt = Field(default=None, alias="APPROVAL_LEVEL")
    created_at: OptDateTime = Field(default=None, alias="DATE_CREATED")
    modified_at: OptDateTime = Field(default=None, alias="DATE_MODIFIED")
    submitted_at: OptDateTime = Field(default=None, alias="DATE_SUBMITTED")

    @property
    def key(self) -> tuple[int, date]:
        return (self.timesheet_line_id, self.date_worked)


class AceSavedLine(AceRow):
    """The answer of `saveworkitem`: the weekly line's id."""

    timesheet_line_id: AceInt = Field(alias="TIMESHEET_LINE_ID")
