from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from sqlalchemy import JSON, ColumnElement, Enum, ForeignKey, Index, String, Uuid, case, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin, UTCDateTime
from app.models.enums import SyncKind, SyncPhase, SyncState
from app.models.types import str_enum

QUEUED_SQL = "state = 'queued'"
RUNNING_SQL = "state = 'running'"


class EntityCounts(TypedDict):
    """What a sync did to the rows of one entity."""

    inserted: int
    updated: int
    unchanged: int
    deleted: int


# A job's counts, per entity (each phase mirrors the entity it is named after).
JobCounts = dict[str, EntityCounts]


class JobError(TypedDict):
    """An entry of a job's `errors`: a warning of a phase, or what ended the run."""

    phase: str | None
    code: str
    message: str


def _string_enum(enum_cls: type[StrEnum], length: int) -> Enum:
    """A VARCHAR(`length`) column read and written as `enum_cls` (the stored strings are the
    members' values; no CHECK constraint: the column keeps the schema it has)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class SyncJob(TimestampMixin, Base):
    """One run of an account sync: its state, phase, counts per entity and errors."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        # The account's latest job in a state (the sync plan; `synced_through` of task pages).
        Index("ix_sync_jobs_account_id_state_finished_at", "account_id", "state", "finished_at"),
        # Per account at most one running sync and at most one waiting behind it, whichever
        # worker or host asks: the database refuses another (partial unique indexes, on
        # both dialects).
        Index(
            "ix_sync_jobs_one_queued_per_account",
            "account_id",
            unique=True,
            postgresql_where=text(QUEUED_SQL),
            sqlite_where=text(QUEUED_SQL),
        ),
        Index(
            "ix_sync_jobs_one_running_per_account",
            "account_id",
            unique=True,
            postgresql_where=text(RUNNING_SQL),
            sqlite_where=text(RUNNING_SQL),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[str] = mapped_column(String(50))
    kind: Mapped[SyncKind] = mapped_column(_string_enum(SyncKind, 20))
    state: Mapped[SyncState] = mapped_column(str_enum(SyncState, "state"), default=SyncState.queued)
    phase: Mapped[SyncPhase | None] = mapped_column(_string_enum(SyncPhase, 30))
    counts: Mapped[JobCounts] = mapped_column(JSON, default=dict)
    errors: Mapped[list[JobError]] = mapped_column(JSON, default=list)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @hybrid_property
    def watermark(self) -> datetime | None:
        """Where a succeeded run leaves the account: its start. The next incremental run reads
        what changed in ACE since then (less the overlap), so what changed while this one ran
        is read again; a failed run moves nothing."""
        return self.started_at if self.state == SyncState.succeeded else None

    @watermark.inplace.expression
    @classmethod
    def _watermark_expression(cls) -> ColumnElement[datetime | None]:
        return case((cls.state == SyncState.succeeded, cls.started_at), else_=None)
