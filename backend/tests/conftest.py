"""Shared fixtures: real databases (SQLite and PostgreSQL), the app, and an HTTP client.

Every test that asks for `database`, `app` or `client` runs once per database backend.
The schema is built once per backend with Alembic (as production builds it); after each
test every table is emptied, so tests never see each other's rows. PostgreSQL tests are
skipped when no server answers, unless `REQUIRE_POSTGRES=1`, which turns that into a failure.
The run ends with how many PostgreSQL and Redis cases passed, failed and were skipped, so a
green run that skipped them says so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from ace_sandbox.testing import SandboxServer
from app.config import Settings
from app.connection import migrations
from app.connection.database import Database
from app.main import create_app
from app.models import Base

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
# One database per test run (the pid in its name), so parallel runs never collide.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/acehub_test_{os.getpid()}"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
BACKENDS = ("sqlite", "postgresql")

# Which cases need a server: a case on PostgreSQL is parametrised "postgresql" (the
# `database_url` fixture and its kin), asks for `postgres_url` or is marked `postgres_only`;
# a case on Redis is parametrised "redis", asks for the `redis` fixture, is marked `redis`,
# or is one of the cases below that reach Redis by themselves.
_SERVER_KINDS = {"PostgreSQL": "postgresql", "Redis": "redis"}
_SERVER_FIXTURES = {"postgresql": "postgres_url", "redis": "redis"}
_SERVER_MARKERS = {"postgresql": "postgres_only", "redis": "redis"}
_REDIS_CASES = {
    "test_redis_storage_is_shared_between_workers",
    "test_ready_checks_redis_when_configured",
}
_SERVER_CASES = pytest.StashKey[dict[str, set[str]]]()
_OUTCOMES = ("passed", "failed", "skipped")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs the Redis server on 127.0.0.1:6379")


def _needs(item: pytest.Item, server: str) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and server in callspec.params.values():
        return True
    if _SERVER_FIXTURES[server] in getattr(item, "fixturenames", ()):
        return True
    if server == "redis" and getattr(item, "originalname", item.name) in _REDIS_CASES:
        return True
    return item.get_closest_marker(_SERVER_MARKERS[server]) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_SERVER_CASES] = {
        server: {item.nodeid for item in items if _needs(item, server)}
        for server in _SERVER_KINDS.values()
    }


def _outcomes(stats: dict[str, list[Any]]) -> dict[str, tuple[str, str]]:
    """Each case's outcome (failed if any phase failed, else skipped if it was, else passed)
    and, for a skip, its reason."""
    outcome: dict[str, tuple[str, str]] = {}
    for key, reports in stats.items():
        for report in reports:
            nodeid = getattr(report, "nodeid", None)
            if not nodeid or getattr(report, "when", None) not in {"setup", "call", "teardown"}:
                continue
            if key in {"failed", "error"}:
                outcome[nodeid] = ("failed", "")
            elif key == "skipped" and outcome.get(nodeid, ("",))[0] != "failed":
                longrepr = report.longrepr
                reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                outcome[nodeid] = ("skipped", reason)
            elif key in {"passed", "xfailed", "xpassed"}:
                outcome.setdefault(nodeid, ("passed", ""))
    return outcome


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One plain line: how many PostgreSQL and Redis cases ran, failed and were skipped."""
    cases = config.stash.get(_SERVER_CASES, None)
    if cases is None:
        return
    outcome = _outcomes(terminalreporter.stats)
    parts, unreachable = [], []
    for label, server in _SERVER_KINDS.items():
        ran = [outcome[nodeid] for nodeid in sorted(cases[server]) if nodeid in outcome]
        counts = {name: sum(1 for kind, _ in ran if kind == name) for name in _OUTCOMES}
        text = f"{label} cases: {counts['passed']} passed"
        if counts["failed"]:
            text += f", {counts['failed']} failed"
        parts.append(f"{text}, {counts['skipped']} skipped")
        missing = sum(1 for kind, why in ran if kind == "skipped" and "not reachable" in why)
        if missing:
            unreachable.append(f"{label} was not reachable: {missing} of its cases did not run")
    terminalreporter.write_sep("-", "server cases")
    terminalreporter.write_line("; ".join(parts))
    for line in unreachable:
        terminalreporter.write_line(line, yellow=True, bold=True)
    if any(line.startswith("PostgreSQL") for line in unreachable) and not REQUIRE_POSTGRES:
        terminalreporter.write_line("REQUIRE_POSTGRES=1 turns a missing PostgreSQL into a failure")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; the shell's variables must not leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "ace_api_url": "http://127.0.0.1:9/",
        "ace_timeout_seconds": 5.0,
        "ace_connect_timeout_seconds": 1.0,
        "ace_retry_base_seconds": 0.01,
        "log_format": "text",
        "redis_url": None,
        "sync_interval_minutes": 0,
        "sync_runner": "in_process",  # the queue has tests of its own (tests/sync/test_queue.py)
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def run_in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Alembic's env runs its own event loop; keep it off the test loop's thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, *args).result()


async def recreate_postgres_database(url: str, *, drop_only: bool = False) -> None:
    async with asyncio.timeout(10):
        await migrations.recreate_postgres_database(url, drop_only=drop_only)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        run_in_thread(asyncio.run, recreate_postgres_database(POSTGRES_URL))
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is not usable: {exc!r}")
        pytest.skip(f"PostgreSQL not reachable ({type(exc).__name__}); set REQUIRE_POSTGRES=1")
    yield POSTGRES_URL
    run_in_thread(asyncio.run, recreate_postgres_database(POSTGRES_URL, drop_only=True))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "acehub.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    run_in_thread(migrations.upgrade, url)
    return url


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """The ACE sandbox with its demo data, as a real server on a loopback port."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The shared sandbox with no faults and fresh call counts (and reset again after)."""
    sandbox_server.faults.reset()
    sandbox_server.stats.reset()
    yield sandbox_server
    sandbox_server.faults.reset()


@pytest.fixture
def settings(database_url: str, sandbox: SandboxServer) -> Settings:
    return make_settings(database_url, ace_api_url=sandbox.url)


async def _empty_all_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    try:
        yield db
    finally:
        await _empty_all_tables(db)
        await db.dispose()


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
