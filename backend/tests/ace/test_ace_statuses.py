"""A task's status type comes from its project's status list, never from a guessed code."""

from __future__ import annotations

from typing import Any

from app.ace.dto import AceTask, AceTaskStatus
from app.ace.statuses import StatusList
from app.models.enums import StatusType


def _statuses(*rows: tuple[int | None, str, int]) -> StatusList:
    return StatusList(
        AceTaskStatus.model_validate(
            {"TASK_STATUS_ID": status_id, "TASK_STATUS_NAME": name, "COMPLETED_STATUS": code}
        )
        for status_id, name, code in rows
    )


def _task(**fields: Any) -> AceTask:
    return AceTask.model_validate({"TASK_ID": 1, "PROJECT_ID": 2, "TASK_RESUME": "t", **fields})


def test_by_id_whatever_the_row_claims_as_type() -> None:
    statuses = _statuses((41, "Review", 2), (17, "Done", 1), (3, "Open", 0))
    # STATUS_TYPE_ID 1 would read "waiting" under any guessed table: it is ignored.
    task = _task(TASK_STATUS_ID=17, TASK_STATUS_NAME="Review", STATUS_TYPE_ID=1)
    assert statuses.type_of(task) is StatusType.completed
    assert statuses.knows(task)


def test_by_name_when_the_task_row_has_no_id() -> None:
    statuses = _statuses((41, "Review", 2), (17, "Done", 1))
    task = _task(TASK_STATUS_NAME="  review ")
    assert statuses.type_of(task) is StatusType.in_progress


def test_unknown_status_has_no_type_and_no_english_guess() -> None:
    statuses = _statuses((41, "Review", 2))
    for task in (
        _task(TASK_STATUS_ID=5, TASK_STATUS_NAME="Completed"),
        _task(TASK_STATUS_NAME="Completed"),
    ):
        assert statuses.type_of(task) is None
        assert not statuses.knows(task)


def test_undocumented_completed_code_gives_no_type() -> None:
    statuses = _statuses((7, "Parked", 9))
    task = _task(TASK_STATUS_ID=7)
    assert statuses.knows(task)
    assert statuses.type_of(task) is None
