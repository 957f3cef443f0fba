"""Local sign-in, refresh rotation, replay detection, logout (reliability A13-A16, A18)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from app.connection.database import Database
from app.models import RefreshToken, RoleEnum, User
from tests.factories import PASSWORD, create_user, local_user_signed_in, sign_in_local


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.patch("/auth/refresh", json={"refresh_token": token})


async def test_local_login_returns_the_documented_data(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await create_user(database, username="root", role=RoleEnum.admin)
    response = await client.post(
        "/auth/login", json={"account_id": "acme", "username": "root", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert set(body["data"]) == {
        "guid",
        "user_id",
        "ace_user_id",
        "username",
        "account_id",
        "role",
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    }
    assert body["data"]["user_id"] == user.id
    assert body["data"]["role"] == "admin"
    assert body["data"]["token_type"] == "bearer"
    assert body["data"]["expires_in"] == 30 * 60
    assert "password" not in response.text
    assert "argon2" not in response.text


async def test_unknown_user_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, database: Database
) -> None:
    await create_user(database, username="root")
    wrong = await client.post(
        "/auth/login", json={"account_id": "acme", "username": "root", "password": "nope"}
    )
    unknown = await client.post(
        "/auth/login", json={"account_id": "acme", "username": "ghost", "password": "nope"}
    )
    other_account = await client.post(
        "/auth/login", json={"account_id": "zzz", "username": "root", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == other_account.status_code == 401
    assert wrong.json() == unknown.json() == other_account.json()
    assert wrong.json()["error_code"] == "INVALID_CREDENTIALS"


async def test_inactive_local_user_is_403(client: httpx.AsyncClient, database: Database) -> None:
    await create_user(database, username="sleepy", is_disabled=True)
    response = await client.post(
        "/auth/login", json={"account_id": "acme", "username": "sleepy", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "ACCOUNT_INACTIVE"


async def test_refresh_rotates_and_the_old_token_stops_working(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="rot")
    first = await _refresh(client, session.refresh_token)
    assert first.status_code == 200, first.text
    pair = first.json()["data"]
    assert pair["refresh_token"] != session.refresh_token
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200

    reused = await _refresh(client, session.refresh_token)
    assert reused.status_code == 401
    assert reused.json()["error_code"] == "TOKEN_REVOKED"


async def _age_rotations(database: Database, seconds: int) -> None:
    """Pretend every rotation happened `seconds` ago (past the reuse grace window)."""
    async with database.session() as db:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.revoked_at.is_not(None))
            .values(revoked_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
        await db.commit()


async def test_replaying_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="thief")
    newest = (await _refresh(client, session.refresh_token)).json()["data"]["refresh_token"]
    await _age_rotations(database, 60)
    assert (await _refresh(client, session.refresh_token)).status_code == 401  # the replay
    after = await _refresh(client, newest)
    assert after.status_code == 401
    assert after.json()["error_code"] == "TOKEN_REVOKED"
    async with database.session() as db:
        live = await db.scalars(select(RefreshToken).where(RefreshToken.revoked_at.is_(None)))
        assert list(live) == []


async def test_replay_within_the_grace_window_does_not_revoke_the_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="twotabs")
    newest = (await _refresh(client, session.refresh_token)).json()["data"]["refresh_token"]
    again = await _refresh(client, session.refresh_token)
    assert again.status_code == 401
    assert again.json()["error_code"] == "TOKEN_REVOKED"
    assert (await _refresh(client, newest)).status_code == 200


async def test_replay_of_an_older_generation_revokes_even_within_the_grace_window(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="oldgen")
    second = (await _refresh(client, session.refresh_token)).json()["data"]["refresh_token"]
    third = (await _refresh(client, second)).json()["data"]["refresh_token"]
    assert (await _refresh(client, session.refresh_token)).status_code == 401
    assert (await _refresh(client, third)).status_code == 401


async def test_concurrent_refreshes_give_exactly_one_success(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="racer")
    results = await asyncio.gather(*(_refresh(client, session.refresh_token) for _ in range(5)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401, 401, 401, 401]
    winner = next(r for r in results if r.status_code == 200).json()["data"]
    async with database.session() as db:
        live = list(await db.scalars(select(RefreshToken).where(RefreshToken.revoked_at.is_(None))))
    assert len(live) == 1
    assert (await _refresh(client, winner["refresh_token"])).status_code == 200


async def test_refreshed_access_token_carries_the_role_stored_now(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="boss", role=RoleEnum.admin)
    async with database.session() as db:
        await db.execute(update(User).where(User.id == session.user_id).values(role="member"))
        await db.commit()
    pair = (await _refresh(client, session.refresh_token)).json()["data"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["data"]["role"] == "member"
    import jwt

    assert jwt.decode(pair["access_token"], options={"verify_signature": False})["role"] == "member"


async def test_refresh_past_the_absolute_lifetime_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="old")
    async with database.session() as db:
        await db.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    response = await _refresh(client, session.refresh_token)
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_EXPIRED"


async def test_rotation_keeps_the_family_expiry(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="keep")
    await _refresh(client, session.refresh_token)
    async with database.session() as db:
        expiries = {row.expires_at for row in await db.scalars(select(RefreshToken))}
    assert len(expiries) == 1


async def test_logout_revokes_the_session(client: httpx.AsyncClient, database: Database) -> None:
    session = await local_user_signed_in(client, database, username="bye")
    other = await sign_in_local(client, account_id="acme", username="bye")
    out = await client.post("/auth/logout", headers=session.headers)
    assert out.status_code == 200
    assert out.json()["data"] == {"revoked_sessions": 1}
    refused = await _refresh(client, session.refresh_token)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "TOKEN_REVOKED"
    # Another device's session is untouched.
    assert (await _refresh(client, other.refresh_token)).status_code == 200


async def _token_works(client: httpx.AsyncClient, headers: dict[str, str], user_id: int) -> bool:
    """The access token on both kinds of route: a read route (`GET /tasks/{id}`, one Core
    statement) and one on the unit of work (`GET /auth/me`); both must agree."""
    read = await client.get(f"/tasks/{user_id}", headers=headers)
    me = await client.get("/auth/me", headers=headers)
    assert read.status_code == me.status_code, (read.text, me.text)
    if read.status_code == 401:
        assert read.json()["error_code"] == me.json()["error_code"] == "TOKEN_REVOKED"
    return read.status_code == 200


async def test_logout_ends_the_access_tokens_of_the_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="gone")
    other = await sign_in_local(client, account_id="acme", username="gone")
    assert await _token_works(client, session.headers, session.user_id)

    assert (await client.post("/auth/logout", headers=session.headers)).status_code == 200

    assert not await _token_works(client, session.headers, session.user_id)
    assert await _token_works(client, other.headers, other.user_id)  # another device's


async def test_rotation_keeps_access_tokens_a_replay_ends_them(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="spun")
    rotated = (await _refresh(client, session.refresh_token)).json()["data"]
    fresh = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert await _token_works(client, session.headers, session.user_id)  # same session
    assert await _token_works(client, fresh, session.user_id)

    await _age_rotations(database, 60)
    assert (await _refresh(client, session.refresh_token)).status_code == 401  # the replay

    assert not await _token_works(client, session.headers, session.user_id)
    assert not await _token_works(client, fresh, session.user_id)


async def test_refresh_with_an_access_token_is_wrong_type(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="mixed")
    response = await _refresh(client, session.access_token)
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_WRONG_TYPE"


async def test_refresh_of_a_deactivated_user_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="gone")
    async with database.session() as db:
        await db.execute(update(User).where(User.id == session.user_id).values(is_disabled=True))
        await db.commit()
    response = await _refresh(client, session.refresh_token)
    assert response.status_code == 401


async def test_refresh_tokens_are_stored_hashed(
    client: httpx.AsyncClient, database: Database
) -> None:
    import jwt

    session = await local_user_signed_in(client, database, username="hash")
    jti = jwt.decode(session.refresh_token, options={"verify_signature": False})["jti"]
    async with database.session() as db:
        stored = list(await db.scalars(select(RefreshToken.jti_hash)))
    assert jti not in stored
    assert len(stored) == 1
    assert len(stored[0]) == 64
