"""The AceProject read functions the sandbox answers (``fct`` values), one handler each, and
the dispatch table (the write functions are in ``writes.py``).

Invented behaviour where the public sources are silent:

- ``login`` accepts the username or the e-mail address (case-insensitive); the password is
  compared verbatim (only an empty one counts as missing) and checked before the access
  status, so a wrong password never reveals an inactive user.
- A missing ``guid`` fails with 1001; an unknown, expired or logged-out one with 2001, as
  does a GUID whose user was deactivated since login.
- ``logout`` answers ``ok`` with no rows.
- ``getpublicsettings`` returns ``ACCOUNT_ID``, ``CUSTOM_PRODUCT_NAME``, ``COMPANY_NAME``,
  ``DEFAULT_LANGUAGE``, ``SSO_ENABLED``.
- Visibility: administrators (ACCESS_LEVEL 2) see everything; normal users see only the
  projects they are members of, the tasks of those projects, their status lists, and, in
  ``gettimereport`` with ``filtermyworkitems=false``, the time of those projects. Every user
  of the account is visible to everyone in ``getusers``, unless the
  ``getusers_admin_only`` setting refuses the list to normal users (4004), as some accounts
  do.
- Deleted projects are listed only with ``deletedprojects=true`` (which lists only them);
  their tasks are hidden everywhere. ``getprojectinfo`` of a deleted, invisible or unknown
  project fails with 3003.
- Id filters (``filtertaskstatusid``, ``filterprojectstatusid`` and the like) accept a
  comma-separated list. ``texttosearch`` is a case-insensitive substring match on the
  name/title fields. ``filterusername`` matches the whole username, case-insensitively.
- ``gettasks`` with ``forcombo=true`` ignores ``filterassigneduserid`` and
  ``filterrevieweruserid`` while the ``forcombo_ignores_user_filters`` setting is on (the
  default): no source shows the pick-list honouring them. ``filtertaskcompleted`` means "the
  status's COMPLETED_STATUS is 1". The ``task_rows_without_status_id`` setting leaves
  ``TASK_STATUS_ID`` off task rows (a client must then match statuses by name).
- ``gettaskstatuses`` needs ``projectid`` (1001 without it; 3003 for an unknown, deleted or
  invisible project) and answers that project's list in SORT_ORDER.
- ``getassigneduserlist`` answers the users who may be assigned: the members of the project
  (of ``projectid``, or of the task given by ``taskid``; both given and not matching: no
  rows), ordered by USER_ID; ``includeinactivesusers`` (default true) false drops users with
  ACCESS_STATUS 3. It says nothing about who is assigned.
- ``gettimereport``: only ``view=1``; ``filtermyworkitems`` defaults to true (the caller's
  own rows); all date filters are inclusive days; rows ordered by DATE_WORKED then
  TIMESHEET_LINE_ID; no paging (and no page cap).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from ace_sandbox import render
from ace_sandbox.calls import (
    Call,
    Caller,
    ids,
    may_use_project,
    visible_projects,
)
from ace_sandbox.listing import (
    Paging,
    filter_key,
    order,
    page_of,
    parse_paging,
    parse_sortorder,
    sort_key,
    with_total,
)
from ace_sandbox.models import (
    ACCESS_ALLOWED,
    Project,
    Task,
    TimeEntry,
    User,
)
from ace_sandbox.params import (
    ERR_ACCOUNT,
    ERR_CREDENTIALS,
    ERR_FUNCTION,
    ERR_GUID,
    ERR_INACTIVE,
    ERR_INVALID,
    ERR_MISSING,
    ERR_NO_RIGHT,
    ERR_NOT_FOUND,
    AceFailure,
    Params,
)
from ace_sandbox.store import Account, day_matches
from ace_sandbox.writes import WRITE_FUNCTIONS

Row = dict[str, Any]


def authenticate(call: Call) -> Caller:
    guid = call.params.required_text("guid").strip()
    settings = call.settings
    sessions = call.store.sessions
    session = sessions.valid(
        guid, call.now, settings.guid_idle_seconds, settings.guid_max_age_seconds
    )
    if session is None:
        raise AceFailure(ERR_GUID, "invalid or expired GUID")
    account = call.store.account(session.account_id)
    user = account.users.get(session.user_id) if account is not None else None
    if account is None or user is None or user.access_status != ACCESS_ALLOWED:
        sessions.drop(session.guid)
        raise AceFailure(ERR_GUID, "invalid or expired GUID")
    return Caller(account, user, session)


# --- authentication ---------------------------------------------------------------------


def fn_login(call: Call) -> list[Row]:
    params = call.params
    account_id = params.required_text("accountid").strip()
    login = params.required_text("username").strip()
    password = params.raw.get("password", "")
    if not password:
        raise AceFailure(ERR_MISSING, "required parameter missing: password")
    account = call.store.account(account_id)
    if account is None:
        raise AceFailure(ERR_ACCOUNT, "invalid account")
    with account.lock:
        user = account.find_login(login)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            raise AceFailure(ERR_CREDENTIALS, "invalid username or password")
        if user.access_status != ACCESS_ALLOWED:
            raise AceFailure(ERR_INACTIVE, "user is not active")
        sessions = call.store.sessions
        if sessions.created_since_purge >= 1000:
            settings = call.settings
            sessions.purge(call.now, settings.guid_idle_seconds, settings.guid_max_age_seconds)
        session = sessions.create(account.account_id, user.user_id, call.now)
        return [render.login_row(account, user, session)]


def fn_getlogininfo(call: Call) -> list[Row]:
    me = call.me
    return [render.login_row(me.account, me.user, me.session)]


def fn_logout(call: Call) -> list[Row]:
    call.store.sessions.drop(call.me.session.guid)
    call.caller = None
    return []


def fn_getpublicsettings(call: Call) -> list[Row]:
    account = call.store.account(call.params.required_text("accountid").strip())
    if account is None:
        raise AceFailure(ERR_ACCOUNT, "invalid account")
    return [render.public_settings_row(account)]


# --- helpers ------------------------------------------------------------------------------


def _search(params: Params) -> str | None:
    text = params.text("texttosearch")
    return text.strip().casefold() if text is not None else None


def _field_names(row: Row) -> frozenset[str]:
    return frozenset(row)


_DUMMY = Account("fields")
TASK_FIELDS = _field_names(render.task_row(_DUMMY, Task(0, 0, ""), None))
PROJECT_FIELDS = _field_names(render.project_row(_DUMMY, Project(0, ""), None))
USER_FIELDS = _field_names(render.user_row(_DUMMY, User(0, "", "", "", "", ""), None))
ASSIGNABLE_FIELDS = _field_names(render.assignable_user_row(User(0, "", "", "", "", "")))


def _listing(
    call: Call,
    name: str,
    compute: Callable[[], list[int]],
) -> list[int]:
    me = call.me
    key = (
        name,
        me.account.account_id,
        me.account.version,
        me.user.user_id,
        me.user.is_admin,
        call.settings,
        filter_key(call.params),
    )
    return call.cache.get_or_compute(key, compute)


def _paging(call: Call) -> Paging | None:
    settings = call.settings
    return parse_paging(call.params, settings.default_rows_per_page, settings.max_rows_per_page)


# --- users ---------------------------------------------------------------------------------


def fn_getusers(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    if call.settings.getusers_admin_only and not me.user.is_admin:
        raise AceFailure(ERR_NO_RIGHT, "no right: the user list is for administrators only")
    user_ids = ids(params, "filteruserid")
    username = params.text("filterusername")
    active = params.boolean("filteractive")
    statuses = ids(params, "filteraccessstatus")
    levels = ids(params, "filteraccesslevel")
    groups = ids(params, "filterusergroupid")
    in_project = params.integer("filterassignedprojectid")
    search = _search(params)
    combo = params.boolean("forcombo", False)
    paging = _paging(call)
    sort = parse_sortorder(params.text("sortorder"), USER_FIELDS)
    nd = call.settings.null_date
    wanted_name = username.strip().lower() if username is not None else None

    def compute() -> list[int]:
        members = account.project_members.get(in_project, set()) if in_project else None
        found = [
            user
            for user in account.users.values()
            if (user_ids is None or user.user_id in user_ids)
            and (wanted_name is None or user.username.lower() == wanted_name)
            and (active is None or user.active == active)
            and (statuses is None or user.access_status in statuses)
            and (levels is None or user.access_level in levels)
            and (groups is None or user.user_group_id in groups)
            and (members is None or user.user_id in members)
            and (
                search is None
                or search in f"{user.username} {user.first_name} {user.last_name}".casefold()
            )
        ]
        ordered = order(found, _user_id, sort, lambda u: render.user_row(account, u, nd))
        return [u.user_id for u in ordered]

    found_ids = _listing(call, "getusers", compute)
    chosen = [account.users[i] for i in page_of(found_ids, paging)]
    if combo:
        rows = [render.user_combo_row(u) for u in chosen]
    else:
        rows = [render.user_row(account, u, nd) for u in chosen]
    return with_total(rows, paging, len(found_ids))


def _user_id(user: User) -> int:
    return user.user_id


# --- projects ------------------------------------------------------------------------------

_PROJECT_DATES = frozenset({"DATE_CREATED", "DATE_MODIFIED"})


def _project_date(project: Project, field: str) -> date:
    return (project.date_created if field == "DATE_CREATED" else project.date_modified).date()


def fn_getprojects(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    project_id = params.integer("projectid")
    completed = params.boolean("filtercompletedproject")
    statuses = ids(params, "filterprojectstatusid")
    types = ids(params, "filterprojecttypeid")
    priorities = ids(params, "filterprojectpriorityid")
    clients = ids(params, "filterclientid")
    creators = ids(params, "filtercreatoruserid")
    member = params.integer("filterassigneduserid")
    assigned_only = bool(params.boolean("assignedonly", False))
    deleted = bool(params.boolean("deletedprojects", False))
    dates = params.date_filters(_PROJECT_DATES)
    search = _search(params)
    combo = params.boolean("forcombo", False)
    paging = _paging(call)
    sort = parse_sortorder(params.text("sortorder"), PROJECT_FIELDS)
    nd = call.settings.null_date
    statuses_table = account.lookups.project_statuses

    def compute() -> list[int]:
        visible = visible_projects(me, assigned_only)
        members = account.projects_by_member.get(member, set()) if member is not None else None
        found: list[Project] = []
        for project in account.projects.values():
            status = statuses_table.get(project.project_status_id)
            is_completed = bool(status and status.completed)
            if (
                project.deleted == deleted
                and (visible is None or project.project_id in visible)
                and (project_id is None or project.project_id == project_id)
                and (completed is None or is_completed == completed)
                and (statuses is None or project.project_status_id in statuses)
                and (types is None or project.project_type_id in types)
                and (priorities is None or project.project_priority_id in priorities)
                and (clients is None or project.client_id in clients)
                and (creators is None or project.creator_user_id in creators)
                and (members is None or project.project_id in members)
                and (search is None or search in project.project_name.casefold())
                and all(day_matches(_project_date(project, f), op, v) for f, op, v in dates)
            ):
                found.append(project)
        ordered = order(found, _project_id, sort, lambda p: render.project_row(account, p, nd))
        return [p.project_id for p in ordered]

    found_ids = _listing(call, "getprojects", compute)
    chosen = [account.projects[i] for i in page_of(found_ids, paging)]
    if combo:
        rows = [render.project_combo_row(p) for p in chosen]
    else:
        rows = [render.project_row(account, p, nd) for p in chosen]
    return with_total(rows, paging, len(found_ids))


def _project_id(project: Project) -> int:
    return project.project_id


def fn_getprojectinfo(call: Call) -> list[Row]:
    me = call.me
    project_id = call.params.integer("projectid")
    if project_id is None:
        raise AceFailure(ERR_MISSING, "required parameter missing: projectid")
    project = me.account.projects.get(project_id)
    visible = visible_projects(me)
    if project is None or project.deleted or (visible is not None and project_id not in visible):
        raise AceFailure(ERR_NOT_FOUND, f"project {project_id} not found")
    return [render.project_row(me.account, project, call.settings.null_date)]


# --- tasks ---------------------------------------------------------------------------------

_TASK_DATES = frozenset({"DATE_TASK_MODIFIED", "DATE_TASK_CREATED"})


def fn_gettasks(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    task_id = params.integer("taskid")
    project_id = params.integer("projectid")
    combo = bool(params.boolean("forcombo", False))
    assignee, reviewer = _user_filters(call, combo)
    creators = ids(params, "filtercreatoruserid")
    statuses = ids(params, "filtertaskstatusid")
    completed = params.boolean("filtertaskcompleted")
    types = ids(params, "filtertasktypeid")
    priorities = ids(params, "filtertaskpriorityid")
    groups = ids(params, "filtertaskgroupid")
    assigned_only = bool(params.boolean("assignedprojectsonly", False))
    dates = params.date_filters(_TASK_DATES)
    search = _search(params)
    paging = _paging(call)
    sort = parse_sortorder(params.text("sortorder"), TASK_FIELDS)
    nd = call.settings.null_date
    with_status_id = not call.settings.task_rows_without_status_id

    def compute() -> list[int]:
        candidates: list[set[int]] = []
        if task_id is not None:
            candidates.append({task_id} if task_id in account.tasks else set())
        if project_id is not None:
            candidates.append(account.tasks_by_project.get(project_id, set()))
        if assignee is not None:
            candidates.append(account.tasks_by_assignee.get(assignee, set()))
        if reviewer is not None:
            candidates.append(account.tasks_by_reviewer.get(reviewer, set()))
        for field, op, value in dates:
            index = (
                account.task_modified_index
                if field == "DATE_TASK_MODIFIED"
                else account.task_created_index
            )
            candidates.append(index.select(op, value))
        if candidates:
            candidates.sort(key=len)
            chosen: Iterable[int] = set(candidates[0]).intersection(*candidates[1:])
        else:
            chosen = account.tasks.keys()
        visible = visible_projects(me, assigned_only)
        projects = account.projects
        found: list[Task] = []
        for tid in chosen:
            task = account.tasks[tid]
            project = projects.get(task.project_id)
            if project is None or project.deleted:
                continue
            if visible is not None and task.project_id not in visible:
                continue
            if statuses is not None and task.task_status_id not in statuses:
                continue
            if completed is not None:
                status = account.status_of(task)
                if bool(status and status.completed) != completed:
                    continue
            if (
                (creators is None or task.creator_user_id in creators)
                and (types is None or task.task_type_id in types)
                and (priorities is None or task.task_priority_id in priorities)
                and (groups is None or task.task_group_id in groups)
                and (search is None or search in task.task_resume.casefold())
            ):
                found.append(task)
        if not sort:
            return sorted(t.task_id for t in found)
        ordered = order(found, _task_id, sort, lambda t: render.task_row(account, t, nd))
        return [t.task_id for t in ordered]

    found_ids = _listing(call, "gettasks", compute)
    chosen_tasks = [account.tasks[i] for i in page_of(found_ids, paging)]
    if combo:
        rows = [render.task_combo_row(t) for t in chosen_tasks]
    else:
        rows = [render.task_row(account, t, nd, with_status_id) for t in chosen_tasks]
    return with_total(rows, paging, len(found_ids))


def _user_filters(call: Call, combo: bool) -> tuple[int | None, int | None]:
    """``filterassigneduserid`` / ``filterrevieweruserid``, dropped for a pick-list."""
    assignee = call.params.integer("filterassigneduserid")
    reviewer = call.params.integer("filterrevieweruserid")
    if combo and call.settings.forcombo_ignores_user_filters:
        return None, None
    return assignee, reviewer


def _task_id(task: Task) -> int:
    return task.task_id


def fn_getassigneduserlist(call: Call) -> list[Row]:
    me, params = call.me, call.params
    task_id = params.integer("taskid")
    project_id = params.integer("projectid")
    if task_id is None and project_id is None:
        raise AceFailure(ERR_MISSING, "required parameter missing: taskid or projectid")
    include_inactive = params.boolean("includeinactivesusers", True)
    sort = parse_sortorder(params.text("sortorder"), ASSIGNABLE_FIELDS)
    project = _assignable_project(me, task_id, project_id)
    if project is None:
        return []
    users = me.account.users
    rows = [
        render.assignable_user_row(users[user_id])
        for user_id in sorted(me.account.project_members.get(project.project_id, ()))
        if user_id in users and (include_inactive or users[user_id].active)
    ]
    for field, descending in reversed(sort):
        rows.sort(key=sort_key(field), reverse=descending)
    return rows


def _assignable_project(me: Caller, task_id: int | None, project_id: int | None) -> Project | None:
    """The visible, live project whose members a ``getassigneduserlist`` call lists."""
    account = me.account
    if task_id is not None:
        task = account.tasks.get(task_id)
        if task is None or (project_id is not None and task.project_id != project_id):
            return None
        project_id = task.project_id
    project = account.projects.get(project_id) if project_id is not None else None
    if project is None or project.deleted or not may_use_project(me, project.project_id):
        return None
    return project


def fn_gettaskstatuses(call: Call) -> list[Row]:
    me = call.me
    project_id = call.params.integer("projectid")
    if project_id is None:
        raise AceFailure(ERR_MISSING, "required parameter missing: projectid")
    project = me.account.projects.get(project_id)
    if project is None or project.deleted or not may_use_project(me, project_id):
        raise AceFailure(ERR_NOT_FOUND, f"project {project_id} not found")
    return [render.task_status_row(s) for s in me.account.task_status_list(project_id)]


# --- time ----------------------------------------------------------------------------------


def fn_gettimereport(call: Call) -> list[Row]:
    me, params = call.me, call.params
    account = me.account
    view = params.integer("view")
    if view is not None and view != 1:
        raise AceFailure(ERR_INVALID, f"view {view} is not supported by the sandbox (only 1)")
    mine = params.boolean("filtermyworkitems", True)
    creators = ids(params, "filtertimecreatoruserid")
    projects = ids(params, "projectid")
    tasks = ids(params, "filtertaskid")
    lines = ids(params, "timesheetlineid")
    first = params.day("filterdatefrom")
    last = params.day("filterdateto")
    modified_from = params.day("filtermodifiedfrom")
    modified_to = params.day("filtermodifiedto")
    visible = None if mine else visible_projects(me)
    nd = call.settings.null_date
    user_id = me.user.user_id

    source: Iterable[TimeEntry]
    if mine:
        source = account.time_by_user.get(user_id, [])
    elif creators is not None and first is None and last is None:
        source = [e for c in creators for e in account.time_by_user.get(c, [])]
    else:
        source = account.time_entries_between(first, last)
    found: list[TimeEntry] = []
    for entry in source:
        day = entry.date_worked.date()
        if (
            (first is None or day >= first)
            and (last is None or day <= last)
            and (creators is None or entry.user_id in creators)
            and (projects is None or entry.project_id in projects)
            and (tasks is None or entry.task_id in tasks)
            and (lines is None or entry.timesheet_line_id in lines)
            and (visible is None or entry.project_id in visible)
            and (modified_from is None or entry.date_modified.date() >= modified_from)
            and (modified_to is None or entry.date_modified.date() <= modified_to)
        ):
            found.append(entry)
    found.sort(key=lambda e: (e.date_worked, e.timesheet_line_id))
    return [render.time_row(account, e, nd) for e in found]


# --- dispatch ------------------------------------------------------------------------------

Handler = Callable[[Call], list[Row]]

#: fct → (needs a GUID, handler)
FUNCTIONS: dict[str, tuple[bool, Handler]] = {
    "login": (False, fn_login),
    "getpublicsettings": (False, fn_getpublicsettings),
    "getlogininfo": (True, fn_getlogininfo),
    "logout": (True, fn_logout),
    "getusers": (True, fn_getusers),
    "getprojects": (True, fn_getprojects),
    "getprojectinfo": (True, fn_getprojectinfo),
    "gettasks": (True, fn_gettasks),
    "getassigneduserlist": (True, fn_getassigneduserlist),
    "gettaskstatuses": (True, fn_gettaskstatuses),
    "gettimereport": (True, fn_gettimereport),
    **WRITE_FUNCTIONS,
}


def dispatch(call: Call, fct: str | None) -> list[Row]:
    """Run one function; raises ``AceFailure`` for every ``fail`` answer."""
    if fct is None:
        raise AceFailure(ERR_MISSING, "required parameter missing: fct")
    entry = FUNCTIONS.get(fct)
    if entry is None:
        raise AceFailure(ERR_FUNCTION, f"unknown function: {fct}")
    needs_guid, handler = entry
    if not needs_guid:
        return handler(call)
    caller = call.caller = authenticate(call)
    with caller.account.lock:
        rows = handler(call)
    if call.caller is not None:
        call.store.sessions.touch(caller.session, call.now)
    return rows
