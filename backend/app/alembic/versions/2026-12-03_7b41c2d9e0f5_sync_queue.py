"""Sync jobs on a queue: one running and one waiting per account; the job queue's schema.

On PostgreSQL, syncs run on procrastinate, whose tables and functions are created here from
the schema file of the pinned procrastinate release (later releases ship migration scripts of
their own, added as further revisions). SQLite runs syncs in process and has no queue.

Revision ID: 7b41c2d9e0f5
Revises: 3da82090a8b3
Create Date: 2026-12-03 18:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b41c2d9e0f5"
down_revision: str | Sequence[str] | None = "3da82090a8b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "state IN ('queued', 'running')"
_BY_STATE = {
    "ix_sync_jobs_one_queued_per_account": "state = 'queued'",
    "ix_sync_jobs_one_running_per_account": "state = 'running'",
}
# Every function of the queue's schema goes by the `procrastinate_` prefix.
_QUEUE_FUNCTIONS = """
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || f.signature || ' CASCADE';
    END LOOP;
END $$;
"""
_QUEUE_OBJECTS = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
    procrastinate_job_status CASCADE;
"""


def _partial_index(name: str, where: str) -> None:
    op.create_index(
        name,
        "sync_jobs",
        ["account_id"],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def _run_script(sql: str) -> None:
    """Several statements at once, through the driver's simple query protocol (a prepared
    statement holds one)."""
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None
    raw.run_async(lambda connection: connection.execute(sql))  # type: ignore[attr-defined]


def upgrade() -> None:
    op.drop_index("ix_sync_jobs_one_active_per_account", table_name="sync_jobs")
    for name, where in _BY_STATE.items():
        _partial_index(name, where)
    if op.get_bind().dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run_script(_QUEUE_OBJECTS + _QUEUE_FUNCTIONS)
    # Two jobs of one account may be active now (one running, one queued): keep the newest.
    op.execute(
        "UPDATE sync_jobs SET state = 'failed' WHERE state = 'queued' AND account_id IN "
        "(SELECT account_id FROM sync_jobs WHERE state = 'running')"
    )
    for name in _BY_STATE:
        op.drop_index(name, table_name="sync_jobs")
    _partial_index("ix_sync_jobs_one_active_per_account", _ACTIVE)
