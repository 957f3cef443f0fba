"""Database faults: which errors mean "the database is unavailable", and statement timeouts.

`is_unavailable(exc)` is the one answer to "retry later, or a bug?" for every driver error,
wrapped by SQLAlchemy or raw: a refused, lost or terminated connection, a server starting up
or shutting down, too many connections, the pool's timeout, SQLite's "database is locked".

`statement_timeout(connection, seconds)` bounds the statements of a block (PostgreSQL), and
plans each of them for its own values (`plan_cache_mode`; see the function). In a
transaction it is `SET LOCAL`, which ends with the transaction whatever happens. On an
autocommit connection (the read path) there is no transaction to end, so it is a session
`SET`, and the connection is marked: the pool's reset on return puts the server default back
before anyone else gets it, and a connection whose reset fails is discarded, never reused.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from app.errors import AppError, ErrorCode

__all__ = ["install_pool_guards", "is_unavailable", "statement_timeout"]

QUERY_CANCELED = "57014"
# SQLSTATEs of a server that cannot serve now: connection exceptions (class 08), too many
# connections, and an administrator's or a crash's shutdown, or a start-up in progress.
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
_NETWORK_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ETIMEDOUT}
)
_DRIVER_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InternalClientError,  # a connection left unusable by a backend killed while idle
)
_TIMEOUT_MARK = "acehub.statement_timeout"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, what SQLAlchemy wrapped (`orig`) and what that was raised from, in order."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _sqlstate(exc: BaseException) -> str | None:
    for item in _chain(exc):
        state = getattr(item, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def is_query_canceled(exc: BaseException) -> bool:
    """A statement cancelled by its `statement_timeout` (or by an operator's cancel)."""
    return _sqlstate(exc) == QUERY_CANCELED


def is_unavailable(exc: BaseException) -> bool:
    """True when the error means the database cannot serve now (a retry may work), not that
    the SQL or the data was wrong."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state.startswith("08") or state in _UNAVAILABLE_STATES
    for item in _chain(exc):
        if isinstance(item, sa_exc.TimeoutError | ConnectionError | TimeoutError):
            return True  # the pool's timeout, a refused or reset connection, a connect timeout
        if isinstance(item, (*_DRIVER_ERRORS, socket.gaierror)):
            return True
        if isinstance(item, asyncpg.InterfaceError) and "connection is closed" in str(item):
            return True  # not its other uses (a misuse of the connection is a bug)
        if type(item) is OSError and item.errno in _NETWORK_ERRNOS:
            return True
        if isinstance(item, sa_exc.OperationalError) and "database is locked" in str(item.orig):
            return True  # SQLite's busy timeout ran out: retryable, not a bug
    return False


@asynccontextmanager
async def statement_timeout(
    connection: AsyncConnection, seconds: float, *, code: ErrorCode
) -> AsyncIterator[None]:
    """Bound every statement of the block to `seconds` (PostgreSQL; SQLite has no statement
    timeout). A statement cancelled by it raises `AppError(code)`."""
    if connection.dialect.name != "postgresql":
        yield
        return
    milliseconds = max(1, round(seconds * 1000))
    sync = connection.sync_connection
    options = sync.get_execution_options() if sync is not None else {}
    scope = "SET"
    if options.get("isolation_level") == "AUTOCOMMIT":
        raw = await connection.get_raw_connection()
        raw.info[_TIMEOUT_MARK] = True  # before the SET: a failed SET still gets the reset
    else:
        scope = "SET LOCAL"
    await connection.exec_driver_sql(f"{scope} statement_timeout = {milliseconds}")
    # Reports are few, long aggregates over bound filters: a plan made for the values at
    # hand costs a millisecond, while the generic plan a prepared statement switches to after
    # five runs gives up the parallel hash aggregate (about 0.25 s -> 0.7 s over 1M logs).
    await connection.exec_driver_sql(f"{scope} plan_cache_mode = force_custom_plan")
    try:
        yield
    except sa_exc.DBAPIError as exc:
        if is_query_canceled(exc):
            raise AppError(
                "The report took longer than its time limit; narrow its range or filters",
                code=code,
            ) from exc
        raise


def _reset_timeout(
    dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    if not record.info.pop(_TIMEOUT_MARK, False) or not state.asyncio_safe:
        return  # unmarked, or being discarded (no I/O is possible then)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET statement_timeout TO DEFAULT")
        cursor.execute("SET plan_cache_mode TO DEFAULT")
    finally:
        cursor.close()


def _drop_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    # A pooled connection whose server closed it (a restart, a terminated backend) is known to
    # the driver already, with no round trip: the pool replaces it before the request sees it.
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise sa_exc.DisconnectionError("the server closed this pooled connection")


def install_pool_guards(engine: AsyncEngine) -> None:
    """The PostgreSQL pool's checks: dead pooled connections replaced at checkout, statement
    timeouts reset when a connection returns."""
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    event.listen(engine.sync_engine.pool, "reset", _reset_timeout)
