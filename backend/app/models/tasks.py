from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, TimestampMixin, UTCDateTime
from app.models.enums import StatusType
from app.models.types import str_enum


class Task(TimestampMixin, Base):
    """An ACE task mirrored into acehub (`title` is ACE's `TASK_RESUME`)."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("account_id", "ace_task_id"),
        Index("ix_tasks_project_id", "project_id"),
        Index("ix_tasks_account_id_ace_modified_at", "account_id", "ace_modified_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(50))
    ace_task_id: Mapped[int] = mapped_column(BigInteger)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(100))
    status_type: Mapped[StatusType | None] = mapped_column(str_enum(StatusType, "status_type"))
    priority: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str | None] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(255))
    estimated_hours: Mapped[float | None] = mapped_column(Float)
    actual_hours: Mapped[float | None] = mapped_column(Float)
    percent_done: Mapped[float | None] = mapped_column(Float)
    expected_start: Mapped[date | None] = mapped_column(Date)
    expected_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    ace_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ace_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
