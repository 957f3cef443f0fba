"""Cross-process locks: a PostgreSQL advisory lock per account sync.

SQLite (one host, embedded) has no advisory locks; there the partial unique index on
`sync_jobs` and the job heartbeat are the guard, and `account_lock` always succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from app.connection.database import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def sync_lock_name(account_id: str) -> str:
    return f"acehub:sync:{account_id}"


@asynccontextmanager
async def account_lock(database: Database, name: str) -> AsyncIterator[bool]:
    """Hold a session-level advisory lock for the block; yields whether it was acquired."""
    if database.dialect != "postgresql":
        yield True
        return
    key = lock_key(name)
    async with database.engine.connect() as conn:
        acquired = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        await conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()


def excludes_other_processes(database: Database) -> bool:
    """Whether `account_lock` keeps other processes out (PostgreSQL's advisory locks); on
    SQLite it always succeeds, one process being the whole deployment."""
    return database.dialect == "postgresql"


async def is_locked(database: Database, name: str) -> bool:
    """True when another session holds the lock (PostgreSQL); always False on SQLite."""
    if database.dialect != "postgresql":
        return False
    async with account_lock(database, name) as acquired:
        return not acquired
