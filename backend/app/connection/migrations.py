"""Run Alembic migrations from code (the CLI and the tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.connection.urls import to_async_url

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


QUEUE_TABLE_PREFIX = "procrastinate_"
"""The job queue's tables (PostgreSQL only) belong to procrastinate's own schema file; the
models do not describe them, so comparisons of models and database leave them out."""


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic's `include_name` hook: everything but the job queue's tables."""
    return not (type_ == "table" and (name or "").startswith(QUEUE_TABLE_PREFIX))


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", to_async_url(database_url).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def recreate_postgres_database(url: str, *, drop_only: bool = False) -> None:
    """Drop the PostgreSQL database of `url` (closing its connections) and create it empty
    again; for test runs and benchmarks, which each work in a database of their own."""
    target = make_url(to_async_url(url))
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            if not drop_only:
                await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()
