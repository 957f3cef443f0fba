"""Drop `sync_jobs.watermark`: a succeeded job's watermark is its `started_at`, stored once.

Revision ID: 3da82090a8b3
Revises: 5c1f0e9a7b23
Create Date: 2026-12-03 12:50:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3da82090a8b3"
down_revision: str | Sequence[str] | None = "5c1f0e9a7b23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place on both dialects (SQLite 3.35+ drops a column no index uses without copying
    # the table, so the partial unique index stays as it is).
    op.drop_column("sync_jobs", "watermark")


def downgrade() -> None:
    op.add_column("sync_jobs", sa.Column("watermark", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE sync_jobs SET watermark = started_at WHERE state = 'succeeded'")
