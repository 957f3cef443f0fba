"""The app's only door to AceProject: `AceClient`, one typed method per ACE function acehub
calls, over the transport (`app.ace.transport`: retries, breaker, deadline, decoding, paging;
its docstring holds the reliability rules and the error-mapping table).

Each method says which form fields it sends and what a refusal (`status: fail`) means for it;
the rows come back as the DTOs of `app.ace.dto`. What the services need of it is
`app.ace.port.AceApi`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Mapping, Sequence
from datetime import date, timedelta

import httpx
from redis.asyncio import Redis

from app.ace.breaker import CircuitBreaker
from app.ace.dto import (
    AceLogin,
    AceProject,
    AcePublicSettings,
    AceSavedLine,
    AceTask,
    AceTaskRef,
    AceTaskStatus,
    AceTimeEntry,
    AceUser,
)
from app.ace.errors import AceError
from app.ace.transport import (
    AceClientConfig,
    AceTransport,
    FailAnswer,
    create_breaker,
    one_row,
    parse_rows,
)
from app.config import Settings
from app.errors import ErrorCode

logger = logging.getLogger(__name__)

# The date-filter operator "on or after" (the explorer's `gettasks` page and the Go client).
DATE_OPERATOR_ON_OR_AFTER = 3
SUNDAY = 6  # `date.weekday()`; an ACE week starts on Sunday (`hoursday1`)
DAYS_PER_WEEK = 7


def _hours(value: float) -> str:
    """Hours as ACE takes decimals: finite, at most two decimals."""
    if not math.isfinite(value) or value < 0:
        raise ValueError("hours must be finite and >= 0")
    return f"{value:.2f}"


def _date_windows(start: date, end: date, days: int) -> list[tuple[date, date]]:
    windows = []
    cursor = start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=days - 1))
        windows.append((cursor, last))
        cursor = last + timedelta(days=1)
    return windows


class AceClient:
    """Typed calls to one AceProject endpoint (retrying, size- and time-bounded: the
    transport's rules)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: AceClientConfig,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.transport = AceTransport(http, config, breaker=breaker)

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.AsyncClient, *, redis: Redis | None = None
    ) -> AceClient:
        return cls(
            http,
            AceClientConfig.from_settings(settings),
            breaker=create_breaker(settings, redis),
        )

    # ------------------------------------------------------------------------------------
    # Session
    # ------------------------------------------------------------------------------------

    async def login(self, account_id: str, username: str, password: str) -> AceLogin:
        """`login`. A refusal raises INVALID_CREDENTIALS: ACE publishes no error numbers,
        so none of them decides anything here."""
        params = {"accountid": account_id, "username": username, "password": password}
        try:
            rows = await self.transport.post("login", params)
        except FailAnswer as fail:
            raise fail.as_error(
                "ACE refused the username or password", ErrorCode.INVALID_CREDENTIALS
            ) from None
        return one_row(AceLogin, rows, "login")

    async def get_login_info(self, guid: str) -> AceLogin:
        """`getlogininfo`: the session's login row; a refused GUID is ACE_SESSION_EXPIRED."""
        return await self.transport.login_info(guid)

    async def get_public_settings(self, account_id: str) -> AcePublicSettings:
        """`getpublicsettings`; an unknown account is INVALID_ACCOUNT_ID."""
        try:
            rows = await self.transport.post("getpublicsettings", {"accountid": account_id})
        except FailAnswer as fail:
            raise fail.as_error(
                "This ACE account does not exist", ErrorCode.INVALID_ACCOUNT_ID
            ) from None
        return one_row(AcePublicSettings, rows, "getpublicsettings")

    async def logout(self, guid: str) -> None:
        """`logout`, best-effort: never retried, never raises (ACE may not implement it)."""
        try:
            await self.transport.post("logout", {"guid": guid}, max_retries=0)
        except (FailAnswer, AceError) as exc:
            reason = exc.code.value if isinstance(exc, AceError) else "refused"
            logger.info("ACE logout not confirmed", extra={"fct": "logout", "reason": reason})

    # ------------------------------------------------------------------------------------
    # Lists
    # ------------------------------------------------------------------------------------

    async def get_users(
        self,
        guid: str,
        *,
        username: str | None = None,
        user_id: int | None = None,
        active: bool | None = None,
    ) -> list[AceUser]:
        """`getusers`, paged until complete."""
        params = {
            "filterusername": username,
            "filteruserid": user_id,
            "filteractive": active,
            "sortorder": "USER_ID",
        }
        pages = self.transport.iter_pages("getusers", guid, params, AceUser, _user_key)
        return [user async for page in pages for user in page]

    async def get_projects(
        self,
        guid: str,
        *,
        modified_since: date | None = None,
        include_completed: bool = True,
    ) -> list[AceProject]:
        """`getprojects`, paged; `modified_since` filters `DATE_MODIFIED` on or after that day."""
        params: dict[str, object] = {
            "filtercompletedproject": None if include_completed else False,
            "sortorder": "PROJECT_ID",
        }
        if modified_since is not None:
            params |= {
                "filterfirstdate": "DATE_MODIFIED",
                "filterfirstdateoperator": DATE_OPERATOR_ON_OR_AFTER,
                "filterfirstdatevalue": modified_since,
            }
        pages = self.transport.iter_pages("getprojects", guid, params, AceProject, _project_key)
        return [project async for page in pages for project in page]

    def iter_task_pages(
        self,
        guid: str,
        *,
        assigned_user_id: int | None = None,
        project_id: int | None = None,
        modified_since: date | None = None,
    ) -> AsyncIterator[list[AceTask]]:
        """`gettasks` page by page (`rowsperpage` = page size), each task yielded once.

        `modified_since` filters `DATE_TASK_MODIFIED` on or after that day (operator 3);
        pass the last successful sync date minus a day.
        """
        params = _task_filters(
            assigned_user_id=assigned_user_id,
            project_id=project_id,
            modified_since=modified_since,
        )
        return self.transport.iter_pages("gettasks", guid, params, AceTask, _task_key)

    async def get_task_ids(
        self,
        guid: str,
        *,
        assigned_user_id: int | None = None,
        reviewer_user_id: int | None = None,
        modified_since: date | None = None,
    ) -> set[int]:
        """The ids of the tasks `gettasks` lists with these filters, all pages: the tasks a
        user is assignee (`filterassigneduserid`) or reviewer (`filterrevieweruserid`) of,
        which is how ACE tells who works on what (docs/ace-api.md, "Assignees")."""
        params = _task_filters(
            assigned_user_id=assigned_user_id,
            reviewer_user_id=reviewer_user_id,
            modified_since=modified_since,
        )
        # Not `forcombo`: no source shows the pick-list form keeps the user filters.
        pages = self.transport.iter_pages("gettasks", guid, params, AceTaskRef, _task_key)
        return {task.task_id async for page in pages for task in page}

    async def get_task_statuses(self, guid: str, *, project_id: int) -> list[AceTaskStatus]:
        """`gettaskstatuses` of one project: statuses belong to projects."""
        rows = await self.transport.guid_call("gettaskstatuses", guid, {"projectid": project_id})
        return parse_rows(AceTaskStatus, rows, "gettaskstatuses")

    async def iter_time_report(
        self,
        guid: str,
        *,
        date_from: date,
        date_to: date,
        user_id: int | None = None,
        project_id: int | None = None,
        modified_since: date | None = None,
        in_flight: int = 1,
    ) -> AsyncGenerator[list[AceTimeEntry], None]:
        """`gettimereport` (view 1, everyone's entries) one date window (≤31 days) at a time,
        in date order; `modified_since` keeps only entries modified on or after that day
        (`filtermodifiedfrom`). Up to `in_flight` windows are asked for at once, also while
        the caller works on the one yielded last.

        Each `(timesheet_line_id, date_worked)` is yielded once.
        """
        if date_from > date_to:
            raise ValueError("date_from must not be after date_to")
        filters = {
            "view": 1,
            "filtermyworkitems": False,
            "filtertimecreatoruserid": user_id,
            "projectid": project_id,
            "filtermodifiedfrom": modified_since,
        }
        windows = iter(_date_windows(date_from, date_to, self.transport.config.time_window_days))
        pending: deque[asyncio.Task[list[AceTimeEntry]]] = deque()

        def ask_next() -> None:
            window = next(windows, None)
            if window is not None:
                params = {**filters, "filterdatefrom": window[0], "filterdateto": window[1]}
                pending.append(asyncio.ensure_future(self._time_window(guid, params)))

        for _ in range(max(1, in_flight)):
            ask_next()
        seen: set[tuple[int, date]] = set()
        try:
            while pending:
                entries = await pending.popleft()
                ask_next()
                fresh = []
                for entry in entries:
                    if entry.key not in seen:
                        seen.add(entry.key)
                        fresh.append(entry)
                if fresh:
                    yield fresh
        finally:
            for task in pending:
                task.cancel()

    async def _time_window(self, guid: str, params: Mapping[str, object]) -> list[AceTimeEntry]:
        rows = await self.transport.guid_call("gettimereport", guid, params)
        return parse_rows(AceTimeEntry, rows, "gettimereport")

    # ------------------------------------------------------------------------------------
    # Writes
    # ------------------------------------------------------------------------------------
    #
    # ACE's write functions are not idempotent, so a write is sent once: never retried,
    # not even after a transport error or a timeout (it may have happened). The caller
    # re-reads (`get_time_line`, `iter_task_pages`) before it tries again. Writes ask for
    # `format=JSON` (`AceTransport.write`).

    async def save_work_item(
        self,
        guid: str,
        *,
        week_start: date,
        hours: Sequence[float],
        task_id: int,
        project_id: int | None = None,
        comments: str | None = None,
        timesheet_line_id: int | None = None,
        user_id: int | None = None,
        time_type_id: int | None = None,
    ) -> int:
        """`saveworkitem`: create (or, with `timesheet_line_id`, replace) a weekly time line
        of seven days, Sunday first; `user_id` acts for another user (needs the right).
        Returns the line's `TIMESHEET_LINE_ID`."""
        if week_start.weekday() != SUNDAY:
            raise ValueError("week_start must be a Sunday")
        if len(hours) != DAYS_PER_WEEK:
            raise ValueError("hours needs one value per day of the week")
        params: dict[str, object] = {
            "weekstart": week_start,
            "taskid": task_id,
            "projectid": project_id,
            "comments": comments,
            "timesheetlineid": timesheet_line_id,
            "userid": user_id,
            "timetypeid": time_type_id,
        }
        params |= {f"hoursday{day}": _hours(value) for day, value in enumerate(hours, start=1)}
        rows = await self.transport.write("saveworkitem", guid, params)
        return one_row(AceSavedLine, rows, "saveworkitem").timesheet_line_id

    async def delete_work_item(self, guid: str, *, timesheet_line_id: int) -> None:
        """`deleteworkitem`: the whole weekly line."""
        await self.transport.write("deleteworkitem", guid, {"timesheetlineid": timesheet_line_id})

    async def save_task(
        self,
        guid: str,
        *,
        task_id: int,
        project_id: int | None = None,
        status_id: int | None = None,
        percent_done: float | None = None,
        comment: str | None = None,
    ) -> None:
        """`savetask`: a task's status, percent done (0-100 here; ACE takes tenths, 0-10)
        and a comment added to its history."""
        if percent_done is not None and not 0 <= percent_done <= 100:
            raise ValueError("percent_done must be within 0..100")
        params: dict[str, object] = {
            "taskid": task_id,
            "projectid": project_id,
            "statusid": status_id,
            "percentdone": None if percent_done is None else round(percent_done / 10),
            "addcomments": comment,
        }
        await self.transport.write("savetask", guid, params)

    async def assign_user_task(
        self,
        guid: str,
        *,
        task_id: int,
        user_id: int,
        is_assignee: bool,
        is_reviewer: bool = False,
        assigned_hours: float | None = None,
        notify: bool = False,
    ) -> None:
        """`assignusertask`: (un)assign a user as assignee and/or reviewer of a task."""
        params: dict[str, object] = {
            "taskid": task_id,
            "userid": user_id,
            "isassignee": is_assignee,
            "isreviewer": is_reviewer,
            "assignedhours": None if assigned_hours is None else _hours(assigned_hours),
            "notify": notify,
        }
        await self.transport.write("assignusertask", guid, params)

    async def get_time_line(
        self, guid: str, *, timesheet_line_id: int, week_start: date
    ) -> list[AceTimeEntry]:
        """The days of one weekly line as `gettimereport` lists them (a read-back after a
        write, or before trying a write again)."""
        params = {
            "view": 1,
            "filtermyworkitems": False,
            "timesheetlineid": timesheet_line_id,
            "filterdatefrom": week_start,
            "filterdateto": week_start + timedelta(days=DAYS_PER_WEEK - 1),
        }
        rows = await self.transport.guid_call("gettimereport", guid, params)
        entries = parse_rows(AceTimeEntry, rows, "gettimereport")
        return [e for e in entries if e.timesheet_line_id == timesheet_line_id]


def _user_key(user: AceUser) -> Hashable:
    return user.user_id


def _project_key(project: AceProject) -> Hashable:
    return project.project_id


def _task_key(task: AceTask | AceTaskRef) -> Hashable:
    return task.task_id


def _task_filters(
    *,
    assigned_user_id: int | None = None,
    reviewer_user_id: int | None = None,
    project_id: int | None = None,
    modified_since: date | None = None,
) -> dict[str, object]:
    params: dict[str, object] = {
        "filterassigneduserid": assigned_user_id,
        "filterrevieweruserid": reviewer_user_id,
        "projectid": project_id,
        "sortorder": "TASK_ID",
    }
    if modified_since is not None:
        params |= {
            "filterfirstdate": "DATE_TASK_MODIFIED",
            "filterfirstdateoperator": DATE_OPERATOR_ON_OR_AFTER,
            "filterfirstdatevalue": modified_since,
        }
    return params
