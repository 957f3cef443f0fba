from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, TimestampMixin, UTCDateTime


class Project(TimestampMixin, Base):
    """An ACE project mirrored into acehub; `deleted_at` marks one gone upstream."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("account_id", "ace_project_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(50))
    ace_project_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(100))
    client_name: Mapped[str | None] = mapped_column(String(255))
    percent_done: Mapped[float | None] = mapped_column(Float)
    ace_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ace_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
