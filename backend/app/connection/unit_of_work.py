"""The unit of work: one session whose writes commit together, and the work that must wait
for that commit.

`unit_of_work(database)` commits when its block ends and rolls back when it raises; after the
commit it runs the hooks registered with `after_commit`, and a rollback drops them. The
request's unit of work (`dependencies.get_db`) is one; background work that owns its
transactions opens others. A service registers a hook for work that must see the committed
rows (refreshing planner statistics on another connection, starting a job whose row the
commit creates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from app.connection.database import Database

AfterCommit = Callable[[], Awaitable[object]]

_KEY = "acehub.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once `session`'s unit of work has committed. Not run on a rollback."""
    session.info.setdefault(_KEY, []).append(hook)


@asynccontextmanager
async def unit_of_work(database: Database) -> AsyncIterator[AsyncSession]:
    """A session committed when the block ends (then its `after_commit` hooks run), rolled
    back if the block raises."""
    async with database.session() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop(_KEY, None)
            await session.rollback()
            raise
        hooks: list[AfterCommit] = session.info.pop(_KEY, [])
        for hook in hooks:
            await hook()
