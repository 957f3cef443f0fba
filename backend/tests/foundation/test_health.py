from __future__ import annotations

from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from tests.conftest import make_settings


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json()["data"] == {"status": "alive"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "success": True,
        "message": "ready",
        "data": {"status": "ready", "database": "ok", "redis": "not_configured"},
        "error": None,
    }


async def test_ready_is_503_when_the_database_is_down_and_live_stays_200() -> None:
    # Nothing listens on port 9 of the loopback: a real refused connection.
    settings = make_settings(
        "postgresql+asyncpg://acehub@127.0.0.1:9/none", db_connect_timeout_seconds=1
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/health/ready")
            live = await client.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["error_code"] == "DB_UNAVAILABLE"
    assert "127.0.0.1" not in ready.text
    assert live.status_code == 200


async def test_ready_checks_redis_when_configured(tmp_path: Any) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/r.db", redis_url="redis://127.0.0.1:6379/15"
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["data"]["redis"] == "ok"


async def test_routes_answer_503_when_the_database_is_down() -> None:
    settings = make_settings(
        "postgresql+asyncpg://acehub@127.0.0.1:9/none", db_connect_timeout_seconds=1
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/auth/login", json={"account_id": "a", "username": "u", "password": "p"}
            )
    assert response.status_code == 503, response.text
    assert response.json()["error_code"] == "DB_UNAVAILABLE"
    assert response.headers["retry-after"]


async def test_ready_is_503_redis_unavailable_when_redis_is_down(tmp_path: Any) -> None:
    # Nothing listens on port 9 of the loopback: a real refused connection.
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/r.db", redis_url="redis://127.0.0.1:9/0"
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/health/ready")
            live = await client.get("/health/live")
    assert ready.status_code == 503, ready.text
    assert ready.json()["error_code"] == "REDIS_UNAVAILABLE"
    assert "127.0.0.1" not in ready.text
    assert live.status_code == 200
