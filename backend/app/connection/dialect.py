"""The dialect-specific SQL acehub needs, one small function per need."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert_insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports `.on_conflict_do_update/.on_conflict_do_nothing` and
    `.excluded` on the session's database (PostgreSQL and SQLite share that API)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
