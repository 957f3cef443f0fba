"""Every driver or SQLAlchemy error that means "the database cannot serve now" answers 503
DB_UNAVAILABLE with Retry-After and a message with nothing internal; SQL errors stay 500."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

from app.connection.faults import is_unavailable
from app.main import create_app
from tests.conftest import make_settings

SECRET = "host=10.1.2.3 password=hunter2"


def _wrapped(error: Exception) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises for an asyncpg error: the adapter's error, from the driver's."""
    dbapi = sa_asyncpg.AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    adapted = dbapi.Error(f"{type(error)}: {error}", error)  # type: ignore[no-untyped-call]
    adapted.sqlstate = getattr(error, "sqlstate", None)
    adapted.__cause__ = error
    return sa_exc.DBAPIError(f"SELECT 1 -- {SECRET}", {}, adapted)


UNAVAILABLE: list[BaseException] = [
    ConnectionRefusedError(f"connect to {SECRET} refused"),
    TimeoutError(SECRET),
    socket.gaierror(SECRET),
    OSError(101, f"Network is unreachable {SECRET}"),
    asyncpg.CannotConnectNowError(f"the database system is starting up {SECRET}"),
    asyncpg.ConnectionDoesNotExistError(SECRET),
    asyncpg.InterfaceError(f"connection is closed {SECRET}"),
    _wrapped(asyncpg.AdminShutdownError(f"terminating connection {SECRET}")),
    _wrapped(asyncpg.CrashShutdownError(SECRET)),
    _wrapped(asyncpg.CannotConnectNowError(SECRET)),
    _wrapped(asyncpg.TooManyConnectionsError(SECRET)),
    _wrapped(asyncpg.ConnectionFailureError(SECRET)),
    sa_exc.TimeoutError(f"QueuePool limit reached {SECRET}"),
    sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
    sa_exc.OperationalError("INSERT", {}, ConnectionResetError(SECRET)),
    sa_exc.InterfaceError("SELECT", {}, asyncpg.InterfaceError("connection is closed"), True),
]
NOT_UNAVAILABLE: list[BaseException] = [
    _wrapped(asyncpg.QueryCanceledError("canceling statement due to statement timeout")),
    _wrapped(asyncpg.UndefinedColumnError("column x does not exist")),
    sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")),
    FileNotFoundError("/etc/x"),
    ValueError("bug"),
]


@pytest.mark.parametrize("error", UNAVAILABLE, ids=repr)
def test_unavailable(error: BaseException) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize("error", NOT_UNAVAILABLE, ids=repr)
def test_not_unavailable(error: BaseException) -> None:
    assert not is_unavailable(error)


_RAISED: list[BaseException] = []  # what the route below raises


@pytest.fixture
async def raising_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/raise")
    async def raise_it() -> None:
        raise _RAISED[0]

    application = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/m.db"))
    application.include_router(router)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.mark.parametrize("error", UNAVAILABLE, ids=repr)
async def test_the_handlers_answer_503_with_nothing_internal(
    raising_client: httpx.AsyncClient, error: BaseException
) -> None:
    _RAISED[:] = [error]
    response = await raising_client.get("/raise")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error_code"] == "DB_UNAVAILABLE"
    assert response.headers["retry-after"]
    for secret in ("10.1.2.3", "hunter2", "SELECT", "locked", "asyncpg"):
        assert secret not in response.text


async def test_an_sql_error_stays_a_500(raising_client: httpx.AsyncClient) -> None:
    _RAISED[:] = [NOT_UNAVAILABLE[1]]
    response = await raising_client.get("/raise")
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert "column" not in response.text
