"""The unit of work: one session per request, committed before the response is sent.

Routes that only read take `ReadConnection` (Core) or `ReadDbSession` (ORM, on that
connection) instead: on PostgreSQL their statements run without a transaction around them
(autocommit, each statement its own snapshot, as under the default READ COMMITTED), which
saves the BEGIN and COMMIT round trips of a read-only request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from app.connection.database import Database


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit when the route returns, roll back when it raises.

    Used with `scope="function"` (see `DbSession`), so the commit runs before the response is
    sent: a failed commit becomes an error response, never a 2xx that lied.
    """
    database: Database = request.app.state.db
    async with database.session() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


class ReadOnlySessionError(RuntimeError):
    """A write was attempted through a read-only session (a programming error)."""


class ReadOnlySession(Session):
    """A session that refuses writes: its statements are not wrapped in a unit of work, so a
    write would commit at once. Routes that write take `DbSession`."""

    def flush(self, objects: Any = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise ReadOnlySessionError("A read-only session cannot write; use DbSession")


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _refuse_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("A read-only session cannot write; use DbSession")


_read_engines: WeakKeyDictionary[Database, AsyncEngine] = WeakKeyDictionary()


def read_engine(database: Database) -> AsyncEngine:
    """The database's engine (same pool) for reads: on PostgreSQL its connections run in
    autocommit, with no BEGIN and no COMMIT, and nothing to roll back when they return."""
    engine = _read_engines.get(database)
    if engine is None:
        engine = database.engine
        if database.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        _read_engines[database] = engine
    return engine


async def get_read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A Core connection for a route that only reads (statements, no ORM session): on
    PostgreSQL in autocommit; on SQLite (embedded, no round trips to save) its transaction is
    rolled back when it closes."""
    database: Database = request.app.state.db
    async with read_engine(database).connect() as connection:
        yield connection


ReadConnection = Annotated[AsyncConnection, Depends(get_read_connection, scope="function")]

_read_sessionmaker = async_sessionmaker(
    sync_session_class=ReadOnlySession, autoflush=False, expire_on_commit=False
)


async def get_read_db(connection: ReadConnection) -> AsyncIterator[AsyncSession]:
    """An ORM session for a route that only reads, on the request's `ReadConnection` (so the
    caller lookup and the route share one connection). It refuses writes."""
    async with _read_sessionmaker(bind=connection) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
ReadDbSession = Annotated[AsyncSession, Depends(get_read_db, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
