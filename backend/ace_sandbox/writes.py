"""The write functions: ``saveworkitem``, ``deleteworkitem``, ``savetask``, ``assignusertask``.

Handlers have the signature of the ``fn_*`` handlers in ``functions.py`` and run under the
account lock after the GUID check. Every refusal is a ``fail`` answer (HTTP 200).

Invented behaviour (the public sources name the parameters, not the rules or numbers):

- Error numbers 4001-4007 (see ``params.py``).
- ``saveworkitem`` replaces all seven days of a line: a ``hoursdayN`` not sent counts
  0 hours, and a day with 0 hours has no row. ``comments`` and ``timetypeid`` not sent on an
  update keep the line's values. Any ``indatetime``/``outdatetime`` parameter, even NULL or
  empty, fails with 4006. A line whose approval level is submitted or approved cannot be
  changed or deleted (4002), like one whose week touches ``Account.closed_through``.
- The caller must be an administrator or a member of the task's project (else 4004, no
  right). Only administrators may act for another user (``userid``), touch another user's
  line, or call ``assignusertask`` (4004).
- ``projectid`` that is not the task's project, an unknown ``userid`` or ``timetypeid``, and
  ``userid`` differing from the owner of the line being updated fail with 3001.
- ``savetask`` answers ``{"TASK_ID"}``, sets UPDATE_USER_ID to the caller and bumps
  DATE_TASK_MODIFIED even when nothing else changes. Besides ``statusid``, ``percentdone``
  and ``addcomments`` it takes ``estimatedhours`` (>= 0, else 4003) and
  ``estimatedstartdate``/``estimatedduedate``/``actualstartdate``/``actualduedate``
  (``YYYY-MM-DD``; NULL leaves a date as it is); other names are ignored.
- ``assignusertask``: ``isassignee`` defaults to true, ``isreviewer`` to false; both false
  unassigns; ``assignedhours`` not sent keeps the current value (0 for a new assignment).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from ace_sandbox.calls import Call, Caller, Row, live_task, require_project_right
from ace_sandbox.models import PERCENT_DONE_MAX, Task, TimeLine, User
from ace_sandbox.params import (
    ERR_CLOSED,
    ERR_INVALID,
    ERR_NO_RIGHT,
    ERR_RANGE,
    ERR_STATUS,
    ERR_TIMECLOCK,
    ERR_UNKNOWN_LINE,
    AceFailure,
    Params,
    parse_day,
)
from ace_sandbox.store import Account

_SUNDAY = 6  # date.weekday()
_DAY_HOURS = 24.0
_TIMECLOCK = ("indatetime", "outdatetime")


# --- parameter helpers --------------------------------------------------------------------


def _in_range(value: float, low: float, high: float, name: str) -> float:
    if not low <= value <= high:  # also refuses nan
        raise AceFailure(ERR_RANGE, f"{name} must be between {low:g} and {high:g}: {value:g}")
    return value


def _not_negative(value: float, name: str) -> float:
    if not value >= 0:  # also refuses nan
        raise AceFailure(ERR_RANGE, f"{name} must not be negative: {value:g}")
    return value


# --- access helpers -----------------------------------------------------------------------


def _workable_task(caller: Caller, task_id: int) -> Task:
    """The task (4001 if unknown), if the caller may work on its project (else 4004)."""
    task = live_task(caller.account, task_id)
    require_project_right(caller, task.project_id)
    return task


def _check_project(params: Params, task: Task) -> None:
    project_id = params.integer("projectid")
    if project_id is not None and project_id != task.project_id:
        raise AceFailure(ERR_INVALID, f"task {task.task_id} is not in project {project_id}")


def _line(account: Account, line_id: int) -> TimeLine:
    line = account.time_lines.get(line_id)
    if line is None:
        raise AceFailure(ERR_UNKNOWN_LINE, f"time-sheet line {line_id} not found")
    return line


def _check_own(user: User, owner_id: int) -> None:
    if owner_id != user.user_id and not user.is_admin:
        raise AceFailure(ERR_NO_RIGHT, "only an administrator may work for another user")


def _check_week(account: Account, week_start: date) -> None:
    if account.week_is_closed(week_start):
        raise AceFailure(ERR_CLOSED, f"the week of {week_start} is in a closed period")


def _check_line(account: Account, line: TimeLine) -> None:
    """A line may change only while its week is open and it is not submitted/approved."""
    _check_week(account, line.week_start)
    if line.approval_level > 0:
        raise AceFailure(ERR_CLOSED, f"time-sheet line {line.timesheet_line_id} is submitted")


# --- time ---------------------------------------------------------------------------------


def _week_hours(params: Params) -> list[float]:
    hours = []
    for day in range(1, 8):
        name = f"hoursday{day}"
        hours.append(_in_range(params.number(name) or 0.0, 0.0, _DAY_HOURS, name))
    return hours


def _owner(call: Call, line: TimeLine | None) -> int:
    """The user the line is (to be) saved for; checks the caller's right to do so."""
    me, account = call.me, call.me.account
    wanted = call.params.integer("userid")
    if wanted is not None and wanted not in account.users:
        raise AceFailure(ERR_INVALID, f"unknown userid: {wanted}")
    if line is not None and wanted is not None and wanted != line.user_id:
        raise AceFailure(ERR_INVALID, f"line {line.timesheet_line_id} belongs to another user")
    if line is not None:
        owner = line.user_id
    else:
        owner = wanted if wanted is not None else me.user.user_id
    _check_own(me.user, owner)
    return owner


def _line_fields(params: Params, account: Account, line: TimeLine | None) -> tuple[int, str]:
    """TIME_TYPE_ID and COMMENT of the saved line; an update keeps what is not sent."""
    previous = next(iter(line.days.values()), None) if line is not None else None
    time_type = params.integer("timetypeid")
    if time_type is None:
        time_type = previous.time_type_id if previous is not None else 1
    if time_type not in account.lookups.time_types:
        raise AceFailure(ERR_INVALID, f"unknown timetypeid: {time_type}")
    comment = params.text("comments")
    if comment is None:
        comment = previous.comment if previous is not None else ""
    return time_type, comment


def fn_saveworkitem(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    if any(params.present(name) for name in _TIMECLOCK):
        raise AceFailure(ERR_TIMECLOCK, "indatetime/outdatetime are for timeclock entries only")
    week_start = parse_day(params.required_text("weekstart"), "weekstart")
    if week_start.weekday() != _SUNDAY:
        raise AceFailure(ERR_INVALID, f"weekstart must be a Sunday: {week_start}")
    task_id = params.required_integer("taskid")
    hours = _week_hours(params)
    line_id = params.integer("timesheetlineid")
    line = _line(account, line_id) if line_id is not None else None
    owner = _owner(call, line)
    task = _workable_task(me, task_id)
    _check_project(params, task)
    time_type, comment = _line_fields(params, account, line)
    if line is not None:
        _check_line(account, line)
    _check_week(account, week_start)
    saved = account.save_time_line(
        line_id,
        user_id=owner,
        week_start=week_start,
        hours=hours,
        project_id=task.project_id,
        task_id=task.task_id,
        time_type_id=time_type,
        comment=comment,
    )
    return [{"TIMESHEET_LINE_ID": saved.timesheet_line_id}]


def fn_deleteworkitem(call: Call) -> list[Row]:
    me = call.me
    line = _line(me.account, call.params.required_integer("timesheetlineid"))
    _check_own(me.user, line.user_id)
    _check_line(me.account, line)
    me.account.delete_time_line(line.timesheet_line_id)
    return []


# --- tasks --------------------------------------------------------------------------------


# savetask date parameters (named as in the public PHP client's savetask defaults) → fields
_TASK_DATES = {
    "estimatedstartdate": "date_expected_start",
    "estimatedduedate": "date_expected_end",
    "actualstartdate": "date_actual_start",
    "actualduedate": "date_actual_end",
}


def _status_change(account: Account, task: Task, params: Params) -> dict[str, Any]:
    status_id = params.integer("statusid")
    if status_id is None:
        return {}
    listed = {s.task_status_id for s in account.task_status_list(task.project_id)}
    if status_id not in listed:
        raise AceFailure(ERR_STATUS, f"status {status_id} is not in the project's list")
    return {"task_status_id": status_id}


def _plan_changes(params: Params) -> dict[str, Any]:
    """Percent done (0..10), estimated hours (>= 0) and the four task dates, when sent."""
    changes: dict[str, Any] = {}
    percent = params.number("percentdone")
    if percent is not None:
        changes["pourcentage_done"] = _in_range(percent, 0.0, PERCENT_DONE_MAX, "percentdone")
    estimated = params.number("estimatedhours")
    if estimated is not None:
        changes["estimated_time"] = _not_negative(estimated, "estimatedhours")
    for name, attribute in _TASK_DATES.items():
        day = params.day(name)
        if day is not None:
            changes[attribute] = datetime.combine(day, time())
    return changes


def fn_savetask(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    task = _workable_task(me, params.required_integer("taskid"))
    _check_project(params, task)
    changes = {
        "update_user_id": me.user.user_id,
        **_status_change(account, task, params),
        **_plan_changes(params),
    }
    stamp = account.clock()
    comment = params.text("addcomments")
    if comment is not None:
        account.add_task_comment(task.task_id, me.user.user_id, comment, at=stamp)
    account.update_task(task.task_id, at=stamp, **changes)
    return [{"TASK_ID": task.task_id}]


def fn_assignusertask(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    task_id = params.required_integer("taskid")
    user_id = params.required_integer("userid")
    if not me.user.is_admin:
        raise AceFailure(ERR_NO_RIGHT, "only an administrator may assign users")
    task = _workable_task(me, task_id)
    if user_id not in account.users:
        raise AceFailure(ERR_INVALID, f"unknown userid: {user_id}")
    hours = params.number("assignedhours")
    if hours is not None:
        _not_negative(hours, "assignedhours")
    is_assignee = bool(params.boolean("isassignee", True))
    is_reviewer = bool(params.boolean("isreviewer", False))
    if not is_assignee and not is_reviewer:
        account.unassign(task.task_id, user_id)
        return []
    if hours is None:
        current = account.assignments.get(task.task_id, {}).get(user_id)
        hours = current.assigned_hours if current is not None else 0.0
    account.assign(
        task.task_id,
        user_id,
        is_assignee=is_assignee,
        is_reviewer=is_reviewer,
        assigned_hours=hours,
    )
    return []


#: fct → (needs a GUID, handler), merged into ``functions.FUNCTIONS``
WRITE_FUNCTIONS: dict[str, tuple[bool, Callable[[Call], list[Row]]]] = {
    "saveworkitem": (True, fn_saveworkitem),
    "deleteworkitem": (True, fn_deleteworkitem),
    "savetask": (True, fn_savetask),
    "assignusertask": (True, fn_assignusertask),
}
