"""The app's only door to AceProject: an async client over one shared `httpx.AsyncClient`.

Protocol (docs/ace-api.md): every call is a POST `application/x-www-form-urlencoded` to
`ACE_API_URL` with `fct=<function>` and `format=iso8601`; the answer is
`{"status": "ok"|"fail", "results": [...]}`. Passwords and GUIDs travel only in the form body;
they never appear in a URL, a log line or an exception message.

Reliability, per logical call (one `fct`):

* an overall deadline (`AceClientConfig.deadline_seconds`) bounds the whole call, retries and
  back-off included; a body that drips in slower than that ends as `ACE_TIMEOUT`;
* transport errors, timeouts and HTTP 5xx are retried up to `max_retries` times with
  exponential back-off and full jitter (each sleep capped at `retry_max_sleep_seconds`);
* throttling (429, or 503 with `Retry-After`) is retried only when `Retry-After` is at most
  `retry_after_cap_seconds` and fits the deadline; otherwise it raises `ACE_UNAVAILABLE`
  carrying ACE's `Retry-After`;
* `status: fail` is never retried, except once on a GUID call: the client then asks
  `getlogininfo` whether the GUID is still valid; if not, `ACE_SESSION_EXPIRED` (the caller
  signs in again); if it is, the original call is repeated once;
* a circuit breaker (`breaker.py`) fails fast while ACE is down.

Error mapping (`ErrorCode`, see the README's error table):

| what happened | ErrorCode |
|---|---|
| `login` answered `fail` | INVALID_CREDENTIALS |
| ... and `getpublicsettings` also fails for that account | INVALID_ACCOUNT_ID |
| ... with sandbox ERRORNUMBER 1004, or the user row says inactive/denied | ACCOUNT_INACTIVE |
| connection refused, DNS failure, connect timeout, reset, persistent 5xx | ACE_UNAVAILABLE |
| breaker open; 429 / 503 + `Retry-After` beyond the cap (`Retry-After` kept) | ACE_UNAVAILABLE |
| read timeout on the last attempt, overall deadline exceeded | ACE_TIMEOUT |
| HTML, XML, invalid or truncated JSON, wrong envelope, missing or mistyped fields, | |
| no row where one is required, body over `max_response_bytes`, any 3xx (not followed), | |
| 4xx other than 429 (e.g. ACE's 403 HTML User-Agent block) | ACE_BAD_RESPONSE |
| a GUID call fails and `getlogininfo` fails too | ACE_SESSION_EXPIRED |
| a GUID call fails although the GUID is valid (ACE refused the request) | ACE_BAD_RESPONSE |

Choices: a persistent 5xx is `ACE_UNAVAILABLE` (ACE is failing; the design's 503 row), not
502. A non-429 4xx is `ACE_BAD_RESPONSE`: ACE answered, just not with anything usable, and
retrying later will not help (the 2020 User-Agent block looked like this).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, TypeVar

import httpx
import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from app.ace.breaker import CircuitBreaker, InProcessBreaker, RedisBreaker
from app.ace.dto import (
    ACCESS_LEVEL_ADMIN,
    AceIdentity,
    AceLogin,
    AceProject,
    AcePublicSettings,
    AceRow,
    AceSavedLine,
    AceTask,
    AceTaskRef,
    AceTaskStatus,
    AceTimeEntry,
    AceUser,
)
from app.ace.errors import (
    AceAccountInactiveError,
    AceBadResponseError,
    AceCallError,
    AceCircuitOpenError,
    AceLoginRefusedError,
    AceRequestRefusedError,
    AceSessionExpiredError,
    AceThrottledError,
    AceTimeoutError,
    AceUnavailableError,
    AceUnknownAccountError,
    AceWriteRefusedError,
)
from app.config import Settings

logger = logging.getLogger(__name__)

RowT = TypeVar("RowT", bound=AceRow)
Sleep = Callable[[float], Awaitable[None]]


def _package_version() -> str:
    try:
        return version("acehub")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"acehub/{_package_version()} (+AceProject sync)"

# The date-filter operator "on or after" (the explorer's `gettasks` page and the Go client).
DATE_OPERATOR_ON_OR_AFTER = 3
_JSON_BOM = b"\xef\xbb\xbf"
SUNDAY = 6  # `date.weekday()`; an ACE week starts on Sunday (`hoursday1`)
DAYS_PER_WEEK = 7


@dataclass(frozen=True, slots=True)
class AceClientConfig:
    """Every knob of the client; `from_settings` reads them from the app settings."""

    api_url: str
    max_retries: int = 2
    retry_base_seconds: float = 0.25
    retry_max_sleep_seconds: float = 5.0
    retry_after_cap_seconds: float = 5.0
    default_retry_after_seconds: int = 5
    deadline_seconds: float = 35.0
    max_response_bytes: int = 50 * 1024 * 1024
    page_size: int = 500
    time_window_days: int = 31
    response_format: Literal["iso8601", "json"] = "iso8601"

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError("ACE_API_URL must be an http(s) URL")
        if self.page_size < 1 or self.time_window_days < 1:
            raise ValueError("page_size and time_window_days must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> AceClientConfig:
        # One call may take one full read timeout plus a connection attempt; retries must
        # fit in what is left, so a dead ACE cannot hold a request for minutes.
        return cls(
            api_url=settings.ace_api_url,
            max_retries=settings.ace_max_retries,
            retry_base_seconds=settings.ace_retry_base_seconds,
            deadline_seconds=settings.ace_timeout_seconds + settings.ace_connect_timeout_seconds,
            max_response_bytes=settings.ace_max_response_bytes,
            page_size=settings.ace_page_size,
        )


def create_http_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one `httpx.AsyncClient` the app shares for ACE (created and closed by the lifespan)."""
    timeout = httpx.Timeout(
        settings.ace_timeout_seconds,
        connect=settings.ace_connect_timeout_seconds,
        pool=settings.ace_connect_timeout_seconds,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
    )


def create_breaker(settings: Settings, redis: Redis | None = None) -> CircuitBreaker:
    """Redis-backed when the app has a Redis client (`REDIS_URL`), otherwise in-process."""
    if redis is not None:
        return RedisBreaker(
            redis,
            failure_threshold=settings.ace_breaker_failures,
            reset_seconds=settings.ace_breaker_reset_seconds,
        )
    return InProcessBreaker(
        failure_threshold=settings.ace_breaker_failures,
        reset_seconds=settings.ace_breaker_reset_seconds,
    )


class _FailAnswer(Exception):
    """ACE answered `status: fail` (internal; never leaves this module)."""

    def __init__(self, fct: str, error_number: int | None) -> None:
        super().__init__(fct)
        self.fct = fct
        self.error_number = error_number

    def as_error(self, error: type[AceCallError], message: str) -> AceCallError:
        """The public error this refusal means for the call that got it."""
        return error(message, fct=self.fct, error_number=self.error_number)


class _NotJsonError(Exception):
    """ACE answered XML or HTML (internal): `_post` may ask again in another format."""

    def __init__(self, error: AceBadResponseError) -> None:
        super().__init__(error.message)
        self.error = error


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (internal)."""

    def __init__(
        self,
        error: AceCallError,
        *,
        breaker_failure: bool,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.breaker_failure = breaker_failure
        self.retry_after = retry_after
        self.upstream_status = upstream_status


@dataclass(frozen=True, slots=True)
class _Throttle:
    status: int
    retry_after: float | None


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_number(rows: list[dict[str, Any]]) -> int | None:
    if not rows:
        return None
    for key, value in rows[0].items():
        if str(key).upper() == "ERRORNUMBER":
            try:
                return int(str(value).strip())
            except ValueError:
                return None
    return None


def _total_row_count(rows: list[dict[str, Any]]) -> int | None:
    if not rows:
        return None
    for key, value in rows[0].items():
        if str(key).upper() == "TOTAL_ROW_COUNT":
            try:
                return int(float(str(value).strip()))
            except ValueError:
                return None
    return None


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
    """Typed, retrying, size- and time-bounded calls to one AceProject endpoint."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: AceClientConfig,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        formats: dict[str, str] | None = None,
    ) -> None:
        self._http = http
        # Functions that answered `iso8601` with something other than JSON, and now get
        # `format=JSON` (shared by every client of this process made by `with_config`).
        self._formats: dict[str, str] = {} if formats is None else formats
        self.config = config
        self.breaker: CircuitBreaker = breaker or InProcessBreaker(
            failure_threshold=5, reset_seconds=30.0
        )
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.AsyncClient, *, redis: Redis | None = None
    ) -> AceClient:
        return cls(
            http,
            AceClientConfig.from_settings(settings),
            breaker=create_breaker(settings, redis),
        )

    def with_config(self, **changes: Any) -> AceClient:
        """A client sharing the HTTP client and breaker, with some knobs changed."""
        return AceClient(
            self._http,
            replace(self.config, **changes),
            breaker=self.breaker,
            sleep=self._sleep,
            formats=self._formats,
        )

    # ------------------------------------------------------------------------------------
    # Session
    # ------------------------------------------------------------------------------------

    async def login(self, account_id: str, username: str, password: str) -> AceLogin:
        """`login`. A refusal raises `AceLoginRefusedError` (INVALID_CREDENTIALS): ACE
        publishes no error numbers, so none of them decides anything here."""
        params = {"accountid": account_id, "username": username, "password": password}
        try:
            rows = await self._post("login", params)
        except _FailAnswer as fail:
            raise fail.as_error(
                AceLoginRefusedError, "ACE refused the username or password"
            ) from None
        return self._one(AceLogin, rows, "login")

    async def get_login_info(self, guid: str) -> AceLogin:
        """`getlogininfo`: the session's login row; a refused GUID is ACE_SESSION_EXPIRED."""
        try:
            rows = await self._post("getlogininfo", {"guid": guid})
        except _FailAnswer as fail:
            raise fail.as_error(
                AceSessionExpiredError, "The ACE session expired; sign in again"
            ) from None
        return self._one(AceLogin, rows, "getlogininfo")

    async def get_public_settings(self, account_id: str) -> AcePublicSettings:
        """`getpublicsettings`; an unknown account is INVALID_ACCOUNT_ID."""
        try:
            rows = await self._post("getpublicsettings", {"accountid": account_id})
        except _FailAnswer as fail:
            raise fail.as_error(AceUnknownAccountError, "This ACE account does not exist") from None
        return self._one(AcePublicSettings, rows, "getpublicsettings")

    async def logout(self, guid: str) -> None:
        """`logout`, best-effort: never retried, never raises (ACE may not implement it)."""
        try:
            await self._post("logout", {"guid": guid}, max_retries=0)
        except (_FailAnswer, AceCallError) as exc:
            logger.info(
                "ACE logout not confirmed", extra={"fct": "logout", "reason": type(exc).__name__}
            )

    async def authenticate(self, account_id: str, username: str, password: str) -> AceIdentity:
        """Sign in and resolve who signed in.

        The user id comes from the login row when ACE sends one, else from `getlogininfo`;
        the user's details come from `getusers` (by id, else by `filterusername`). A refused
        login is told apart with `getpublicsettings` (unknown account) and the inactive-user
        signals; ACE's localised error text is never parsed.
        """
        if not account_id.strip():
            raise AceUnknownAccountError("This ACE account does not exist", fct="login")
        if not username or not password:
            raise AceLoginRefusedError("ACE refused the username or password", fct="login")
        try:
            login = await self.login(account_id, username, password)
        except AceAccountInactiveError:
            raise
        except AceLoginRefusedError:
            await self._raise_if_unknown_account(account_id)
            raise
        try:
            return await self._identity(account_id, username, login)
        except AceCallError:
            await self.logout(login.guid)
            raise

    async def _raise_if_unknown_account(self, account_id: str) -> None:
        try:
            await self.get_public_settings(account_id)
        except AceUnknownAccountError:
            raise
        except AceCallError:
            # The login itself was refused; an unreachable pre-check must not turn a
            # wrong password into an outage, so the caller keeps INVALID_CREDENTIALS.
            logger.warning("ACE account check failed after a refused login")

    async def _identity(self, account_id: str, username: str, login: AceLogin) -> AceIdentity:
        """The signed-in user: the `getusers` row when ACE lets the user list users, else
        the login row (some accounts refuse user lists to normal users)."""
        info = login if login.user_id is not None else await self.get_login_info(login.guid)
        try:
            user = await self._find_user(login.guid, username, info.user_id)
        except AceRequestRefusedError:
            user = None
        if user is not None:
            if not user.can_sign_in:
                raise AceAccountInactiveError(
                    "This ACE user is inactive or denied access", fct="getusers"
                )
            return AceIdentity(
                account_id=account_id,
                guid=login.guid,
                user_id=user.user_id,
                username=user.username,
                first_name=user.first_name or info.first_name,
                last_name=user.last_name or info.last_name,
                email=user.email or info.email,
                active=True,
                is_admin=user.is_admin,
            )
        if info.user_id is None:
            raise AceBadResponseError("ACE did not say which user signed in", fct="getlogininfo")
        return AceIdentity(
            account_id=account_id,
            guid=login.guid,
            user_id=info.user_id,
            username=info.username or username,
            first_name=info.first_name,
            last_name=info.last_name,
            email=info.email,
            active=True,
            is_admin=info.access_level == ACCESS_LEVEL_ADMIN,
        )

    async def _find_user(self, guid: str, login_name: str, user_id: int | None) -> AceUser | None:
        """The `getusers` row of who signed in: by id when known, else by the name typed at
        sign-in, which ACE also accepts as an e-mail address."""
        if user_id is not None:
            users = await self.get_users(guid, user_id=user_id)
            return next((u for u in users if u.user_id == user_id), None)
        wanted = login_name.casefold()

        def matches(user: AceUser) -> bool:
            return user.username.casefold() == wanted or (user.email or "").casefold() == wanted

        named = await self.get_users(guid, username=login_name)
        found = next((u for u in named if matches(u)), None)
        if found is None and "@" in login_name:
            # `filterusername` filters on the username; an e-mail needs the whole list.
            found = next((u for u in await self.get_users(guid) if matches(u)), None)
        return found

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
        return [
            user
            async for page in self._iter_pages("getusers", guid, params, AceUser, _user_key)
            for user in page
        ]

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
        return [
            project
            async for page in self._iter_pages(
                "getprojects", guid, params, AceProject, _project_key
            )
            for project in page
        ]

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
        return self._iter_pages("gettasks", guid, params, AceTask, _task_key)

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
        pages = self._iter_pages("gettasks", guid, params, AceTaskRef, _task_key)
        return {task.task_id async for page in pages for task in page}

    async def get_tasks(
        self,
        guid: str,
        *,
        assigned_user_id: int | None = None,
        project_id: int | None = None,
        modified_since: date | None = None,
    ) -> list[AceTask]:
        """All pages of `iter_task_pages`."""
        pages = self.iter_task_pages(
            guid,
            assigned_user_id=assigned_user_id,
            project_id=project_id,
            modified_since=modified_since,
        )
        return [task async for page in pages for task in page]

    async def get_task_statuses(self, guid: str, *, project_id: int) -> list[AceTaskStatus]:
        """`gettaskstatuses` of one project: statuses belong to projects."""
        rows = await self._guid_call("gettaskstatuses", guid, {"projectid": project_id})
        return self._parse_rows(AceTaskStatus, rows, "gettaskstatuses")

    async def iter_time_report(
        self,
        guid: str,
        *,
        date_from: date,
        date_to: date,
        user_id: int | None = None,
        project_id: int | None = None,
        modified_since: date | None = None,
    ) -> AsyncIterator[list[AceTimeEntry]]:
        """`gettimereport` (view 1, everyone's entries) one date window (≤31 days) at a time;
        `modified_since` keeps only entries modified on or after that day
        (`filtermodifiedfrom`).

        Each `(timesheet_line_id, date_worked)` is yielded once.
        """
        if date_from > date_to:
            raise ValueError("date_from must not be after date_to")
        seen: set[tuple[int, date]] = set()
        for start, end in _date_windows(date_from, date_to, self.config.time_window_days):
            params = {
                "view": 1,
                "filtermyworkitems": False,
                "filterdatefrom": start,
                "filterdateto": end,
                "filtertimecreatoruserid": user_id,
                "projectid": project_id,
                "filtermodifiedfrom": modified_since,
            }
            rows = await self._guid_call("gettimereport", guid, params)
            fresh = []
            for entry in self._parse_rows(AceTimeEntry, rows, "gettimereport"):
                if entry.key not in seen:
                    seen.add(entry.key)
                    fresh.append(entry)
            if fresh:
                yield fresh

    async def get_time_report(
        self,
        guid: str,
        *,
        date_from: date,
        date_to: date,
        user_id: int | None = None,
        project_id: int | None = None,
    ) -> list[AceTimeEntry]:
        """All windows of `iter_time_report`."""
        windows = self.iter_time_report(
            guid, date_from=date_from, date_to=date_to, user_id=user_id, project_id=project_id
        )
        return [entry async for window in windows for entry in window]

    # ------------------------------------------------------------------------------------
    # Writes
    # ------------------------------------------------------------------------------------
    #
    # ACE's write functions are not idempotent, so a write is sent once: never retried,
    # not even after a transport error or a timeout (it may have happened). The caller
    # re-reads (`get_time_line`, `get_tasks`) before it tries again. Writes ask for
    # `format=JSON`: their answers carry no dates, and a write must never be re-sent because
    # an `iso8601` answer was not JSON.

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
        rows = await self._write("saveworkitem", guid, params)
        return self._one(AceSavedLine, rows, "saveworkitem").timesheet_line_id

    async def delete_work_item(self, guid: str, *, timesheet_line_id: int) -> None:
        """`deleteworkitem`: the whole weekly line."""
        await self._write("deleteworkitem", guid, {"timesheetlineid": timesheet_line_id})

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
        await self._write("savetask", guid, params)

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
        await self._write("assignusertask", guid, params)

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
        rows = await self._guid_call("gettimereport", guid, params)
        entries = self._parse_rows(AceTimeEntry, rows, "gettimereport")
        return [e for e in entries if e.timesheet_line_id == timesheet_line_id]

    async def _write(
        self, fct: str, guid: str, params: Mapping[str, object]
    ) -> list[dict[str, Any]]:
        """One write, sent once. A refusal is ACE_SESSION_EXPIRED when the GUID is gone,
        else `AceWriteRefusedError` (nothing was written)."""
        try:
            return await self._post_once(fct, {**params, "guid": guid}, max_retries=0, fmt="JSON")
        except _NotJsonError as not_json:
            raise not_json.error from None
        except _FailAnswer as fail:
            await self.get_login_info(guid)  # raises ACE_SESSION_EXPIRED if the GUID is gone
            raise fail.as_error(AceWriteRefusedError, f"ACE refused the {fct} write") from None

    # ------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------

    async def _iter_pages(
        self,
        fct: str,
        guid: str,
        params: Mapping[str, object],
        model: type[RowT],
        key: Callable[[RowT], Hashable],
    ) -> AsyncIterator[list[RowT]]:
        """Loop `pagenumber` 1.. while `TOTAL_ROW_COUNT` says rows remain; stop at an empty
        page. ACE documents no maximum page size, so a page may hold fewer rows than asked
        for without being the last: the page size then shrinks to what ACE gave, and the
        next page number is computed for it (pages may overlap then, never leave a gap).

        Without `TOTAL_ROW_COUNT` the loop runs until a page brings nothing new. Rows can
        shift between pages while ACE data changes, so rows already yielded (by `key`) are
        dropped.
        """
        size = self.config.page_size
        seen: set[Hashable] = set()
        page_number = 1
        offset = 0
        while True:
            rows = await self._guid_call(
                fct, guid, {**params, "pagenumber": page_number, "rowsperpage": size}
            )
            if not rows:
                return
            fresh = []
            for item in self._parse_rows(model, rows, fct):
                item_key = key(item)
                if item_key not in seen:
                    seen.add(item_key)
                    fresh.append(item)
            if fresh:
                yield fresh
            offset += len(rows)
            total = _total_row_count(rows)
            if total is not None and offset >= total:
                return
            if not fresh:
                logger.warning("ACE repeated a whole page; stopping", extra={"fct": fct})
                return
            if len(rows) < size:
                size = len(rows)
                logger.info(
                    "ACE answered a short page; paging on with its size",
                    extra={"fct": fct, "rows_per_page": size},
                )
            page_number = offset // size + 1

    async def _guid_call(
        self, fct: str, guid: str, params: Mapping[str, object]
    ) -> list[dict[str, Any]]:
        """A call with a GUID, with the one revalidation path for `status: fail`."""
        form = {**params, "guid": guid}
        try:
            return await self._post(fct, form)
        except _FailAnswer:
            pass
        await self.get_login_info(guid)  # raises ACE_SESSION_EXPIRED if the GUID is gone
        try:
            return await self._post(fct, form)
        except _FailAnswer as fail:
            raise fail.as_error(AceRequestRefusedError, f"ACE refused the {fct} request") from None

    def _format_of(self, fct: str) -> str:
        return self._formats.get(fct, self.config.response_format)

    def _form(
        self, fct: str, params: Mapping[str, object], fmt: str | None = None
    ) -> dict[str, str]:
        form = {"fct": fct, "format": fmt or self._format_of(fct)}
        form.update({name: _encode(value) for name, value in params.items() if value is not None})
        return form

    async def _post(
        self, fct: str, params: Mapping[str, object], *, max_retries: int | None = None
    ) -> list[dict[str, Any]]:
        """One logical call; a function that answers `format=iso8601` with XML or HTML is
        asked again once with `format=JSON` (dates as `/Date(ms)/`), and keeps that format
        for the rest of the process. No public answer in `iso8601` exists, so the fallback
        keeps acehub working if ACE does not take it.
        """
        fmt = self._format_of(fct)
        try:
            return await self._post_once(fct, params, max_retries=max_retries)
        except _NotJsonError as not_json:
            if fmt.lower() != "iso8601":
                raise not_json.error from None
        try:
            rows = await self._post_once(fct, params, max_retries=max_retries, fmt="JSON")
        except _NotJsonError as not_json:
            raise not_json.error from None  # an error page whatever the format: not remembered
        if fct not in self._formats:  # concurrent calls may all have fallen back: log once
            self._formats[fct] = "JSON"
            logger.warning(
                "ACE answered format=iso8601 with something other than JSON; using format=JSON",
                extra={"fct": fct},
            )
        return rows

    async def _post_once(
        self,
        fct: str,
        params: Mapping[str, object],
        *,
        max_retries: int | None = None,
        fmt: str | None = None,
    ) -> list[dict[str, Any]]:
        """One logical call in one format: breaker, deadline, retries. Returns the `ok` rows.

        Raises `_FailAnswer` for `status: fail`, `_NotJsonError` for an answer that is not
        JSON, and `AceCallError` for everything else.
        """
        form = self._form(fct, params, fmt)
        retries = self.config.max_retries if max_retries is None else max_retries
        started = time.monotonic()
        deadline = started + self.config.deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            wait = await self.breaker.acquire()
            if wait is not None:
                raise AceCircuitOpenError(
                    "ACE is unavailable (circuit open); try again later",
                    retry_after=math.ceil(wait),
                    fct=fct,
                )
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    status, content_type, body = await self._exchange(fct, form)
            except _Retryable as failed:
                self._log_failure(fct, failed.upstream_status, attempt, started, failed.error)
                if failed.breaker_failure:
                    await self.breaker.record_failure()
                else:
                    await self.breaker.record_success()
                delay = self._next_delay(failed, attempt, retries)
                if delay is None or time.monotonic() + delay >= deadline:
                    raise failed.error from failed.__cause__
                await self._sleep(delay)
                continue
            except TimeoutError:
                error = AceTimeoutError("ACE did not answer in time", fct=fct)
                self._log_failure(fct, None, attempt, started, error)
                await self.breaker.record_failure()
                raise error from None
            except AceCallError as error:
                self._log_failure(fct, error.upstream_status, attempt, started, error)
                await self.breaker.record_success()
                raise
            await self.breaker.record_success()
            try:
                return self._decode(fct, status, content_type, body)
            except AceCallError as error:
                self._log_failure(fct, status, attempt, started, error)
                raise

    def _next_delay(self, failed: _Retryable, attempt: int, retries: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now.

        Throttling waits what ACE asked for (never less than the back-off, so a
        `Retry-After: 0` is no licence for a tight loop), and only when that is short.
        """
        if attempt > retries:
            return None
        backoff = random.uniform(  # noqa: S311 - full jitter, not a secret
            0,
            min(
                self.config.retry_max_sleep_seconds,
                self.config.retry_base_seconds * 2 ** (attempt - 1),
            ),
        )
        if isinstance(failed.error, AceThrottledError):
            server_wait = failed.retry_after
            if server_wait is None or server_wait > self.config.retry_after_cap_seconds:
                return None
            return max(server_wait, backoff)
        return backoff

    async def _exchange(self, fct: str, form: dict[str, str]) -> tuple[int, str, bytes]:
        """One HTTP attempt: status, content type and the capped body of a 2xx answer."""
        try:
            async with self._http.stream("POST", self.config.api_url, data=form) as response:
                status = response.status_code
                throttle = self._throttle(response)
                if throttle is not None:
                    raise self._throttled(fct, throttle)
                if status >= 500:
                    raise _Retryable(
                        AceUnavailableError(
                            f"ACE failed with HTTP {status}", fct=fct, upstream_status=status
                        ),
                        breaker_failure=True,
                        upstream_status=status,
                    )
                if 300 <= status < 400:
                    raise AceBadResponseError(
                        f"ACE answered with a redirect (HTTP {status}), which is not followed",
                        fct=fct,
                        upstream_status=status,
                    )
                if status >= 400 or status < 200:
                    raise AceBadResponseError(
                        f"ACE answered HTTP {status}", fct=fct, upstream_status=status
                    )
                body = await self._read_capped(fct, response)
                return status, response.headers.get("content-type", ""), body
        except httpx.PoolTimeout as exc:
            raise _Retryable(
                AceUnavailableError("No connection to ACE was free in time", fct=fct),
                breaker_failure=False,
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            raise _Retryable(
                AceTimeoutError("ACE did not answer in time", fct=fct), breaker_failure=True
            ) from exc
        except httpx.TransportError as exc:
            # ConnectError (refused, DNS), ConnectTimeout, ReadError, RemoteProtocolError...
            raise _Retryable(
                AceUnavailableError("ACE could not be reached", fct=fct), breaker_failure=True
            ) from exc

    def _throttle(self, response: httpx.Response) -> _Throttle | None:
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        if response.status_code == 429 or (response.status_code == 503 and retry_after is not None):
            return _Throttle(response.status_code, retry_after)
        return None

    def _throttled(self, fct: str, throttle: _Throttle) -> _Retryable:
        wait = throttle.retry_after
        seconds = math.ceil(wait) if wait is not None else self.config.default_retry_after_seconds
        return _Retryable(
            AceThrottledError(
                "ACE asked to slow down; try again later", retry_after=seconds, fct=fct
            ),
            breaker_failure=throttle.status >= 500,
            retry_after=wait,
            upstream_status=throttle.status,
        )

    async def _read_capped(self, fct: str, response: httpx.Response) -> bytes:
        """Read the body chunk by chunk, refusing it as soon as it passes the size cap."""
        cap = self.config.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._oversize(fct)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise self._oversize(fct)
        return bytes(body)

    def _oversize(self, fct: str) -> AceBadResponseError:
        return AceBadResponseError(
            f"ACE's answer is larger than {self.config.max_response_bytes} bytes", fct=fct
        )

    def _decode(
        self, fct: str, status: int, content_type: str, body: bytes
    ) -> list[dict[str, Any]]:
        """Check the `{status, results}` envelope; `fail` raises `_FailAnswer`."""

        def bad(why: str) -> AceBadResponseError:
            return AceBadResponseError(f"ACE sent {why}", fct=fct, upstream_status=status)

        kind = content_type.lower()
        text = body.removeprefix(_JSON_BOM).strip()
        if "html" in kind or "xml" in kind or text.startswith(b"<"):
            raise _NotJsonError(bad("HTML or XML instead of JSON"))
        if not text:
            raise bad("an empty body")
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise bad("invalid JSON") from None
        if not isinstance(document, dict):
            raise bad("JSON that is not an object")
        envelope = {str(k).lower(): v for k, v in document.items()}
        outcome = envelope.get("status")
        results = envelope.get("results")
        if not isinstance(outcome, str) or outcome.strip().lower() not in {"ok", "fail"}:
            raise bad("no valid status")
        if not isinstance(results, list) or not all(isinstance(row, dict) for row in results):
            if outcome.strip().lower() == "fail" and results is None:
                raise _FailAnswer(fct, None)
            raise bad("no valid results list")
        if outcome.strip().lower() == "fail":
            number = _error_number(results)
            logger.info("ACE refused a call", extra={"fct": fct, "error_number": number})
            raise _FailAnswer(fct, number)
        return results

    def _parse_rows(self, model: type[RowT], rows: list[dict[str, Any]], fct: str) -> list[RowT]:
        try:
            return model.validate_rows(rows)
        except ValidationError as exc:
            # The summary names fields and error kinds only, never the values (a login row
            # holds the GUID).
            problems = ", ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['type']}"
                for err in exc.errors(include_input=False, include_url=False)[:3]
            )
            raise AceBadResponseError(
                f"ACE sent a {fct} row that could not be read ({problems})", fct=fct
            ) from None

    def _one(self, model: type[RowT], rows: list[dict[str, Any]], fct: str) -> RowT:
        if not rows:
            raise AceBadResponseError(f"ACE sent no row for {fct}", fct=fct)
        return self._parse_rows(model, rows[:1], fct)[0]

    @staticmethod
    def _log_failure(
        fct: str, status: int | None, attempt: int, started: float, error: AceCallError
    ) -> None:
        logger.warning(
            "ACE call failed",
            extra={
                "fct": fct,
                "status": status,
                "attempt": attempt,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
                "error_code": str(error.code),
            },
        )


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
