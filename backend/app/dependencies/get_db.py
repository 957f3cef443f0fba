"""The unit of work: one session per request, committed before the response is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

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


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
