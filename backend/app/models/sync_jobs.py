from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin, UTCDateTime
from app.models.enums import SyncState
from app.models.types import str_enum

ACTIVE_STATES_SQL = "state IN ('queued', 'running')"


class SyncJob(TimestampMixin, Base):
    """One run of an account sync: its state, phase, counts per entity and errors."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        # The account's latest job in a state (the sync plan; `synced_through` of task pages).
        Index("ix_sync_jobs_account_id_state_finished_at", "account_id", "state", "finished_at"),
        # At most one queued or running sync per account, whichever worker or host asks:
        # the database refuses a second one (a partial unique index, on both dialects).
        Index(
            "ix_sync_jobs_one_active_per_account",
            "account_id",
            unique=True,
            postgresql_where=text(ACTIVE_STATES_SQL),
            sqlite_where=text(ACTIVE_STATES_SQL),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[SyncState] = mapped_column(str_enum(SyncState, "state"), default=SyncState.queued)
    phase: Mapped[str | None] = mapped_column(String(30))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
