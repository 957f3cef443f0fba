from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin, UTCDateTime


class AceSession(TimestampMixin, Base):
    """A user's ACE GUID, encrypted at rest, for calls to ACE on that user's behalf."""

    __tablename__ = "ace_sessions"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    guid_encrypted: Mapped[str] = mapped_column(Text)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
