"""The ACE session (GUID) acehub keeps for a user, to call ACE on their behalf."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.security import GuidCipher
from app.connection.database import Database
from app.errors import AppError, ErrorCode
from app.models import AceSession, User


async def guid_for(session: AsyncSession, *, cipher: GuidCipher, user: User) -> str:
    """The user's ACE GUID; `ACE_SESSION_EXPIRED` when there is none to use."""
    stored = await session.get(AceSession, user.id)
    guid = cipher.decrypt(stored.guid_encrypted) if stored is not None else None
    if stored is None or guid is None:
        raise AppError(
            "There is no ACE session for this user; sign in with POST /user/login",
            code=ErrorCode.ACE_SESSION_EXPIRED,
        )
    stored.last_used_at = datetime.now(UTC)
    return guid


async def take_guid(database: Database, *, cipher: GuidCipher, user: User) -> str:
    """`guid_for` in a short transaction of its own, committed before it returns: for work
    that then calls ACE outside any transaction (on SQLite an open one holds the write lock)."""
    async with database.session() as session, session.begin():
        return await guid_for(session, cipher=cipher, user=user)
