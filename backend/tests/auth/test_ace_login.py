"""`POST /user/login` against the ACE sandbox as a real server (reliability A18-A21, D*, F1)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from sqlalchemy import func, select, update

from ace_sandbox.testing import SandboxServer
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.models import AceSession, RefreshToken, RoleEnum, User

DEMO = {"account_id": "demo", "username": "alice", "password": "demo-password"}


async def _login(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    return await client.post("/user/login", json={**DEMO, **overrides})


async def _counts(database: Database) -> tuple[int, int, int]:
    async with database.session() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        tokens = await session.scalar(select(func.count()).select_from(RefreshToken))
        ace = await session.scalar(select(func.count()).select_from(AceSession))
    return int(users or 0), int(tokens or 0), int(ace or 0)


async def test_login_creates_the_user_and_returns_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await _login(client)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["username"] == "alice"
    assert data["account_id"] == "demo"
    assert data["ace_user_id"] == 2
    assert data["role"] == "member"
    assert data["token_type"] == "bearer"
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["first_name"] == "Alice"
    assert me.json()["data"]["email"] == "alice@demo.example.com"
    assert await _counts(database) == (1, 1, 1)


async def test_ace_administrator_becomes_admin(client: httpx.AsyncClient) -> None:
    response = await _login(client, username="admin")
    assert response.json()["data"]["role"] == "admin"


async def test_later_logins_update_the_user_and_keep_a_local_role(
    client: httpx.AsyncClient, database: Database, sandbox: SandboxServer
) -> None:
    first = (await _login(client)).json()["data"]
    async with database.session() as session:
        await session.execute(
            update(User)
            .where(User.id == first["user_id"])
            .values(role=RoleEnum.manager, role_set_locally=True)
        )
        await session.commit()
    account = sandbox.store["demo"]
    account.update_user(2, first_name="Alicia")
    try:
        second = (await _login(client)).json()["data"]
    finally:
        account.update_user(2, first_name="Alice")
    assert second["user_id"] == first["user_id"]
    assert second["role"] == "manager"
    async with database.session() as session:
        user = await session.get(User, first["user_id"])
        assert user is not None
        assert user.first_name == "Alicia"
        assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_twenty_concurrent_first_logins_leave_one_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    responses = await asyncio.gather(*(_login(client) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["data"]["user_id"] for r in responses}) == 1
    users, tokens, ace_sessions = await _counts(database)
    assert (users, tokens, ace_sessions) == (1, 20, 1)


async def test_ace_guid_is_stored_encrypted_and_never_returned_or_logged(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await _login(client)
    async with database.session() as session:
        stored = await session.scalar(select(AceSession.guid_encrypted))
    assert stored is not None
    guid = GuidCipher(settings.secret_key.get_secret_value()).decrypt(stored)
    assert guid is not None
    assert len(guid) == 36
    assert guid not in stored
    assert guid not in response.text
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert guid not in logged
    assert "demo-password" not in logged


async def test_unknown_user_and_wrong_password_look_the_same(client: httpx.AsyncClient) -> None:
    wrong = await _login(client, password="nope")
    unknown = await _login(client, username="mallory")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error_code"] == "INVALID_CREDENTIALS"


async def test_unknown_account_is_invalid_account_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await _login(client, account_id="no-such-account")
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_ACCOUNT_ID"
    assert await _counts(database) == (0, 0, 0)


async def test_inactive_ace_user_is_refused_like_a_wrong_password(
    client: httpx.AsyncClient, database: Database, sandbox: SandboxServer
) -> None:
    """ACE refuses an inactive user's login with an error number it does not document, so
    acehub cannot tell it from a wrong password (nor can a guesser)."""
    sandbox.store["demo"].deactivate_user(3)
    try:
        response = await _login(client, username="bob")
    finally:
        sandbox.store["demo"].activate_user(3)
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"
    assert await _counts(database) == (0, 0, 0)


async def test_user_deactivated_in_acehub_cannot_sign_in_through_ace(
    client: httpx.AsyncClient, database: Database
) -> None:
    user_id = (await _login(client)).json()["data"]["user_id"]
    async with database.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(is_disabled=True))
        await session.commit()
    response = await _login(client)
    assert response.status_code == 403
    assert response.json()["error_code"] == "ACCOUNT_INACTIVE"


async def test_ace_outage_gives_503_and_issues_nothing(
    client: httpx.AsyncClient, database: Database, sandbox: SandboxServer
) -> None:
    sandbox.faults.set(error_rate=1.0)
    response = await _login(client)
    assert response.status_code == 503
    assert response.json()["error_code"] == "ACE_UNAVAILABLE"
    assert "access_token" not in response.text
    assert await _counts(database) == (0, 0, 0)


async def test_ace_garbage_gives_502(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    sandbox.faults.set(html_error=200)
    response = await _login(client)
    assert response.status_code == 502
    assert response.json()["error_code"] == "ACE_BAD_RESPONSE"


async def test_rate_limited_login_never_reaches_ace(
    database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, ace_api_url=sandbox.url, login_limit_per_user="2/minute")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await _login(client, password="bad")).status_code == 401
            assert (await _login(client, password="bad")).status_code == 401
            calls = sandbox.stats.count("login")
            limited = await _login(client)
    assert limited.status_code == 429
    assert limited.headers["retry-after"]
    assert sandbox.stats.count("login") == calls


async def test_password_travels_in_the_post_body_byte_exact(
    database_url: str, database: Database
) -> None:
    from asgi_lifespan import LifespanManager

    from ace_sandbox.models import User as AceUser
    from app.main import create_app
    from tests.conftest import make_settings

    tricky = "p&ss=w#rd+%20 é中"
    with SandboxServer() as own:  # changes its data, so not the shared sandbox
        own.store["demo"].add_user(
            AceUser(
                user_id=901,
                username="tricky",
                first_name="T",
                last_name="R",
                email_alert="t@example.com",
                password=tricky,
                access_level=1,
                access_status=1,
            )
        )
        app = create_app(make_settings(database_url, ace_api_url=own.url))
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await _login(client, username="tricky", password=tricky)
        login = next(call for call in own.stats.recent() if call["fct"] == "login")
    assert response.status_code == 200, response.text
    assert login["method"] == "POST"
    assert login["params"]["password"] == tricky  # decoded byte-exact by the server
    assert "password" not in login["query"]
    assert login["user_agent"].startswith("acehub/")


async def test_parallel_guesses_cannot_outrun_the_limit(
    database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        database_url,
        ace_api_url=sandbox.url,
        login_limit_per_user="10/minute",
        login_limit_per_ip="15/minute",
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            same_user = await asyncio.gather(*(_login(client, password="bad") for _ in range(40)))
            user_calls = sandbox.stats.count("login")
            many_users = await asyncio.gather(
                *(_login(client, username=f"guess{n}", password="bad") for n in range(40))
            )
    statuses = sorted(r.status_code for r in same_user)
    assert statuses == [401] * 10 + [429] * 30
    assert user_calls == 10  # a limited attempt never reached ACE
    # The address had 5 failures left: at most 5 more attempts could reach ACE.
    assert sorted(r.status_code for r in many_users) == [401] * 5 + [429] * 35
    assert sandbox.stats.count("login") == 15


async def test_parallel_honest_logins_all_succeed(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(_login(client) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20


async def test_account_id_spellings_are_one_account(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = set()
    for spelling in ("demo", "DEMO", " Demo "):
        response = await _login(client, account_id=spelling)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["account_id"] == "demo"
        ids.add(response.json()["data"]["user_id"])
    assert len(ids) == 1
    assert await _counts(database) == (1, 3, 1)


async def test_logout_of_the_last_session_forgets_the_ace_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = (await _login(client)).json()["data"]
    second = (await _login(client)).json()["data"]
    for data, sessions_left in ((first, 1), (second, 0)):
        out = await client.post(
            "/auth/logout", headers={"Authorization": f"Bearer {data['access_token']}"}
        )
        assert out.status_code == 200
        assert (await _counts(database))[2] == sessions_left


async def test_sign_in_when_ace_refuses_user_lists_to_normal_users(
    client: httpx.AsyncClient, database: Database, sandbox: SandboxServer
) -> None:
    """Some accounts refuse `getusers` to a normal user: the login row is enough to sign in."""
    sandbox.app.config.getusers_admin_only = True
    try:
        response = await _login(client, username="bob")
    finally:
        sandbox.app.config.getusers_admin_only = False
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["ace_user_id"], data["role"]) == (3, "member")
    assert await _counts(database) == (1, 1, 1)


async def test_sign_in_with_the_e_mail_address(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    alice = sandbox.store["demo"].find_login("alice")
    assert alice is not None
    response = await _login(client, username=alice.email_alert.upper())
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["username"], response.json()["data"]["ace_user_id"]) == (
        "alice",
        alice.user_id,
    )
