"""The DTO parsers accept every shape ACE may send, and refuse garbage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from app.ace.dto import (
    AceLogin,
    AceProject,
    AcePublicSettings,
    AceTask,
    AceTaskStatus,
    AceTimeEntry,
    AceUser,
    parse_ace_date,
    parse_ace_datetime,
)
from app.models.enums import StatusType
from app.services.ace_identity import is_ace_admin, may_sign_in

MODIFIED = datetime(2025, 5, 1, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-05-01T09:30:15", MODIFIED),
        ("2025-05-01T09:30:15Z", MODIFIED),
        ("2025-05-01T09:30:15.000", MODIFIED),
        ("2025-05-01T09:30:15.0000000", MODIFIED),
        ("2025-05-01 09:30:15", MODIFIED),
        ("2025-05-01T11:30:15+02:00", MODIFIED),
        ("2025-05-01T09:30:15.5", MODIFIED.replace(microsecond=500000)),
        ("/Date(1746091815000)/", MODIFIED),
        ("/Date(1746091815000+0200)/", MODIFIED),
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("  ", None),
        ("NULL", None),
    ],
)
def test_datetimes_in_every_shape(raw: object, expected: datetime | None) -> None:
    assert parse_ace_datetime(raw) == expected


def test_naive_values_are_labelled_utc_without_shifting() -> None:
    parsed = parse_ace_datetime("2025-12-31T23:59:59")
    assert parsed is not None
    assert parsed.tzinfo is UTC
    assert (parsed.hour, parsed.day) == (23, 31)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-05-01", date(2025, 5, 1)),
        ("2025-05-01T00:00:00", date(2025, 5, 1)),
        # a calendar day keeps the day ACE wrote, whatever the offset
        ("2025-05-01T00:00:00+05:00", date(2025, 5, 1)),
        ("/Date(1746057600000)/", date(2025, 5, 1)),
        ("", None),
        (None, None),
    ],
)
def test_calendar_dates(raw: object, expected: date | None) -> None:
    assert parse_ace_date(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2025-13-01", "/Date(abc)/", 12.5])
def test_bad_datetimes_are_refused(raw: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_ace_datetime(raw)


def _task_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "TASK_ID": 7,
        "PROJECT_ID": 3,
        "PROJECT_NAME": "Website",
        "TASK_NUMBER": 12,
        "TASK_RESUME": "Fix login",
        "TASK_DESC_CREATOR": "<p>broken</p>",
        "TASK_STATUS_ID": 3,
        "TASK_STATUS_NAME": "In progress",
        "STATUS_TYPE_ID": 2,
        "STATUS_TYPE_NAME": "In progress",
        "TASK_PRIORITY_NAME": "High",
        "TASK_TYPE_NAME": "Bug",
        "TASK_GROUP_NAME": "Backend",
        "ESTIMATED_TIME": 8,
        "ACTUAL_HOURS": "3.29",
        "POURCENTAGE_DONE": 4,
        "DATE_EXPECTED_START_TASK": "2025-05-01T00:00:00",
        "DATE_EXPECTED_END_TASK": None,
        "DATE_ACTUAL_START_DATE": "",
        "DATE_TASK_CREATED": "2025-04-01T08:00:00",
        "DATE_TASK_MODIFIED": "2025-05-01T09:30:15",
        "ASSIGNED": "Alice Liddell, Bob Builder",
        "TOTAL_ROW_COUNT": 40,
    }
    row.update(overrides)
    return row


def test_task_row_iso8601() -> None:
    task = AceTask.model_validate(_task_row())
    assert task.task_id == 7
    assert task.title == "Fix login"
    assert task.number == "12"
    assert task.percent_done == 40.0  # tenths on the wire
    assert task.actual_hours == pytest.approx(3.29)
    assert task.estimated_hours == 8.0
    assert task.expected_start == date(2025, 5, 1)
    assert task.expected_end is None
    assert task.actual_start is None
    assert task.actual_end is None  # missing entirely
    assert task.modified_at == MODIFIED
    assert task.assigned == "Alice Liddell, Bob Builder"


def test_task_row_json_format_with_strings_and_lower_case_names() -> None:
    row = {k.lower(): v for k, v in _task_row().items()}
    row |= {
        "task_id": "7",
        "project_id": "3.0",
        "date_task_modified": "/Date(1746091815000)/",
        "date_expected_start_task": "/Date(1746057600000)/",
        "date_expected_end_task": "",
    }
    task = AceTask.model_validate(row)
    assert (task.task_id, task.project_id) == (7, 3)
    assert task.modified_at == MODIFIED
    assert task.expected_start == date(2025, 5, 1)
    assert task.expected_end is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0.0), (4, 40.0), ("10", 100.0), ("2.5", 25.0), (11, None), (40, None), (-1, None)],
)
def test_percent_done_is_read_in_tenths(raw: object, expected: float | None) -> None:
    task = AceTask.model_validate(_task_row(POURCENTAGE_DONE=raw))
    assert task.percent_done == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, StatusType.waiting),
        ("1", StatusType.completed),
        (2, StatusType.in_progress),
        (3, None),
        (None, None),
    ],
)
def test_completed_status_is_the_documented_code(code: object, expected: StatusType | None) -> None:
    status = AceTaskStatus.model_validate(
        {"TASK_STATUS_ID": 9, "TASK_STATUS_NAME": "Review", "COMPLETED_STATUS": code}
    )
    assert status.status_type is expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"TASK_ID": None},
        {"TASK_ID": "seven"},
        {"TASK_ID": 7.5},
        {"TASK_ID": True},
        {"PROJECT_ID": ""},
        {"TASK_RESUME": None},
        {"DATE_TASK_MODIFIED": "not a date"},
        {"ACTUAL_HOURS": "lots"},
        {"ACTUAL_HOURS": "NaN"},
        {"ESTIMATED_TIME": [1]},
    ],
)
def test_unreadable_task_rows_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AceTask.model_validate(_task_row(**overrides))


def test_login_row() -> None:
    login = AceLogin.model_validate(
        {"GUID": "0f8fad5b-d9cb-469f-a165-70867728950e", "FIRST_NAME": "Al", "LAST_NAME": ""}
    )
    assert login.user_id is None
    assert login.last_name is None
    assert "0f8fad5b" not in repr(login)
    with pytest.raises(ValidationError):
        AceLogin.model_validate({"FIRST_NAME": "Al"})
    with pytest.raises(ValidationError):
        AceLogin.model_validate({"GUID": "  "})
    with pytest.raises(ValidationError):
        AceLogin.model_validate({"GUID": 12345})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), ("True", True), ("false", False), (1, True), ("0", False), (None, None)],
)
def test_user_active_flags(raw: object, expected: bool | None) -> None:
    user = AceUser.model_validate(
        {"USER_ID": "4", "USERNAME": "alice", "ACTIVE": raw, "ACCESS_LEVEL": "2"}
    )
    assert user.active is expected
    assert is_ace_admin(user)


def test_user_access_status_decides_sign_in() -> None:
    base = {"USER_ID": 4, "USERNAME": "alice"}
    assert may_sign_in(AceUser.model_validate(base))
    assert may_sign_in(AceUser.model_validate(base | {"ACCESS_STATUS": 1, "ACTIVE": True}))
    assert not may_sign_in(AceUser.model_validate(base | {"ACCESS_STATUS": 2, "ACTIVE": True}))
    assert not may_sign_in(AceUser.model_validate(base | {"ACTIVE": "False"}))
    with pytest.raises(ValidationError):
        AceUser.model_validate(base | {"ACTIVE": "maybe"})


def test_project_status_time_rows() -> None:
    project = AceProject.model_validate(
        {"PROJECT_ID": 1, "PROJECT_NAME": "Site", "DATE_MODIFIED": None, "POURCENTAGE": "12.5"}
    )
    assert project.percent_done == 12.5
    assert project.modified_at is None

    status = AceTaskStatus.model_validate(
        {"TASK_STATUS_ID": 6, "TASK_STATUS_NAME": "Cancelled", "COMPLETED_STATUS": 1}
    )
    assert status.status_type is StatusType.completed

    entry = AceTimeEntry.model_validate(
        {
            "TIMESHEET_LINE_ID": "55",
            "DATE_WORKED": "2025-05-02T00:00:00",
            "TOTAL": "1.25",
            "COMMENT": "",
            "DATE_MODIFIED": "/Date(1746091815000)/",
        }
    )
    assert entry.key == (55, date(2025, 5, 2))
    assert entry.total_hours == 1.25
    assert entry.comment is None
    assert entry.modified_at == MODIFIED


def test_public_settings_keep_every_value() -> None:
    settings = AcePublicSettings.model_validate({"custom_product_name": "Acme PM", "LANG": "en"})
    assert settings.custom_product_name == "Acme PM"
    assert settings.values == {"CUSTOM_PRODUCT_NAME": "Acme PM", "LANG": "en"}
