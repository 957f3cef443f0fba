"""The DTOs' fast paths give what the general parsing gave before them, tricky inputs too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from app.ace.dto import AceTask, AceUser, parse_ace_date, parse_ace_datetime

# Every character `str.strip()` removes, around the shapes ACE sends.
_BLANKS = [c for c in map(chr, range(0x3001)) if c.isspace()]
_SHAPES = [
    "2025-05-01T09:30:15",
    "2025-05-01T09:30:15Z",
    "2025-05-01 09:30:15.5",
    "2025-05-01T09:30:15.0000000",
    "2025-05-01T11:30:15+02:00",
    "2025-05-01T00:00:00-05:00",
    "2025-05-01",
    "/Date(1746091815000)/",
    "/Date(1746091815000+0200)/",
    "",
    "NULL",
    "None",
]


def _reference_datetime(text: str) -> datetime | None:
    """The general path, as it was before the fast path: strip first, then decide."""
    text = text.strip()
    if text.lower() in {"", "null", "none"}:
        return None
    if "Date(" in text:
        return parse_ace_datetime(text)
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _reference_date(text: str) -> date | None:
    moment = _reference_datetime(text)
    if moment is None or "Date(" in text:
        return moment.date() if moment else None
    return datetime.fromisoformat(text.strip()).date()  # the day ACE wrote, offset or not


@pytest.mark.parametrize("shape", _SHAPES)
def test_datetimes_as_sent_or_padded_parse_as_before(shape: str) -> None:
    for raw in [shape, *(f"{b}{shape}" for b in _BLANKS), *(f"{shape}{b}" for b in _BLANKS)]:
        expected = _reference_datetime(raw)
        parsed = parse_ace_datetime(raw)
        assert parsed == expected, repr(raw)
        assert parsed is None or parsed.tzinfo is UTC
        assert parse_ace_date(raw) == _reference_date(raw), repr(raw)


@pytest.mark.parametrize("raw", ["2025-02-30T00:00:00", " nope ", "2025-05-01T25:00:00", "\x00"])
def test_bad_datetimes_are_still_refused(raw: str) -> None:
    refused = "isoformat|out of range|must be in"  # `fromisoformat`'s own messages
    with pytest.raises(ValueError, match=refused):
        parse_ace_datetime(raw)
    with pytest.raises(ValueError, match=refused):
        parse_ace_date(raw)


def test_python_datetimes_keep_their_type_and_instant() -> None:
    class Stamp(datetime):
        pass

    naive = Stamp(2025, 5, 1, 9, 30, 15)
    labelled = parse_ace_datetime(naive)
    assert type(labelled) is Stamp
    assert labelled == datetime(2025, 5, 1, 9, 30, 15, tzinfo=UTC)
    assert parse_ace_datetime(date(2025, 5, 1)) == datetime(2025, 5, 1, tzinfo=UTC)


_ROW = {"TASK_ID": 7, "PROJECT_ID": 3, "TASK_RESUME": "Fix", "TASK_STATUS_NAME": "Open"}


@pytest.mark.parametrize(
    "row",
    [
        _ROW,
        {k.lower(): v for k, v in _ROW.items()},
        {k.title(): v for k, v in _ROW.items()},
        _ROW | {"_1": "no letters", "Ünknown": 1, 5: "not a string key"},
        {"task_id": 7, "TASK_ID": 8, "project_id": 3, "task_resume": "Fix"},
        {"\uff34ASK_ID": 9} | _ROW,  # a full-width capital T: not ASCII, still upper case
    ],
)
def test_key_case_is_ignored_as_before(row: dict[Any, Any]) -> None:
    renamed = {
        key if not isinstance(key, str) or key in AceTask.model_fields else key.upper(): value
        for key, value in row.items()
    }
    assert AceTask.model_validate(row) == AceTask.model_validate(renamed)


def test_a_list_of_rows_validates_like_each_row() -> None:
    rows: list[Any] = [_ROW, _ROW | {"TASK_ID": "8", "ESTIMATED_TIME": "1.5"}, {"task_id": 9}]
    rows[2] |= {"project_id": "3.0", "task_resume": 12}
    assert AceTask.validate_rows(rows) == [AceTask.model_validate(row) for row in rows]
    assert AceTask.validate_rows([]) == []


def test_a_bad_row_in_a_list_raises_its_own_error() -> None:
    rows = [_ROW, _ROW | {"TASK_ID": "seven"}, _ROW | {"PROJECT_ID": None}]
    with pytest.raises(ValidationError) as in_list:
        AceTask.validate_rows(rows)
    with pytest.raises(ValidationError) as alone:
        AceTask.model_validate(rows[1])
    assert in_list.value.errors(include_context=False) == alone.value.errors(include_context=False)
    assert in_list.value.title == "AceTask"
    with pytest.raises(ValidationError):
        AceUser.validate_rows([{"USER_ID": 1}])
