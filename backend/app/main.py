"""The FastAPI application factory: lifespan resources, middleware, routers, error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis

from app.ace.client import AceClient
from app.ace.transport import create_http_client
from app.auth.rate_limiter import AuthRateLimiter, create_storage
from app.auth.security import GuidCipher
from app.config import Settings, get_settings
from app.connection.database import Database
from app.connection.urls import redacted
from app.error_handlers import register_error_handlers
from app.logging_config import configure_logging
from app.middleware import (
    BodySizeLimitMiddleware,
    PageSecurityHeadersMiddleware,
    RequestContextMiddleware,
)
from app.request_context import REQUEST_ID_HEADER
from app.routes import api_router, dashboard_routes, docs_routes, metrics_routes
from app.routes.openapi import keep_declared_request_bodies
from app.runtime import settle_garbage_collector
from app.services.sync import queue as sync_queue
from app.services.sync import scheduler as sync_scheduler
from app.services.sync.runner import JobRunner
from app.services.sync.worker import InProcessStarter
from app.web import session as web_session
from app.web.session import SignInRequired

log = logging.getLogger("acehub")
STATIC_DIR = Path(__file__).parent / "web" / "static"


def _version() -> str:
    try:
        return version("acehub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database(settings)
        app.state.redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.ace_http = create_http_client(settings)
        app.state.ace = AceClient.from_settings(settings, app.state.ace_http, redis=app.state.redis)
        app.state.guid_cipher = GuidCipher(settings.secret_key.get_secret_value())
        app.state.jobs = JobRunner()
        app.state.rate_limiter = AuthRateLimiter(settings, create_storage(settings.redis_url))
        queue = sync_queue.create_queue(settings) if settings.syncs_on_queue else None
        scheduler = None
        if queue is not None:  # syncs run in `acehub worker` processes; this one only queues
            await queue.open_async()
            app.state.sync_starter = sync_queue.QueueStarter(queue, app.state.db)
        else:
            app.state.sync_starter = InProcessStarter(
                app.state.jobs, app.state.db, app.state.ace, settings
            )
            if settings.sync_interval_minutes > 0:
                scheduler = asyncio.create_task(
                    sync_scheduler.run_periodically(
                        database=app.state.db,
                        cipher=app.state.guid_cipher,
                        settings=settings,
                        starter=app.state.sync_starter,
                    ),
                    name="sync-scheduler",
                )
        log.info(
            "acehub started",
            extra={"database": redacted(settings.database_url), "env": settings.app_env.value},
        )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
            if queue is not None:
                await queue.close_async()
            await app.state.jobs.shutdown()
            await app.state.ace_http.aclose()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await app.state.db.dispose()

    app = FastAPI(
        title="acehub",
        version=_version(),
        summary="Sign in with AceProject, mirror its data, serve tasks, logs and reports.",
        lifespan=lifespan,
        # Served by docs_routes from the vendored files instead of FastAPI's CDN defaults.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    register_error_handlers(app)
    app.include_router(api_router)
    app.include_router(docs_routes.router)
    app.include_router(dashboard_routes.router)
    keep_declared_request_bodies(app)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Outermost last: request id → body cap → CORS → routes.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={"/data/save": settings.save_max_body_bytes},
    )
    app.add_middleware(PageSecurityHeadersMiddleware, prefix=web_session.PATH)
    app.add_middleware(RequestContextMiddleware)
    # Outermost of all: every answer is counted, the body cap's 413s included.
    metrics_routes.instrument(app)
    return app


async def _to_sign_in(request: Request, _exc: Exception) -> Response:
    """A dashboard page without a usable session: to the sign-in page (a partial refresh
    is told through htmx's redirect header, so the whole page goes)."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": web_session.LOGIN_PATH})
    response = RedirectResponse(web_session.LOGIN_PATH, status_code=303)
    web_session.clear_session_cookies(response, request.app.state.settings)
    return response


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory app.main:app_factory` (used by `acehub serve`): the
    app, built once per worker process."""
    app = create_app()
    settle_garbage_collector()
    return app
