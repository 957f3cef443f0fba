"""How a route reaches the database within a request: the unit of work, or the read path.

`UnitOfWork`: one session per request, committed before the response is sent.

Routes that only read take `ReadConnection` instead: on PostgreSQL its statements run without
a transaction around them (autocommit, each statement its own snapshot, as under the default
READ COMMITTED), which saves the BEGIN and COMMIT round trips of a read-only request.

(Work that runs in transactions of its own takes the process's `Database`:
`dependencies.clients.DatabaseDep`.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work (`connection.unit_of_work`): committed when the route
    returns, rolled back when it raises, then the hooks registered with `after_commit` run.

    Used with `scope="function"` (see `UnitOfWork`), so the commit (and the hooks) run before
    the response is sent: a failed commit becomes an error response, never a 2xx that lied.
    """
    async with unit_of_work(request.app.state.db) as session:
        yield session


UnitOfWork = Annotated[AsyncSession, Depends(get_db, scope="function")]
"""The request's unit of work: an ORM session whose writes are committed together before the
response is sent (rolled back if the route raises)."""


async def get_read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A Core connection for a route that only reads: on PostgreSQL in autocommit; on SQLite
    (embedded, no round trips to save) its transaction is rolled back when it closes."""
    database: Database = request.app.state.db
    async with database.read_engine.connect() as connection:
        yield connection


ReadConnection = Annotated[AsyncConnection, Depends(get_read_connection, scope="function")]
"""The read path: a Core connection for a route that only reads (the caller lookup of
`ReadCaller` and the route's statements share it)."""
