from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, TimestampMixin
from app.models.enums import TaskLogKind, TaskLogSource
from app.models.types import str_enum


class TaskLog(TimestampMixin, Base):
    """Time worked, a status change or a note on a task.

    ACE time entries are keyed by (`ace_timesheet_line_id`, `date_worked`); logs pushed by a
    client through the batch save carry the client's own `client_id`.
    """

    __tablename__ = "task_logs"
    __table_args__ = (
        UniqueConstraint("account_id", "ace_timesheet_line_id", "date_worked"),
        UniqueConstraint("account_id", "client_id"),
        Index("ix_task_logs_account_id_date_worked", "account_id", "date_worked"),
        Index("ix_task_logs_task_id", "task_id"),
        Index("ix_task_logs_user_id_date_worked", "user_id", "date_worked"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(50))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[TaskLogKind] = mapped_column(str_enum(TaskLogKind, "kind"))
    date_worked: Mapped[date] = mapped_column(Date)
    hours: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    old_status: Mapped[str | None] = mapped_column(String(100))
    new_status: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[TaskLogSource] = mapped_column(
        str_enum(TaskLogSource, "source"), default=TaskLogSource.local
    )
    ace_timesheet_line_id: Mapped[int | None] = mapped_column(BigInteger)
    client_id: Mapped[str | None] = mapped_column(String(100))
