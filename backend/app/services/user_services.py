"""Users: sign-in through ACE (with the user upsert), local admins, and role administration."""

from __future__ import annotations

import logging

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.client import AceClient
from app.ace.dto import AceIdentity
from app.auth.security import GuidCipher, hash_password
from app.connection.dialect import upsert_insert
from app.dto.response import ErrorCode
from app.errors import AppError, ConflictError, NotFoundError
from app.models import AceSession, AuthSource, RoleEnum, User
from app.models.base import utcnow
from app.services import auth_service

log = logging.getLogger(__name__)


async def sign_in_with_ace(
    session: AsyncSession,
    *,
    ace: AceClient,
    cipher: GuidCipher,
    account_id: str,
    username: str,
    password: str,
) -> User:
    """Verify the credentials with ACE, upsert the user and keep the ACE session (encrypted)."""
    identity = await ace.authenticate(account_id, username, password)
    user = await upsert_ace_user(session, identity)
    if user.is_disabled:
        raise AppError(
            "This account was deactivated in acehub; ask an administrator",
            code=ErrorCode.ACCOUNT_INACTIVE,
        )
    await store_ace_session(session, cipher=cipher, user_id=user.id, guid=identity.guid)
    return user


async def upsert_ace_user(session: AsyncSession, identity: AceIdentity) -> User:
    """Insert or update the user keyed by (account, ACE user id), in one statement, so any
    number of concurrent first logins leave exactly one row. A role set in acehub is kept."""
    now = utcnow()
    role = RoleEnum.admin if identity.is_admin else RoleEnum.member
    insert = upsert_insert(session, User)
    statement = insert.values(
        account_id=identity.account_id,
        ace_user_id=identity.user_id,
        username=identity.username,
        first_name=identity.first_name,
        last_name=identity.last_name,
        email=identity.email,
        role=role,
        auth_source=AuthSource.ace,
        is_active=True,
        last_login_at=now,
        created_at=now,
        updated_at=now,
    )
    excluded = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[User.account_id, User.ace_user_id],
        set_={
            "username": excluded.username,
            "first_name": excluded.first_name,
            "last_name": excluded.last_name,
            "email": excluded.email,
            "is_active": True,
            "deleted_at": None,  # back from a tombstone: ACE just vouched for this user
            "last_login_at": excluded.last_login_at,
            "updated_at": excluded.updated_at,
            # A role an admin set in acehub survives later logins; otherwise ACE decides.
            "role": case((User.role_set_locally.is_(True), User.role), else_=excluded.role),
        },
    ).returning(User.id)
    user_id = (await session.execute(upsert)).scalar_one()
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


async def store_ace_session(
    session: AsyncSession, *, cipher: GuidCipher, user_id: int, guid: str
) -> None:
    now = utcnow()
    insert = upsert_insert(session, AceSession)
    statement = insert.values(
        user_id=user_id,
        guid_encrypted=cipher.encrypt(guid),
        last_used_at=now,
        created_at=now,
        updated_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[AceSession.user_id],
        set_={
            "guid_encrypted": statement.excluded.guid_encrypted,
            "last_used_at": now,
            "updated_at": now,
        },
    )
    await session.execute(statement)


async def create_local_admin(
    session: AsyncSession, *, account_id: str, username: str, password: str
) -> User:
    existing = await session.scalar(
        select(User.id).where(User.account_id == account_id, User.username == username)
    )
    if existing is not None:
        raise ConflictError(f"User {username!r} already exists in account {account_id!r}")
    user = User(
        account_id=account_id,
        username=username,
        role=RoleEnum.admin,
        role_set_locally=True,
        auth_source=AuthSource.local,
        password_hash=hash_password(password),
        is_active=True,
    )
    session.add(user)
    await session.flush()
    return user


async def get_account_user(session: AsyncSession, *, account_id: str, user_id: int) -> User:
    user = await session.scalar(
        select(User).where(User.id == user_id, User.account_id == account_id)
    )
    if user is None:
        raise NotFoundError("No such user in this account")
    return user


async def list_users(
    session: AsyncSession, *, account_id: str, limit: int, offset: int
) -> tuple[list[User], int]:
    scope = select(User).where(User.account_id == account_id)
    total = await session.scalar(select(func.count()).select_from(scope.subquery()))
    rows = await session.scalars(scope.order_by(User.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def set_role(session: AsyncSession, *, actor: User, user_id: int, role: RoleEnum) -> User:
    user = await get_account_user(session, account_id=actor.account_id, user_id=user_id)
    if user.id == actor.id and role is not RoleEnum.admin:
        raise ConflictError("Admins cannot demote themselves; ask another admin")
    user.role = role
    user.role_set_locally = True
    await session.flush()
    log.info("role changed", extra={"user_id": user.id, "role": role.value, "by": actor.id})
    return user


async def set_disabled(session: AsyncSession, *, actor: User, user_id: int, disabled: bool) -> User:
    user = await get_account_user(session, account_id=actor.account_id, user_id=user_id)
    if user.id == actor.id and disabled:
        raise ConflictError("Admins cannot deactivate themselves")
    user.is_disabled = disabled
    await session.flush()
    if disabled:
        await auth_service.revoke_user_sessions(session, user_id=user.id)
    log.info(
        "user disabled" if disabled else "user enabled", extra={"user_id": user.id, "by": actor.id}
    )
    return user
