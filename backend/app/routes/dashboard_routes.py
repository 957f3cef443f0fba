"""The web dashboard (`/dashboard/...`): server-rendered pages over the same services as the
JSON API, signed in with a cookie session (`app.web.session`). Forms post back here with a
CSRF token; each change is answered with a redirect (so a reload does not repeat it), or the
page again with the problem shown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.auth.rate_limiter import AuthRateLimiter
from app.config import Settings
from app.connection.unit_of_work import unit_of_work
from app.dependencies.client_ip import ClientIp
from app.dependencies.clients import (
    AceClientDep,
    DatabaseDep,
    GuidCipherDep,
    RateLimiterDep,
    SettingsDep,
)
from app.dependencies.get_db import ReadConnection
from app.dto.dashboard_dto import DashboardQuery
from app.dto.task import MAX_ID, TaskUpdate
from app.dto.task_log_dto import TaskLogCreate
from app.dto.user_dto import LoginData
from app.errors import AppError, ErrorCode
from app.models import TaskLogKind
from app.routes.downloads import download
from app.services import (
    auth_service,
    dashboard_service,
    task_change_service,
    task_log_service,
    user_services,
)
from app.services.pagination import cursor_codec
from app.services.sync import worker
from app.web import charts
from app.web.session import (
    LOGIN_NONCE_COOKIE,
    LOGIN_PATH,
    PATH,
    PageSession,
    SignedIn,
    carry_session,
    check_csrf,
    clear_session_cookies,
    login_csrf,
    new_login_nonce,
    set_login_nonce,
    set_session_cookies,
)
from app.web.templates import templates

router = APIRouter(prefix=PATH, include_in_schema=False)

TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
Filters = Annotated[DashboardQuery, Query()]

NOTICES = {
    "logged": "Time logged.",
    "status": "Status changed.",
    "sync": "Sync started: reload in a moment to see its progress.",
    "signed-out": "Signed out.",
}

SIGN_IN_PROBLEMS = {
    ErrorCode.INVALID_CREDENTIALS: "Wrong username or password.",
    ErrorCode.INVALID_ACCOUNT_ID: "No such ACE account.",
    ErrorCode.ACCOUNT_INACTIVE: "This account is not active.",
    ErrorCode.RATE_LIMITED: "Too many sign-in attempts: wait a little and try again.",
    ErrorCode.ACE_UNAVAILABLE: "ACE is not available right now: try again in a moment.",
    ErrorCode.ACE_TIMEOUT: "ACE did not answer in time: try again in a moment.",
    ErrorCode.ACE_BAD_RESPONSE: "ACE answered something acehub could not read: try again later.",
}


@dataclass(frozen=True)
class Problem:
    message: str
    details: list[str]
    status_code: int

    @classmethod
    def of(cls, exc: AppError, message: str | None = None) -> Problem:
        details = []
        if exc.code is ErrorCode.VALIDATION_ERROR and isinstance(exc.data, list):
            details = [f"{item['loc'][-1]}: {item['msg']}" for item in exc.data]
        return cls(message or exc.message, details, exc.status_code)

    @classmethod
    def invalid(cls, exc: ValidationError) -> Problem:
        details = [f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors()]
        return cls("The form is not valid", details, status.HTTP_422_UNPROCESSABLE_CONTENT)


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    settings: Settings,
    page: PageSession | None = None,
    status_code: int = 200,
) -> Response:
    values = {"page": page, "problem": None, "notice": None, "synced_through": None}
    values.update(context)
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    return carry_session(response, page, settings) if page is not None else response


def _redirect(url: str, page: PageSession | None, settings: Settings) -> Response:
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    return carry_session(response, page, settings) if page is not None else response


def _params(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [
        (name, str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in pairs
    ]


def _task_params(query: DashboardQuery) -> list[tuple[str, str]]:
    pairs: list[tuple[str, Any]] = [("status_type", value.value) for value in query.status_type]
    if query.project_id is not None:
        pairs.append(("project_id", query.project_id))
    if query.overdue is not None:
        pairs.append(("overdue", query.overdue))
    return _params(pairs)


def _time_params(query: DashboardQuery) -> list[tuple[str, str]]:
    pairs: list[tuple[str, Any]] = [("bucket", query.bucket)]
    if query.date_from is not None:
        pairs.append(("date_from", query.date_from.isoformat()))
    if query.date_to is not None:
        pairs.append(("date_to", query.date_to.isoformat()))
    return _params(pairs)


@dataclass(frozen=True)
class Pager:
    first: int
    last: int
    previous: str | None
    next: str | None


def _pager(tasks: dict[str, Any], query: DashboardQuery) -> Pager:
    shown, total, offset, limit = (
        len(tasks["items"]),
        tasks["total"],
        tasks["offset"],
        tasks["limit"],
    )
    base = _task_params(query) + _time_params(query)

    def at(new_offset: int) -> str:
        return f"{PATH}?{urlencode([*base, ('offset', str(new_offset))])}"

    return Pager(
        first=offset + 1 if shown else 0,
        last=offset + shown,
        previous=at(max(offset - limit, 0)) if offset > 0 else None,
        next=at(offset + limit) if offset + shown < total else None,
    )


async def _dashboard(
    request: Request,
    page: PageSession,
    connection: ReadConnection,
    settings: Settings,
    query: DashboardQuery,
    *,
    problem: Problem | None = None,
    notice: str | None = None,
) -> Response:
    overview = await dashboard_service.overview(
        connection,
        caller=page.caller,
        session=page.session_key,
        query=query,
        settings=settings,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    context = {
        "query": query,
        "today": overview.today,
        "tasks": overview.tasks,
        "pager": _pager(overview.tasks, query),
        "projects": overview.projects,
        "time": overview.time,
        "time_range": overview.time_range,
        "chart": charts.time_chart(overview.time),
        "team": overview.team,
        "progress": [
            {"project": item, "bars": charts.progress_bars(item)}
            for item in (overview.team.progress if overview.team else [])
        ],
        "task_params": _task_params(query),
        "time_params": _time_params(query),
        "export_query": urlencode(_time_params(query)),
        "synced_through": overview.synced_through,
        "problem": problem,
        "notice": notice,
    }
    return _render(
        request,
        "dashboard.html",
        context,
        settings=settings,
        page=page,
        status_code=problem.status_code if problem else 200,
    )


# --- signing in and out ---------------------------------------------------------------


def _login_page(
    request: Request,
    settings: Settings,
    *,
    form: dict[str, Any] | None = None,
    problem: Problem | None = None,
    notice: str | None = None,
) -> Response:
    # One nonce per browser, kept while it signs in: two open sign-in tabs both work.
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or new_login_nonce()
    response = _render(
        request,
        "login.html",
        {
            "csrf_token": login_csrf(settings, nonce),
            "form": form or {"account_id": "", "username": "", "local": False},
            "problem": problem,
            "notice": notice,
        },
        settings=settings,
        status_code=problem.status_code if problem else 200,
    )
    set_login_nonce(response, settings, nonce)
    return response


@router.get("/login")
async def login_page(
    request: Request, settings: SettingsDep, notice: str | None = None
) -> Response:
    return _login_page(request, settings, notice=NOTICES.get(notice or ""))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/login")
async def login(
    request: Request,
    settings: SettingsDep,
    database: DatabaseDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
    limiter: RateLimiterDep,
    client_ip: ClientIp,
) -> Response:
    """Sign in with ACE (or, with the switch, a local account), exactly as the API does."""
    form = await request.form()
    fields = {
        "account_id": _text(form, "account_id"),
        "username": _text(form, "username"),
        "local": form.get("local") == "1",
    }
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    try:
        check_csrf(form, login_csrf(settings, nonce) if nonce else "")
        password = form.get("password")
        if not (
            fields["account_id"] and fields["username"] and isinstance(password, str) and password
        ):
            raise AppError(
                "Fill in the account id, username and password", code=ErrorCode.VALIDATION_ERROR
            )
        data = await _sign_in(database, settings, ace, cipher, limiter, client_ip, fields, password)
    except AppError as exc:
        problem = Problem.of(exc, SIGN_IN_PROBLEMS.get(exc.code))
        return _login_page(request, settings, form=fields, problem=problem)
    response = _redirect(PATH, None, settings)
    set_session_cookies(response, settings, data)
    response.delete_cookie(LOGIN_NONCE_COOKIE, path=PATH)
    return response


async def _sign_in(
    database: DatabaseDep,
    settings: Settings,
    ace: AceClientDep,
    cipher: GuidCipherDep,
    limiter: AuthRateLimiter,
    client_ip: str,
    fields: dict[str, Any],
    password: str,
) -> LoginData:
    # A unit of work of its own: a refused sign-in leaves nothing behind.
    async with unit_of_work(database) as session:
        if fields["local"]:
            return await auth_service.login_local(
                session,
                settings=settings,
                limiter=limiter,
                account_id=fields["account_id"],
                username=fields["username"],
                password=password,
                client_ip=client_ip,
            )
        return await user_services.login_with_ace(
            session,
            settings=settings,
            ace=ace,
            cipher=cipher,
            limiter=limiter,
            account_id=fields["account_id"],
            username=fields["username"],
            password=password,
            client_ip=client_ip,
        )


@router.post("/logout")
async def logout(
    request: Request, page: SignedIn, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """End this login session (its refresh tokens stop working) and clear the cookies."""
    check_csrf(await request.form(), page.csrf_token)
    async with unit_of_work(database) as session:
        await auth_service.logout(session, user=page.user, session_id=page.session_id)
    response = _redirect(f"{LOGIN_PATH}?notice=signed-out", None, settings)
    clear_session_cookies(response, settings)
    return response


# --- the pages ------------------------------------------------------------------------


@router.get("")
async def dashboard(
    request: Request,
    page: SignedIn,
    connection: ReadConnection,
    settings: SettingsDep,
    query: Filters,
    notice: str | None = None,
) -> Response:
    """My work, my time, and for managers and admins the team's."""
    return await _dashboard(
        request, page, connection, settings, query, notice=NOTICES.get(notice or "")
    )


@router.get("/tasks")
async def tasks_part(
    request: Request,
    page: SignedIn,
    connection: ReadConnection,
    settings: SettingsDep,
    query: Filters,
) -> Response:
    """The task table alone: what the filters refresh in place."""
    tasks, today = await dashboard_service.my_tasks(
        connection,
        caller=page.caller,
        session=page.session_key,
        query=query,
        settings=settings,
        cursors=cursor_codec(settings.secret_key.get_secret_value()),
    )
    context = {"tasks": tasks, "today": today, "pager": _pager(tasks, query)}
    return _render(request, "_tasks.html", context, settings=settings, page=page)


@router.get("/time.{file_format}")
async def time_download(
    page: SignedIn,
    database: DatabaseDep,
    settings: SettingsDep,
    query: Filters,
    file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")],
) -> Response:
    """The time section's numbers as CSV or XLSX (the export of `GET /reports/time`)."""
    report = dashboard_service.time_export(page.caller, query, settings, file_format)
    return carry_session(
        download(database, report, file_format=file_format, bom=False), page, settings
    )


# --- the forms ------------------------------------------------------------------------


async def _submit(
    request: Request,
    page: PageSession,
    connection: ReadConnection,
    settings: Settings,
    action: Callable[[FormData], Awaitable[None]],
    *,
    done: str,
) -> Response:
    """A form that changes something: its CSRF token checked, then `action`; answered with a
    redirect to `done`, or with the dashboard again showing what was refused."""
    form = await request.form()
    try:
        check_csrf(form, page.csrf_token)
        await action(form)
    except ValidationError as exc:
        problem = Problem.invalid(exc)
    except AppError as exc:
        problem = Problem.of(exc)
    else:
        return _redirect(done, page, settings)
    return await _dashboard(request, page, connection, settings, DashboardQuery(), problem=problem)


@router.post("/tasks/{task_id}/logs")
async def log_time(
    request: Request,
    task_id: TaskId,
    page: SignedIn,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> Response:
    """Log time on a task, as `POST /tasks/{task_id}/logs` (to ACE first for ACE users)."""

    async def log(form: FormData) -> None:
        body = TaskLogCreate.model_validate(
            {
                "kind": TaskLogKind.time,
                "date_worked": _text(form, "date_worked") or None,
                "hours": _text(form, "hours") or None,
                "comment": _text(form, "comment") or None,
            }
        )
        await task_log_service.create_log(
            database,
            ace=ace,
            cipher=cipher,
            settings=settings,
            user=page.user,
            task_id=task_id,
            body=body,
        )

    return await _submit(request, page, connection, settings, log, done=f"{PATH}?notice=logged")


@router.post("/tasks/{task_id}/status")
async def change_status(
    request: Request,
    task_id: TaskId,
    page: SignedIn,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> Response:
    """Move a task to another status type, as `PATCH /tasks/{task_id}` (in ACE first)."""

    async def change(form: FormData) -> None:
        update = TaskUpdate.model_validate({"status_type": _text(form, "status_type") or None})
        await task_change_service.update_task(
            database, ace=ace, cipher=cipher, user=page.user, task_id=task_id, change=update
        )

    return await _submit(request, page, connection, settings, change, done=f"{PATH}?notice=status")


@router.post("/sync")
async def start_sync(
    request: Request,
    page: SignedIn,
    connection: ReadConnection,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: GuidCipherDep,
) -> Response:
    """Start a sync of the account, as `POST /sync/jobs` (managers and admins)."""

    async def sync(_: FormData) -> None:
        if not dashboard_service.is_manager(page.caller):
            raise AppError("Only managers and admins start syncs", code=ErrorCode.FORBIDDEN)
        async with unit_of_work(database) as session:
            await worker.start_sync(
                session,
                database=database,
                starter=request.app.state.sync_starter,
                cipher=cipher,
                settings=settings,
                user=page.user,
                kind="auto",
            )

    return await _submit(request, page, connection, settings, sync, done=f"{PATH}?notice=sync#sync")
