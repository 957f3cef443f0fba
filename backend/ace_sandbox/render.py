"""Result rows (UPPER_SNAKE field names), the JSON envelope in both date formats, and the
XML document the sandbox can answer instead.

- ``format=iso8601``: dates as naive ``YYYY-MM-DDTHH:MM:SS``.
- ``format=json``: dates as ``/Date(<ms>)/`` where ``ms`` encodes the account-local wall-clock
  time as if it were UTC, never negative (how the public JSON clients decode it).
- Empty dates are ``null`` unless the app is configured to emit ``""``.
- XML (``xml_document``, the ``iso8601_as_xml`` fault): a ``<results>`` root whose children
  are ``<row>`` elements carrying every field as an attribute (the shape a public Python
  client reads with ``root.find('row')`` / ``child.attrib``); a failure is one row with
  ``ERRORNUMBER``/``ERRORDESCRIPTION`` attributes. Dates are ISO 8601 (``iso8601`` dates),
  booleans ``true``/``false``, null fields empty attributes (invented).

Invented (the public sources ask for them or leave them open): ``ACCESS_LEVEL``,
``ACCESS_STATUS``, ``DATE_MODIFIED`` on users; ``PROJECT_STATUS_ID``, ``PROJECT_PRIORITY_ID``,
``CLIENT_ID``, ``PROJECT_TYPE_ID`` on projects; ``TASK_STATUS_ID``, ``TASK_PRIORITY_ID``,
``TASK_TYPE_ID`` on tasks; the codes of ``STATUS_TYPE_ID`` on tasks (a per-project
permutation, see ``models.status_type_code``) and no ``STATUS_TYPE_NAME``; ``SORT_ORDER`` on
status rows; the whole ``getassigneduserlist`` row; ``USER_ID``, ``USERNAME``,
``EMAIL_ALERT``, ``ACCOUNT_ID``, ``ACCESS_LEVEL`` on the login row; the XML root element's
name (``results``) and the XML spelling of booleans and nulls.
``ASSIGNED``/``REVIEWER`` are "First Last" names joined by ", " in assignment order;
``ASSIGNED_USERS`` on projects lists the project members the same way, sorted by user id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

import orjson

from ace_sandbox.models import (
    Project,
    Session,
    Task,
    TaskStatus,
    TimeEntry,
    User,
    status_type_code,
)
from ace_sandbox.store import Account

Row = dict[str, Any]
DateFormat = Literal["iso8601", "json"]
NullDate = str | None

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


def _ms_date(value: object) -> str:
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=None) if value.tzinfo is not None else value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        raise TypeError(f"cannot serialise {type(value).__name__}")
    millis = (moment - _EPOCH) // _MS
    return f"/Date({max(millis, 0)})/"


def _iso_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    raise TypeError(f"cannot serialise {type(value).__name__}")


def envelope(status: str, results: Sequence[Row], date_format: DateFormat) -> bytes:
    """Serialise ``{"status": ..., "results": [...]}`` with the requested date format."""
    body = {"status": status, "results": results}
    default = _ms_date if date_format == "json" else _iso_default
    return orjson.dumps(body, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def fail_row(number: int, description: str) -> Row:
    return {"ERRORNUMBER": number, "ERRORDESCRIPTION": description}


def _xml_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return _iso_default(value)
    return str(value)


def _xml_row(row: Row) -> str:
    attributes = "".join(f" {name}={quoteattr(_xml_value(value))}" for name, value in row.items())
    return f"<row{attributes} />"


def xml_document(results: Sequence[Row]) -> bytes:
    """The rows as ``<results><row FIELD="value" .../>...</results>`` (UTF-8); a failure
    is a single row with ERRORNUMBER/ERRORDESCRIPTION attributes."""
    rows = "".join(_xml_row(row) for row in results)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<results>{rows}</results>'.encode()


def _username(account: Account, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = account.users.get(user_id)
    return user.username if user is not None else None


def login_row(account: Account, user: User, session: Session) -> Row:
    return {
        "GUID": session.guid,
        "USER_ID": user.user_id,
        "USERNAME": user.username,
        "FIRST_NAME": user.first_name,
        "LAST_NAME": user.last_name,
        "EMAIL_ALERT": user.email_alert,
        "ACCOUNT_ID": account.account_id,
        "ACCESS_LEVEL": user.access_level,
    }


def public_settings_row(account: Account) -> Row:
    return {
        "ACCOUNT_ID": account.account_id,
        "CUSTOM_PRODUCT_NAME": account.product_name,
        "COMPANY_NAME": account.company_name,
        "DEFAULT_LANGUAGE": "en-US",
        "SSO_ENABLED": False,
    }


def user_row(account: Account, user: User, nd: NullDate) -> Row:
    return {
        "USER_ID": user.user_id,
        "USERNAME": user.username,
        "FIRST_NAME": user.first_name,
        "LAST_NAME": user.last_name,
        "EMAIL_ALERT": user.email_alert,
        "USER_GROUP_ID": user.user_group_id,
        "USER_GROUP_NAME": account.lookups.user_groups.get(user.user_group_id, ""),
        "ACTIVE": user.active,
        "ACCESS_LEVEL": user.access_level,
        "ACCESS_STATUS": user.access_status,
        "DATE_MODIFIED": user.date_modified or nd,
    }


def user_combo_row(user: User) -> Row:
    return {
        "USER_ID": user.user_id,
        "USERNAME": user.username,
        "FIRST_NAME": user.first_name,
        "LAST_NAME": user.last_name,
    }


def _names(account: Account, user_ids: Sequence[int]) -> str:
    users = account.users
    return ", ".join(users[u].display_name for u in user_ids if u in users)


def project_row(account: Account, project: Project, nd: NullDate) -> Row:
    lookups = account.lookups
    status = lookups.project_statuses.get(project.project_status_id)
    client = lookups.clients.get(project.client_id)
    members = sorted(account.project_members.get(project.project_id, ()))
    return {
        "PROJECT_ID": project.project_id,
        "PROJECT_NAME": project.project_name,
        "PROJECT_NUMBER": project.project_number,
        "PROJECT_DESC": project.project_desc,
        "PROJECT_TYPE": project.project_type_id,
        "PROJECT_TYPE_ID": project.project_type_id,
        "PROJECT_TYPE_NAME": lookups.project_types.get(project.project_type_id, ""),
        "PROJECT_STATUS_ID": project.project_status_id,
        "PROJECT_STATUS_NAME": status.name if status is not None else "",
        "PROJECT_PRIORITY_ID": project.project_priority_id,
        "PROJECT_PRIORITY_NAME": lookups.priorities.get(project.project_priority_id, ""),
        "CLIENT_ID": project.client_id,
        "CLIENT_NAME": client.name if client is not None else "",
        "CONTACT_NAME": project.contact_name,
        "CONTACT_PHONE": project.contact_phone,
        "DATE_CREATED": project.date_created or nd,
        "DATE_MODIFIED": project.date_modified or nd,
        "PROJECT_CREATOR_ID": project.creator_user_id,
        "USERNAME": _username(account, project.creator_user_id),
        "USER_UPDATE_ID": project.update_user_id,
        "USER_UPDATE_USERNAME": _username(account, project.update_user_id),
        "ASSIGNED_USERS": _names(account, members),
        "POURCENTAGE": project.pourcentage,
    }


def project_combo_row(project: Project) -> Row:
    return {"PROJECT_ID": project.project_id, "PROJECT_NAME": project.project_name}


def task_row(account: Account, task: Task, nd: NullDate, with_status_id: bool = True) -> Row:
    lookups = account.lookups
    project = account.projects.get(task.project_id)
    status = account.task_statuses.get(task.task_status_id)
    assignments = account.assignments.get(task.task_id, {}).values()
    assignees = [a.user_id for a in assignments if a.is_assignee]
    reviewers = [a.user_id for a in assignments if a.is_reviewer]
    row: Row = {
        "TASK_ID": task.task_id,
        "TASK_NUMBER": task.task_number,
        "TASK_RESUME": task.task_resume,
        "TASK_DESC_CREATOR": task.task_desc_creator,
        "PROJECT_ID": task.project_id,
        "PROJECT_NAME": project.project_name if project is not None else "",
        "PROJECT_NUMBER": project.project_number if project is not None else "",
        "TASK_GROUP_ID": task.task_group_id,
        "TASK_GROUP_NAME": lookups.task_groups.get(task.task_group_id, ""),
        "TASK_TYPE_ID": task.task_type_id,
        "TASK_TYPE_NAME": lookups.task_types.get(task.task_type_id, ""),
        "TASK_STATUS_ID": task.task_status_id,
        "TASK_STATUS_NAME": status.name if status is not None else "",
        "STATUS_TYPE_ID": (
            status_type_code(task.project_id, status.completed_status)
            if status is not None
            else None
        ),
        "TASK_PRIORITY_ID": task.task_priority_id,
        "TASK_PRIORITY_NAME": lookups.priorities.get(task.task_priority_id, ""),
        "DATE_TASK_CREATED": task.date_created or nd,
        "DATE_TASK_MODIFIED": task.date_modified or nd,
        "DATE_EXPECTED_START_TASK": task.date_expected_start or nd,
        "DATE_EXPECTED_END_TASK": task.date_expected_end or nd,
        "DATE_ACTUAL_START_DATE": task.date_actual_start or nd,
        "DATE_ACTUAL_END_DATE": task.date_actual_end or nd,
        "ESTIMATED_TIME": task.estimated_time,
        "ACTUAL_HOURS": task.actual_hours,
        "POURCENTAGE_DONE": task.pourcentage_done,
        "ACTUAL_PERCENT_DONE": task.pourcentage_done,
        "USER_CREATOR_ID": task.creator_user_id,
        "USERNAME": _username(account, task.creator_user_id),
        "UPDATE_USER_ID": task.update_user_id,
        "UPDATE_USERNAME": _username(account, task.update_user_id),
        "ASSIGNED": _names(account, assignees),
        "REVIEWER": _names(account, reviewers),
    }
    if not with_status_id:
        del row["TASK_STATUS_ID"]
    return row


def task_combo_row(task: Task) -> Row:
    return {"TASK_ID": task.task_id, "TASK_RESUME": task.task_resume, "PROJECT_ID": task.project_id}


def assignable_user_row(user: User) -> Row:
    return {
        "USER_ID": user.user_id,
        "USERNAME": user.username,
        "FIRST_NAME": user.first_name,
        "LAST_NAME": user.last_name,
    }


def task_status_row(status: TaskStatus) -> Row:
    return {
        "TASK_STATUS_ID": status.task_status_id,
        "TASK_STATUS_NAME": status.name,
        "COMPLETED_STATUS": status.completed_status,
        "SORT_ORDER": status.sort_order,
    }


def time_row(account: Account, entry: TimeEntry, nd: NullDate) -> Row:
    lookups = account.lookups
    project = account.projects.get(entry.project_id)
    task = account.tasks.get(entry.task_id)
    user = account.users.get(entry.user_id)
    client = lookups.clients.get(project.client_id) if project is not None else None
    return {
        "DATE_WORKED": entry.date_worked,
        "TIMESHEET_LINE_ID": entry.timesheet_line_id,
        "COMPANY_ID": account.company_id,
        "PROJECT_ID": entry.project_id,
        "PROJECT_TYPE_NAME": (
            lookups.project_types.get(project.project_type_id, "") if project is not None else ""
        ),
        "PROJECT_NUMBER": project.project_number if project is not None else "",
        "PROJECT_NAME": project.project_name if project is not None else "",
        "TASK_ID": entry.task_id,
        "TASK_NUMBER": task.task_number if task is not None else None,
        "TASK_RESUME": task.task_resume if task is not None else "",
        "TASK_GROUP_NAME": lookups.task_groups.get(task.task_group_id, "") if task else "",
        "TASK_TYPE_NAME": lookups.task_types.get(task.task_type_id, "") if task else "",
        "TIME_TYPE_ID": entry.time_type_id,
        "TIME_TYPE_NAME": lookups.time_types.get(entry.time_type_id, ""),
        "DATE_CREATED": entry.date_created or nd,
        "DATE_MODIFIED": entry.date_modified or nd,
        "DATE_SUBMITTED": entry.date_submitted or nd,
        "COMMENT": entry.comment,
        "CREATOR_USER_ID": entry.user_id,
        "CREATOR_USERNAME": user.username if user is not None else "",
        "USER_GROUP_NAME": (
            lookups.user_groups.get(user.user_group_id, "") if user is not None else ""
        ),
        "CLIENT_NUMBER": client.number if client is not None else "",
        "CLIENT_NAME": client.name if client is not None else "",
        "APPROVAL_LEVEL": entry.approval_level,
        "TIME_STATUS_NAME": lookups.approval_levels.get(entry.approval_level, ""),
        "DATE_APPROVAL_DATE": entry.date_approval or nd,
        "APPROVAL_USER_ID": entry.approval_user_id,
        "APPROVAL_USERNAME": _username(account, entry.approval_user_id),
        "TOTAL": round(entry.total, 2),
    }
