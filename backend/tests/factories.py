"""Helpers that put rows in the database and sign people in, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from app.auth.security import hash_password
from app.connection.database import Database
from app.models import AuthSource, RoleEnum, User

PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)  # hashing is slow on purpose; do it once


@dataclass
class SignedIn:
    user_id: int
    guid: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def change_user(database: Database, user_id: int, **values: Any) -> None:
    """Set columns of a user directly (a role change, a deactivation), committed."""
    async with database.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))
        await session.commit()


async def create_user(database: Database, **overrides: Any) -> User:
    values: dict[str, Any] = {
        "account_id": "acme",
        "username": "user",
        "role": RoleEnum.member,
        "auth_source": AuthSource.local,
        "password_hash": _HASH,
        "is_active": True,
    }
    values.update(overrides)
    async with database.session() as session:
        user = User(**values)
        session.add(user)
        await session.commit()
        return user


async def sign_in_local(
    client: httpx.AsyncClient, *, account_id: str, username: str, password: str = PASSWORD
) -> SignedIn:
    response = await client.post(
        "/auth/login", json={"account_id": account_id, "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return SignedIn(data["user_id"], data["guid"], data["access_token"], data["refresh_token"])


async def local_user_signed_in(
    client: httpx.AsyncClient,
    database: Database,
    *,
    username: str,
    role: RoleEnum = RoleEnum.member,
    account_id: str = "acme",
) -> SignedIn:
    await create_user(database, username=username, role=role, account_id=account_id)
    return await sign_in_local(client, account_id=account_id, username=username)
