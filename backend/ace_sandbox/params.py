"""Request parameters: merging, case folding, NULL handling, typed readers, and the failure
table of the sandbox.

Rules (from the public clients and the API explorer): parameter names are lower-cased; a
value that is missing, empty or ``NULL`` (any case) is null; booleans are ``true/false/1/0``
in any case; dates are ``YYYY-MM-DD`` or ISO date-times (any offset is dropped, only the
wall-clock part counts). Query string and form body are merged, the form winning; within
one source the last repetition of a name wins.

Failure numbers (no list is published; all are invented):

====  ==========================================================
1001  required parameter missing
1002  invalid account
1003  invalid username or password
1004  user is not active
2001  invalid or expired GUID
3001  invalid parameter value (type, range, unknown sort field...)
3002  unknown function
3003  object not found (``getprojectinfo``)
3004  unsupported format
4001  unknown task (write functions; a task of a deleted project counts as unknown)
4002  closed period, or a submitted/approved time-sheet line
4003  hours, percent done or assigned hours out of range
4004  no right (another user's time, a project the caller is not a member of,
      ``assignusertask`` or, with ``getusers_admin_only``, ``getusers`` as a normal user)
4005  unknown time-sheet line
4006  timeclock parameter (``indatetime``/``outdatetime``) on a normal entry
4007  status not in the task's project's status list
====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from urllib.parse import parse_qsl

from ace_sandbox.store import DATE_OPERATORS

ERR_MISSING = 1001
ERR_ACCOUNT = 1002
ERR_CREDENTIALS = 1003
ERR_INACTIVE = 1004
ERR_GUID = 2001
ERR_INVALID = 3001
ERR_FUNCTION = 3002
ERR_NOT_FOUND = 3003
ERR_FORMAT = 3004
ERR_UNKNOWN = 4001
ERR_CLOSED = 4002
ERR_RANGE = 4003
ERR_NO_RIGHT = 4004
ERR_UNKNOWN_LINE = 4005
ERR_TIMECLOCK = 4006
ERR_STATUS = 4007

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class AceFailure(Exception):
    """Becomes a ``{"status": "fail"}`` answer with ERRORNUMBER and ERRORDESCRIPTION."""

    def __init__(self, number: int, description: str) -> None:
        super().__init__(f"{number}: {description}")
        self.number = number
        self.description = description


def parse_pairs(raw: str) -> dict[str, str]:
    """Decode a query string or form body into ``{lower-case name: value}``."""
    return {name.lower(): value for name, value in parse_qsl(raw, keep_blank_values=True)}


def _null(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if not stripped or stripped.lower() == "null":
        return None
    return value


class Params:
    """Typed access to one request's parameters."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = {name.lower(): value for name, value in raw.items()}

    def text(self, name: str) -> str | None:
        return _null(self.raw.get(name))

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise AceFailure(ERR_MISSING, f"required parameter missing: {name}")
        return value

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return int(value.strip())
        except ValueError:
            raise AceFailure(ERR_INVALID, f"invalid integer for {name}: {value!r}") from None

    def required_integer(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise AceFailure(ERR_MISSING, f"required parameter missing: {name}")
        return value

    def number(self, name: str) -> float | None:
        """A decimal number (``.`` as the separator)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            return float(value.strip())
        except ValueError:
            raise AceFailure(ERR_INVALID, f"invalid number for {name}: {value!r}") from None

    def present(self, name: str) -> bool:
        """Whether the parameter was sent at all (even empty or ``NULL``)."""
        return name in self.raw

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.text(name)
        if value is None:
            return default
        folded = value.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise AceFailure(ERR_INVALID, f"invalid boolean for {name}: {value!r}")

    def day(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        return parse_day(value, name)

    def date_filters(self, allowed: frozenset[str]) -> list[tuple[str, int, date]]:
        """The ``filterfirstdate*`` and ``filterseconddate*`` triples (AND-ed)."""
        result: list[tuple[str, int, date]] = []
        for which in ("first", "second"):
            field = self.text(f"filter{which}date")
            operator = self.integer(f"filter{which}dateoperator")
            value = self.day(f"filter{which}datevalue")
            if field is None and operator is None and value is None:
                continue
            if field is None or operator is None or value is None:
                raise AceFailure(
                    ERR_MISSING,
                    f"required parameter missing: filter{which}date, "
                    f"filter{which}dateoperator and filter{which}datevalue go together",
                )
            folded = field.strip().upper()
            if folded not in allowed:
                raise AceFailure(
                    ERR_INVALID,
                    f"invalid filter{which}date: {field!r} "
                    f"(expected one of {', '.join(sorted(allowed))})",
                )
            if operator not in DATE_OPERATORS:
                raise AceFailure(
                    ERR_INVALID, f"invalid filter{which}dateoperator: {operator} (expected 1-5)"
                )
            result.append((folded, operator, value))
        return result


def parse_day(value: str, name: str) -> date:
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise AceFailure(ERR_INVALID, f"invalid date for {name}: {value!r}") from None
