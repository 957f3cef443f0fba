from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, false, true
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class TaskAssignee(Base):
    """Who works on (or reviews) a task, with the hours assigned to them."""

    __tablename__ = "task_assignees"
    __table_args__ = (Index("ix_task_assignees_user_id_task_id", "user_id", "task_id"),)

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    is_assignee: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_reviewer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    assigned_hours: Mapped[float | None] = mapped_column(Float)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
