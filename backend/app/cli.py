"""The `acehub` command line: serve the API, migrate the database, and more."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated

import typer

from app import metrics
from app.config import Settings, get_settings
from app.connection import migrations
from app.connection.database import Database
from app.connection.urls import redacted
from app.dto.base import canonical_account_id
from app.errors import AppError, ErrorCode
from app.logging_config import configure_logging
from app.models import SyncJob, SyncState
from app.services import user_services

if TYPE_CHECKING:
    from app.services.sync.jobs import RequestedKind

cli = typer.Typer(help="acehub: an AceProject companion API.", no_args_is_help=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the API with uvicorn (uvloop event loop, httptools parser)."""
    import uvicorn

    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    metrics.prepare_multiprocess_dir(1 if reload else workers)  # before the workers start
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,  # client addresses are resolved by our trusted-proxy rules
        log_config=None,
        access_log=False,
        server_header=False,
        # A worker importing the app on a busy host can take well over uvicorn's default 5 s
        # to answer its first health check; killed then, it would start over and over.
        timeout_worker_healthcheck=60,
    )


@cli.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Worker name (logs, the queue's tables)")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's metrics on 127.0.0.1:PORT")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface of the metrics port")] = "127.0.0.1",
) -> None:
    """Run sync jobs from the job queue (PostgreSQL), and its periodic tasks, until stopped
    (SIGINT / SIGTERM: the running jobs finish first, or are recorded as interrupted)."""
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    if settings.is_sqlite:
        typer.echo("acehub worker needs PostgreSQL: on SQLite, syncs run in the API process")
        raise typer.Exit(code=2)
    if metrics_port is not None:
        from app.metrics import start_worker_metrics_server

        start_worker_metrics_server(metrics_port, host=metrics_host)
    asyncio.run(_worker(settings, name))


async def _worker(settings: Settings, name: str | None) -> None:
    from app.ace.client import AceClient
    from app.ace.transport import create_http_client
    from app.auth.security import GuidCipher
    from app.services.sync import queue

    database = Database(settings)
    http = create_http_client(settings)
    try:
        deps = queue.WorkerDeps(
            database=database,
            ace=AceClient.from_settings(settings, http),
            cipher=GuidCipher(settings.secret_key.get_secret_value()),
            settings=settings,
        )
        logging.getLogger("acehub").info("acehub worker started", extra={"worker": name})
        await queue.run_worker(deps, name=name)
    finally:
        await http.aclose()
        await database.dispose()


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply database migrations (`alembic upgrade head`)."""
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    logging.getLogger("acehub").info("migrating %s", redacted(settings.database_url))
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {redacted(settings.database_url)}")


@cli.command("create-admin")
def create_admin(
    account_id: Annotated[
        str,
        typer.Option(
            "--account-id", help="Account the admin belongs to", callback=canonical_account_id
        ),
    ],
    username: Annotated[str, typer.Option(help="Username of the new admin")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="ACEHUB_ADMIN_PASSWORD",
            help="Password (prompted when not given; or ACEHUB_ADMIN_PASSWORD)",
        ),
    ],
) -> None:
    """Create a local admin account (signs in with POST /auth/login)."""
    if len(password) < 12:
        raise typer.BadParameter("use at least 12 characters", param_hint="--password")
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level="WARNING")
    try:
        user_id = asyncio.run(_create_admin(settings, account_id, username, password))
    except AppError as exc:
        if exc.code is not ErrorCode.CONFLICT:
            raise
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created local admin {username!r} in account {account_id!r} (user id {user_id})")


async def _create_admin(settings: Settings, account_id: str, username: str, password: str) -> int:
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            user = await user_services.create_local_admin(
                session, account_id=account_id, username=username, password=password
            )
            return user.id
    finally:
        await database.dispose()


@cli.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8100,
    bench_tasks: Annotated[
        int, typer.Option(help="Add a benchmark account `bench` with this many tasks (0: none)")
    ] = 0,
    bench_projects: Annotated[int, typer.Option(help="Projects of the bench account")] = 1000,
    bench_users: Annotated[int, typer.Option(help="Users of the bench account")] = 500,
    bench_time_entries: Annotated[int, typer.Option(help="Time entries of the bench account")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the data generator")] = 7,
    today: Annotated[
        str | None, typer.Option(help="Date the demo data is spread around (default: today)")
    ] = None,
    guid_idle_seconds: Annotated[float, typer.Option(help="ACE session idle expiry")] = 8 * 3600,
    latency: Annotated[float, typer.Option(help="Fault: seconds added to every call")] = 0.0,
    error_rate: Annotated[
        float, typer.Option(help="Fault: share of calls answered HTTP 500")
    ] = 0.0,
    max_rows_per_page: Annotated[
        int | None,
        typer.Option(min=1, help="Answer at most N rows per users/projects/tasks page"),
    ] = None,
    task_rows_without_status_id: Annotated[
        bool, typer.Option(help="Leave TASK_STATUS_ID off task rows")
    ] = False,
    forcombo_keeps_user_filters: Annotated[
        bool, typer.Option(help="gettasks&forcombo=true honours the user filters")
    ] = False,
    getusers_admin_only: Annotated[
        bool, typer.Option(help="Refuse getusers to normal users")
    ] = False,
    iso8601_as: Annotated[
        str, typer.Option(help="Fault: answer format=iso8601 as 'json', 'xml' or 'html'")
    ] = "json",
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the ACE sandbox (an AceProject emulator with demo data) for local runs and tests."""
    from datetime import date

    from ace_sandbox.data import DatasetSize
    from ace_sandbox.server import run

    if iso8601_as not in ("json", "xml", "html"):
        raise typer.BadParameter("expected json, xml or html", param_hint="--iso8601-as")
    bench = None
    if bench_tasks > 0:
        bench = DatasetSize(
            projects=bench_projects,
            tasks=bench_tasks,
            users=bench_users,
            time_entries=bench_time_entries,
        )
    run(
        host,
        port,
        bench=bench,
        seed=seed,
        today=date.fromisoformat(today) if today else date.today(),
        faults={
            "latency": latency,
            "error_rate": error_rate,
            "iso8601_as_xml": iso8601_as == "xml",
            "iso8601_as_html": iso8601_as == "html",
        },
        guid_idle_seconds=guid_idle_seconds,
        max_rows_per_page=max_rows_per_page,
        task_rows_without_status_id=task_rows_without_status_id,
        forcombo_ignores_user_filters=not forcombo_keeps_user_filters,
        getusers_admin_only=getusers_admin_only,
        log_level=log_level,
    )


@cli.command()
def sync(
    account_id: Annotated[
        str, typer.Option("--account-id", help="The ACE account", callback=canonical_account_id)
    ],
    username: Annotated[str, typer.Option(help="ACE username (an administrator sees it all)")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="ACE_PASSWORD",
            help="ACE password (or ACE_PASSWORD)",
        ),
    ],
    kind: Annotated[str, typer.Option(help="auto | full | incremental")] = "auto",
) -> None:
    """Sync one ACE account into the database now, with a progress bar."""
    requested = _SYNC_KINDS.get(kind)
    if requested is None:
        raise typer.BadParameter("use auto, full or incremental", param_hint="--kind")
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level="WARNING")
    try:
        job = asyncio.run(_sync(settings, account_id, username, password, requested))
    except AppError as exc:
        typer.echo(f"error: {exc.code.value}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    _print_job(job)
    if job.state is not SyncState.succeeded:
        raise typer.Exit(1)


_SYNC_KINDS: dict[str, RequestedKind] = {
    "auto": "auto",
    "full": "full",
    "incremental": "incremental",
}


async def _sync(
    settings: Settings, account_id: str, username: str, password: str, kind: RequestedKind
) -> SyncJob:
    import httpx
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from app.ace.client import AceClient
    from app.ace.transport import create_http_client
    from app.auth.rate_limiter import AuthRateLimiter, create_storage
    from app.auth.security import GuidCipher
    from app.models.sync_jobs import JobCounts
    from app.services.sync import jobs, worker
    from app.services.sync.account_sync import SyncCredentials

    database = Database(settings)
    http: httpx.AsyncClient = create_http_client(settings)
    ace = AceClient.from_settings(settings, http)
    try:
        async with database.session() as session, session.begin():
            # The sign-in of `POST /user/login` (rate limits, a user deactivated in acehub
            # refused, the ACE session kept), without the login session: no tokens are needed.
            signed_in = await user_services.sign_in_with_ace(
                session,
                ace=ace,
                cipher=GuidCipher(settings.secret_key.get_secret_value()),
                limiter=AuthRateLimiter(settings, create_storage(settings.redis_url)),
                account_id=account_id,
                username=username,
                password=password,
                client_ip="cli",
            )
            identity = signed_in.identity
            # This command runs the job itself, now: it cannot wait behind another one.
            if await jobs.active_job(session, account_id=identity.account_id) is not None:
                raise AppError(
                    "A sync of this account is already queued or running",
                    code=ErrorCode.CONFLICT,
                )
            job = await jobs.request_job(
                session,
                database=database,
                settings=settings,
                account_id=identity.account_id,
                requested_by=signed_in.user.id,
                kind=kind,
            )
        credentials = SyncCredentials(guid=identity.guid, is_admin=identity.is_admin)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
        ) as bar:
            task = bar.add_task(f"{job.kind} sync of {account_id}", total=None)
            phases_seen: set[str] = set()

            async def progress(phase: str, counts: JobCounts) -> None:
                done = ", ".join(
                    f"{entity} {c['inserted'] + c['updated'] + c['unchanged']}"
                    for entity, c in counts.items()
                )
                line = f"{job.kind} sync of {account_id}: {phase} ({done})"
                bar.update(task, description=line)
                # Off a terminal (a log, a pipe) the bar shows only its last state: there,
                # each phase gets a line of its own as it starts.
                if not bar.console.is_terminal and phase not in phases_seen:
                    phases_seen.add(phase)
                    bar.console.print(line, markup=False, highlight=False, soft_wrap=True)

            return await worker.run_job(
                job.id,
                database=database,
                ace=ace,
                settings=settings,
                credentials=credentials,
                progress=progress,
            )
    finally:
        await http.aclose()
        await database.dispose()


def _print_job(job: SyncJob) -> None:
    typer.echo(f"sync {job.id}: {job.state.value} ({job.kind})")
    for entity, counts in job.counts.items():
        figures = ", ".join(f"{name} {value}" for name, value in counts.items())
        typer.echo(f"  {entity:<13} {figures}")
    for error in job.errors:
        typer.echo(f"  {error.get('code')}: {error.get('message')} (phase {error.get('phase')})")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
