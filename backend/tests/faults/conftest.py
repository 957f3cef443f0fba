"""A PostgreSQL server of the faults tests' own, which they may stop, kill and restart.

The shared server is never touched: each test module that needs a database to die starts a
private instance (initdb + pg_ctl in a temporary directory, on a free loopback port) as the
`postgres` OS user, because initdb and postgres refuse to run as root. When that is not
possible the cases are skipped with the reason, unless `REQUIRE_POSTGRES=1`, which fails them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.connection import migrations
from app.connection.database import Database
from app.main import create_app
from app.models import Base
from tests.conftest import REQUIRE_POSTGRES, make_settings, run_in_thread

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnPostgres:
    """One private PostgreSQL instance: `start`, `stop` (fast or immediate), `restart`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/acehub_faults"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=check)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.directory}'\n"
                # No fsync (the data dies with the test), but commits stay synchronous: an
                # immediate stop must not lose what the app was told is committed.
                "fsync = off\nfull_page_writes = off\n"
                "max_connections = 50\nshared_buffers = 32MB\n"
            )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` closes every session cleanly; `immediate` drops them like a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def migrate(self) -> None:
        run_in_thread(migrations.upgrade, self.url)

    @asynccontextmanager
    async def admin(self) -> AsyncIterator[asyncpg.Connection]:
        """A plain driver connection that is not the app's (to kill, count and inspect)."""
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="acehub_faults"
        )
        try:
            yield conn
        finally:
            await conn.close()

    async def empty_tables(self) -> None:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with self.admin() as conn:
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _unusable(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(f"REQUIRE_POSTGRES=1 but an own PostgreSQL cannot be started: {reason}")
    pytest.skip(f"an own PostgreSQL cannot be started ({reason})")


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[OwnPostgres]:
    """A migrated private instance, shared by the faults tests (each leaves it running)."""
    if not (PG_BIN / "initdb").exists():
        _unusable(f"no PostgreSQL binaries in {PG_BIN}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            _unusable(f"running as root and there is no {OS_USER!r} OS user to run it as")
        if shutil.which("runuser") is None:
            _unusable("running as root and `runuser` is missing")
    directory = Path(tempfile.mkdtemp(prefix="acehub-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, OS_USER, OS_USER)
    server = OwnPostgres(directory)
    try:
        server.init()
        server.start()
        server._run(
            "createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "acehub_faults"
        )
        server.migrate()
    except (OSError, subprocess.SubprocessError) as exc:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or exc
        _unusable(f"{type(exc).__name__}: {str(detail).strip()[:300]}")
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class FaultApp:
    """An app on the own instance, with its database and an HTTP client through ASGI."""

    server: OwnPostgres
    app: FastAPI
    database: Database
    client: httpx.AsyncClient

    async def backends(self) -> int:
        """How many sessions the app holds open on the server (pooled ones included)."""
        async with self.server.admin() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'acehub'"
                )
            )


FaultAppFactory = Callable[..., AbstractAsyncContextManager[FaultApp]]


@pytest.fixture
def fault_app(own_postgres: OwnPostgres) -> FaultAppFactory:
    """`async with fault_app(**settings) as f:` an app on the own instance, tables emptied after."""

    @asynccontextmanager
    async def started(**overrides: Any) -> AsyncIterator[FaultApp]:
        # No background work on the pool (a job queue polling it would meet dead connections
        # first): the requests of a test are the only users of its connections.
        settings = make_settings(own_postgres.url, **{"sync_runner": "in_process", **overrides})
        application = create_app(settings)
        async with LifespanManager(application):
            database: Database = application.state.db
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    yield FaultApp(own_postgres, application, database, http)
            finally:
                await own_postgres.empty_tables()

    return started
