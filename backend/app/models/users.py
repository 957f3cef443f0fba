from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, UniqueConstraint, Uuid, false, true
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, TimestampMixin, UTCDateTime
from app.models.enums import AuthSource, RoleEnum
from app.models.types import str_enum


class User(TimestampMixin, Base):
    """An acehub user: mirrored from ACE (`auth_source=ace`) or a local account."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("account_id", "ace_user_id"),
        Index("ix_users_account_id_username", "account_id", "username"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    guid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    account_id: Mapped[str] = mapped_column(String(50))
    ace_user_id: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[RoleEnum] = mapped_column(str_enum(RoleEnum, "role"), default=RoleEnum.member)
    role_set_locally: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    auth_source: Mapped[AuthSource] = mapped_column(
        str_enum(AuthSource, "auth_source"), default=AuthSource.ace
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # `is_active` mirrors ACE (and is false for placeholders made by a sync until the person
    # signs in); `is_disabled` is an acehub admin's decision that no ACE login overrides.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
