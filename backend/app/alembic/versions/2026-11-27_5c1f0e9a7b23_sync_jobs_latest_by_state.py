"""Index sync jobs by account, state and finish time: the latest succeeded job is one probe.

Revision ID: 5c1f0e9a7b23
Revises: 16ae3e2d4fd1
Create Date: 2026-11-27 08:10:00.000000

"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c1f0e9a7b23"
down_revision: str | Sequence[str] | None = "16ae3e2d4fd1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_jobs_account_id_state_finished_at",
            ["account_id", "state", "finished_at"],
            unique=False,
        )
        batch_op.drop_index("ix_sync_jobs_account_id_state")


def downgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_jobs_account_id_state", ["account_id", "state"], unique=False
        )
        batch_op.drop_index("ix_sync_jobs_account_id_state_finished_at")
