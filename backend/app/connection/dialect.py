"""The dialect-specific SQL acehub needs, one small function per need."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncSession


def upsert_insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports `.on_conflict_do_update/.on_conflict_do_nothing` and
    `.excluded` on the session's database (PostgreSQL and SQLite share that API)."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """`upsert_insert` for a dialect given by name."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def relax_commit_durability(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For re-derivable bulk writes (the ACE mirror): a crash may lose the last such commits,
    never corrupt anything, and the sync job that made them is then not marked succeeded.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def stages_rows_by_copy(session: AsyncSession) -> bool:
    """Whether large incoming row sets can be copied into a temporary staging table
    (binary COPY on PostgreSQL); elsewhere they are bound as parameters."""
    return session.get_bind().dialect.name == "postgresql"


def alters_tables_by_copy(connection: Connection | None, url: str | None) -> bool:
    """Whether migrations on this connection (or, offline, this URL's database) must alter
    tables in Alembic's batch mode: SQLite copies a table to change it."""
    if connection is not None:
        return connection.dialect.name == "sqlite"
    return make_url(str(url)).get_backend_name() == "sqlite"
