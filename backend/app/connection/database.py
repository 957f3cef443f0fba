"""The engine and session factory (one per process), built from settings."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.connection.faults import install_pool_guards
from app.connection.pool import MeteredPool
from app.models.base import Base

__all__ = ["Base", "Database"]

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; the busy timeout makes a second writer wait
    # instead of failing with "database is locked"; SQLite needs foreign keys switched on.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock when the transaction starts, so two writers queue on the busy
    # timeout instead of one failing at once when it upgrades a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            # A file database gets the queue pool, metered; `:memory:` keeps its static pool.
            poolclass=MeteredPool if path and path != ":memory:" else None,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        poolclass=MeteredPool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No pre-ping (it costs a round trip per checkout). A connection the server closed
        # (a restart) is replaced at checkout by `install_pool_guards`, for free; one that
        # dies unannounced raises a disconnect error, which answers 503 and makes the pool
        # drop every older connection.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "server_settings": {"application_name": "acehub"},
        },
    )
    install_pool_guards(engine)
    return engine


def rows_affected(result: Result[Any]) -> int:
    """The row count of an UPDATE or DELETE (a plain `Result` does not type it)."""
    return int(cast(CursorResult[Any], result).rowcount)


class Database:
    """Owns the engine and the session factory; created in the app's lifespan, disposed there."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool for reads: on PostgreSQL its connections run in autocommit, with no
        # BEGIN and no COMMIT, and nothing to roll back when they return to the pool.
        self.read_engine: AsyncEngine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self, within_seconds: float) -> None:
        """Run `SELECT 1`; raises when the database does not answer in time."""
        async with asyncio.timeout(within_seconds), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
