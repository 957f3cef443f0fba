"""Admin endpoints under ``/_sandbox/`` (JSON in, JSON out; no authentication: the sandbox
is a development and test tool bound to loopback by default).

=======  ================================================  =====================================
method   path                                              effect
=======  ================================================  =====================================
GET      /_sandbox/health                                  ``{"status": "ok"}``
GET      /_sandbox/faults                                  current switches
POST     /_sandbox/faults                                  change the given switches (merge)
PUT      /_sandbox/faults                                  replace all switches (others default)
DELETE   /_sandbox/faults                                  all switches off
GET      /_sandbox/stats                                   ``{"total", "calls", "statuses"}``
POST     /_sandbox/reset-stats                             zero the counters and request log
GET      /_sandbox/requests                                the last requests on ``/`` (decoded)
POST     /_sandbox/sessions/expire                         ``{"account"?, "username"?}`` → expired
GET      /_sandbox/accounts                                account ids with object counts
POST     /_sandbox/accounts/{a}/tasks                      create a task (``task_id`` optional)
POST     /_sandbox/accounts/{a}/tasks/{id}                 update task fields (bumps modified)
DELETE   /_sandbox/accounts/{a}/tasks/{id}                 delete a task
PUT      /_sandbox/accounts/{a}/tasks/{id}/assignees/{u}   assign (``is_assignee``, ``is_reviewer``,
                                                           ``assigned_hours``)
DELETE   /_sandbox/accounts/{a}/tasks/{id}/assignees/{u}   unassign
POST     /_sandbox/accounts/{a}/projects/{id}              update project fields
DELETE   /_sandbox/accounts/{a}/projects/{id}              soft-delete a project
POST     /_sandbox/accounts/{a}/users/{id}                 update user fields (e.g. access_status)
POST     /_sandbox/accounts/{a}/users/{id}/deactivate      access status 3
POST     /_sandbox/accounts/{a}/time-entries               add or replace a daily time row
POST     /_sandbox/accounts/{a}/closed-through             ``{"closed_through": day | null}``: close
                                                           time up to that day (null reopens)
=======  ================================================  =====================================

Field names in bodies are the store's attribute names (``task_resume``,
``task_status_id``, ``date_modified``…, case-insensitive); date fields take ISO strings or
null. An ``at`` key sets the modification stamp. Bad input answers 400 ``{"error": ...}``,
an unknown account or object 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ace_sandbox import asgi
from ace_sandbox.models import Project, Task, TimeEntry, User
from ace_sandbox.store import Account, UnknownObjectError

if TYPE_CHECKING:
    from ace_sandbox.app import SandboxApp


@dataclass(slots=True)
class _AssignmentInput:
    """Fields accepted by the assignment endpoint."""

    is_assignee: bool = True
    is_reviewer: bool = False
    assigned_hours: float = 0.0


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdminError(400, f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdminError(400, "the body must be a JSON object")
    return {str(k).lower(): v for k, v in value.items()}


def _date(name: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AdminError(400, f"{name} must be an ISO date-time string or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AdminError(400, f"{name} must be an ISO date-time string or null") from None
    return parsed.replace(tzinfo=None)


def _coerce(cls: Any, data: dict[str, Any], *, skip: frozenset[str]) -> dict[str, Any]:
    """Validate ``data`` against a record's fields: names, numbers, booleans and dates."""
    types = {f.name: str(f.type) for f in fields(cls)}
    result: dict[str, Any] = {}
    for name, value in data.items():
        if name in skip:
            continue
        kind = types.get(name)
        if kind is None:
            raise AdminError(400, f"unknown field {name!r}")
        if "datetime" in kind:
            result[name] = _date(name, value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise AdminError(400, f"{name} must be true or false")
            result[name] = value
        elif kind.startswith("int"):
            if isinstance(value, bool) or not (
                isinstance(value, int) or (value is None and "None" in kind)
            ):
                raise AdminError(400, f"{name} must be an integer")
            result[name] = value
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AdminError(400, f"{name} must be a number")
            result[name] = float(value)
        else:
            if not isinstance(value, str):
                raise AdminError(400, f"{name} must be a string")
            result[name] = value
    return result


def _account(app: SandboxApp, account_id: str) -> Account:
    account = app.store.account(account_id)
    if account is None:
        raise AdminError(404, f"no account {account_id!r}")
    return account


def _at(data: dict[str, Any]) -> datetime | None:
    return _date("at", data.get("at"))


def _task_out(task: Task) -> dict[str, Any]:
    return {f.name: getattr(task, f.name) for f in fields(Task)}


def _faults(app: SandboxApp, method: str, data: dict[str, Any]) -> dict[str, Any]:
    try:
        if method == "GET":
            return app.faults.current.to_dict()
        if method == "POST":
            return app.faults.update(data).to_dict()
        if method == "PUT":
            return app.faults.replace(data).to_dict()
        return app.faults.reset().to_dict()
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None


def _expire(app: SandboxApp, data: dict[str, Any]) -> dict[str, Any]:
    account = data.get("account")
    username = data.get("username")
    if account is not None and not isinstance(account, str):
        raise AdminError(400, "account must be a string")
    if username is not None and not isinstance(username, str):
        raise AdminError(400, "username must be a string")
    if account is not None:
        _account(app, account)
    try:
        return {"expired": app.expire_sessions(account, username)}
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None


def _accounts(app: SandboxApp) -> list[dict[str, Any]]:
    return [
        {
            "account_id": a.account_id,
            "users": len(a.users),
            "projects": len(a.projects),
            "tasks": len(a.tasks),
            "time_entries": len(a.time_entries),
        }
        for a in app.store.accounts.values()
    ]


_CLOSED_THROUGH = re.compile(r"^/_sandbox/accounts/(?P<account>[^/]+)/closed-through$")


def _closed_through(app: SandboxApp, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
    account = _account(app, account_id)
    moment = _date("closed_through", data.get("closed_through"))
    account.close_period(moment.date() if moment is not None else None)
    closed = account.closed_through
    return {"closed_through": closed.isoformat() if closed is not None else None}


_ROUTE = re.compile(
    r"^/_sandbox/accounts/(?P<account>[^/]+)/(?P<kind>tasks|projects|users|time-entries)"
    r"(?:/(?P<id>\d+))?(?:/(?P<sub>assignees|deactivate)(?:/(?P<sub_id>\d+))?)?$"
)


def _data_route(
    app: SandboxApp, method: str, path: str, data: dict[str, Any]
) -> tuple[int, object]:
    match = _ROUTE.match(path)
    if match is None:
        raise AdminError(404, "unknown admin endpoint")
    account = _account(app, match["account"])
    kind, sub = match["kind"], match["sub"]
    object_id = int(match["id"]) if match["id"] else None
    sub_id = int(match["sub_id"]) if match["sub_id"] else None
    at = _at(data)
    if kind == "tasks" and object_id is None and sub is None and method == "POST":
        values = _coerce(Task, data, skip=frozenset({"at"}))
        values.setdefault("task_id", account.next_task_id())
        if "project_id" not in values or "task_resume" not in values:
            raise AdminError(400, "project_id and task_resume are required")
        stamp = at or account.clock()
        values.setdefault("date_created", stamp)
        values.setdefault("date_modified", stamp)
        return 201, _task_out(account.add_task(Task(**values)))
    if kind == "tasks" and object_id is not None and sub is None:
        if method == "POST":
            values = _coerce(Task, data, skip=frozenset({"at", "task_id"}))
            return 200, _task_out(account.update_task(object_id, at=at, **values))
        if method == "DELETE":
            account.delete_task(object_id)
            return 200, {"deleted": object_id}
    if kind == "tasks" and object_id is not None and sub == "assignees" and sub_id is not None:
        if method == "PUT":
            flags = _coerce(_AssignmentInput, data, skip=frozenset({"at"}))
            assignment = account.assign(object_id, sub_id, at=at, **flags)
            return 200, {
                "task_id": object_id,
                "user_id": sub_id,
                "is_assignee": assignment.is_assignee,
                "is_reviewer": assignment.is_reviewer,
                "assigned_hours": assignment.assigned_hours,
            }
        if method == "DELETE":
            return 200, {"removed": account.unassign(object_id, sub_id, at=at)}
    if kind == "projects" and object_id is not None and sub is None:
        if method == "POST":
            values = _coerce(Project, data, skip=frozenset({"at", "project_id"}))
            account.update_project(object_id, at=at, **values)
            return 200, {"updated": object_id}
        if method == "DELETE":
            account.delete_project(object_id, at=at)
            return 200, {"deleted": object_id}
    if kind == "users" and object_id is not None and method == "POST":
        if sub == "deactivate":
            account.deactivate_user(object_id, at=at)
            return 200, {"deactivated": object_id}
        if sub is None:
            values = _coerce(User, data, skip=frozenset({"at", "user_id"}))
            account.update_user(object_id, at=at, **values)
            return 200, {"updated": object_id}
    if kind == "time-entries" and object_id is None and method == "POST":
        values = _coerce(TimeEntry, data, skip=frozenset({"at"}))
        required = {"timesheet_line_id", "date_worked", "user_id", "project_id", "task_id"}
        missing = sorted(required - set(values))
        if missing or values.get("date_worked") is None:
            raise AdminError(400, f"missing field(s): {', '.join(missing) or 'date_worked'}")
        values.setdefault("total", 0.0)
        stamp = at or account.clock()
        values.setdefault("date_created", stamp)
        values.setdefault("date_modified", stamp)
        entry = account.add_time_entry(TimeEntry(**values))
        return 201, {"timesheet_line_id": entry.timesheet_line_id}
    raise AdminError(405, f"{method} is not supported on {path}")


async def handle(
    app: SandboxApp, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send
) -> None:
    method = scope["method"]
    path = scope["path"].rstrip("/")
    try:
        raw = await asgi.read_body(receive, app.config.max_request_bytes)
    except (asgi.BodyTooLargeError, asgi.ClientGoneError):
        await asgi.respond(send, 413, _json({"error": "body too large"}))
        return
    status = 200
    try:
        data = _body(raw)
        result: object
        if path == "/_sandbox/health" and method == "GET":
            result = {"status": "ok"}
        elif path == "/_sandbox/faults" and method in ("GET", "POST", "PUT", "DELETE"):
            result = _faults(app, method, data)
        elif path == "/_sandbox/stats" and method == "GET":
            result = app.stats.snapshot()
        elif path == "/_sandbox/reset-stats" and method == "POST":
            app.stats.reset()
            result = app.stats.snapshot()
        elif path == "/_sandbox/requests" and method == "GET":
            result = app.stats.recent()
        elif path == "/_sandbox/sessions/expire" and method == "POST":
            result = _expire(app, data)
        elif path == "/_sandbox/accounts" and method == "GET":
            result = _accounts(app)
        elif (closing := _CLOSED_THROUGH.match(path)) and method == "POST":
            result = _closed_through(app, closing["account"], data)
        else:
            status, result = _data_route(app, method, path, data)
    except AdminError as exc:
        status, result = exc.status, {"error": exc.message}
    except UnknownObjectError as exc:
        status, result = 404, {"error": str(exc.args[0])}
    except (TypeError, ValueError) as exc:
        status, result = 400, {"error": str(exc)}
    await asgi.respond(send, status, _json(result))
