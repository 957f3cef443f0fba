"""Users: sign-in through ACE (with the user upsert), local admins, and role administration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ace.port import AceApi
from app.auth.rate_limiter import AuthRateLimiter
from app.auth.security import GuidCipher, hash_password
from app.config import Settings
from app.connection.dialect import upsert_insert
from app.dto.user_dto import LoginData
from app.errors import AppError, ErrorCode
from app.models import AceSession, AuthSource, RoleEnum, User
from app.models.base import utcnow
from app.services import ace_identity, auth_service
from app.services.ace_identity import AceIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AceSignIn:
    """A user signed in through ACE: the acehub user, and the identity ACE vouched for (with
    the ACE session's GUID)."""

    user: User
    identity: AceIdentity


async def sign_in_with_ace(
    session: AsyncSession,
    *,
    ace: AceApi,
    cipher: GuidCipher,
    limiter: AuthRateLimiter,
    account_id: str,
    username: str,
    password: str,
    client_ip: str,
) -> AceSignIn:
    """The one sign-in through ACE (`POST /user/login` and `acehub sync`): under the rate
    limits (`auth_service.guarded_sign_in`), verify the credentials with ACE, upsert the user,
    refuse one deactivated in acehub (`ACCOUNT_INACTIVE`), and keep the ACE session
    (encrypted)."""

    async def sign_in() -> AceSignIn:
        identity = await ace_identity.authenticate(ace, account_id, username, password)
        user = await upsert_ace_user(session, identity)
        if user.is_disabled:
            raise AppError(
                "This account was deactivated in acehub; ask an administrator",
                code=ErrorCode.ACCOUNT_INACTIVE,
            )
        await store_ace_session(session, cipher=cipher, user_id=user.id, guid=identity.guid)
        return AceSignIn(user=user, identity=identity)

    return await auth_service.guarded_sign_in(
        limiter=limiter,
        account_id=account_id,
        username=username,
        client_ip=client_ip,
        sign_in=sign_in,
    )


async def login_with_ace(
    session: AsyncSession,
    *,
    settings: Settings,
    ace: AceApi,
    cipher: GuidCipher,
    limiter: AuthRateLimiter,
    account_id: str,
    username: str,
    password: str,
    client_ip: str,
) -> LoginData:
    """`POST /user/login`: `sign_in_with_ace`, then a new login session (acehub's tokens)."""
    signed_in = await sign_in_with_ace(
        session,
        ace=ace,
        cipher=cipher,
        limiter=limiter,
        account_id=account_id,
        username=username,
        password=password,
        client_ip=client_ip,
    )
    tokens = await auth_service.issue_session(session, settings=settings, user=signed_in.user)
    return auth_service.login_data(signed_in.user, tokens)


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
        raise AppError(
            f"User {username!r} already exists in account {account_id!r}", code=ErrorCode.CONFLICT
        )
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
        raise AppError("No such user in this account", code=ErrorCode.NOT_FOUND)
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
        raise AppError(
            "Admins cannot demote themselves; ask another admin", code=ErrorCode.CONFLICT
        )
    user.role = role
    user.role_set_locally = True
    await session.flush()
    log.info("role changed", extra={"user_id": user.id, "role": role.value, "by": actor.id})
    return user


async def set_disabled(session: AsyncSession, *, actor: User, user_id: int, disabled: bool) -> User:
    user = await get_account_user(session, account_id=actor.account_id, user_id=user_id)
    if user.id == actor.id and disabled:
        raise AppError("Admins cannot deactivate themselves", code=ErrorCode.CONFLICT)
    user.is_disabled = disabled
    await session.flush()
    if disabled:
        await auth_service.revoke_user_sessions(session, user_id=user.id)
    log.info(
        "user disabled" if disabled else "user enabled", extra={"user_id": user.id, "by": actor.id}
    )
    return user
