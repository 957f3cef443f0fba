"""Every error leaves the API as an `ErrorResponse` with the right status."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from app.config import Settings
from app.dto.response import ErrorResponse
from app.errors import AppError, ErrorCode
from app.main import create_app
from tests.conftest import make_settings


class Item(BaseModel):
    name: str = Field(max_length=10)
    count: int = Field(ge=0)


def _probe_router() -> APIRouter:
    router = APIRouter(prefix="/probe")

    @router.post("/items")
    async def create(item: Item) -> Item:
        return item

    @router.get("/missing")
    async def missing() -> None:
        raise AppError("No such item", code=ErrorCode.NOT_FOUND)

    @router.get("/conflict")
    async def conflict() -> None:
        raise AppError("Already there", code=ErrorCode.CONFLICT, data={"id": 3})

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("db password=hunter2 at /srv/secret/path")

    return router


@pytest.fixture
async def probe_client(tmp_path: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings: Settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/probe.db", max_body_bytes=4096
    )
    app: FastAPI = create_app(settings)
    app.include_router(_probe_router())
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def _envelope(response: httpx.Response, status: int, code: ErrorCode) -> ErrorResponse:
    assert response.status_code == status, response.text
    body = ErrorResponse.model_validate(response.json())
    assert body.error_code is code
    assert set(response.json()) == {"error", "error_code", "message", "data"}
    return body


async def test_validation_error_lists_field_paths(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/probe/items", json={"name": "x" * 11, "count": -1})
    problems = _envelope(response, 422, ErrorCode.VALIDATION_ERROR).data
    assert isinstance(problems, list)
    assert {tuple(item["loc"]) for item in problems} == {("body", "name"), ("body", "count")}
    assert all({"loc", "msg", "type"} == set(item) for item in problems)


async def test_malformed_json_is_422(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/probe/items", content=b'{"name": "a", "cou', headers={"content-type": "application/json"}
    )
    _envelope(response, 422, ErrorCode.VALIDATION_ERROR)


async def test_a_body_that_is_not_utf8_is_422(probe_client: httpx.AsyncClient) -> None:
    """Found by the schema fuzz: FastAPI answers a body it cannot decode with a 400 that no
    route declares; it is a validation error, 422, like malformed JSON."""
    response = await probe_client.post(
        "/probe/items",
        content=b'{"name": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    _envelope(response, 422, ErrorCode.VALIDATION_ERROR)


async def test_json_sent_as_text_plain_is_not_parsed(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/probe/items", content=b'{"name": "a", "count": 1}', headers={"content-type": "text/plain"}
    )
    _envelope(response, 422, ErrorCode.VALIDATION_ERROR)


async def test_unknown_route_is_404(probe_client: httpx.AsyncClient) -> None:
    _envelope(await probe_client.get("/no/such/route"), 404, ErrorCode.NOT_FOUND)


async def test_wrong_method_is_405_with_allow(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.delete("/probe/items")
    _envelope(response, 405, ErrorCode.METHOD_NOT_ALLOWED)
    assert response.headers["allow"] == "POST"


async def test_declared_oversized_body_is_413_before_parsing(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post(
        "/probe/items",
        content=b"{" + b" " * 5000 + b"}",
        headers={"content-type": "application/json"},
    )
    _envelope(response, 413, ErrorCode.PAYLOAD_TOO_LARGE)


async def test_streamed_oversized_body_is_413(probe_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await probe_client.post(
        "/probe/items", content=chunks(), headers={"content-type": "application/json"}
    )
    _envelope(response, 413, ErrorCode.PAYLOAD_TOO_LARGE)


async def test_app_errors_keep_their_code_and_data(probe_client: httpx.AsyncClient) -> None:
    _envelope(await probe_client.get("/probe/missing"), 404, ErrorCode.NOT_FOUND)
    body = _envelope(await probe_client.get("/probe/conflict"), 409, ErrorCode.CONFLICT)
    assert body.data == {"id": 3}


async def test_unhandled_error_is_500_with_request_id_and_no_internals(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe_client.get("/probe/crash")
    body = _envelope(response, 500, ErrorCode.INTERNAL_ERROR)
    request_id = response.headers["x-request-id"]
    assert body.data == {"request_id": request_id}
    assert request_id in body.message
    for secret in ("hunter2", "/srv/secret", "RuntimeError", "Traceback"):
        assert secret not in response.text
    assert any(getattr(r, "request_id", None) == request_id for r in caplog.records)


async def test_request_id_is_echoed_or_generated(probe_client: httpx.AsyncClient) -> None:
    given = await probe_client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await probe_client.get("/health/live", headers={"X-Request-ID": "bad id\n!"})
    assert generated.headers["x-request-id"] != "bad id\n!"
    assert len(generated.headers["x-request-id"]) == 32


async def test_request_log_line_carries_request_id(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="acehub.request"):
        response = await probe_client.get("/health/live", headers={"X-Request-ID": "req-77"})
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "acehub.request"]
    assert lines
    assert lines[-1].request_id == "req-77"  # type: ignore[attr-defined]
    assert lines[-1].status == 200  # type: ignore[attr-defined]


def test_json_log_format_is_one_object_per_line() -> None:
    from app.logging_config import JsonFormatter, RequestIdFilter
    from app.request_context import request_id_var

    record = logging.LogRecord("acehub.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
    record.duration_ms = 1.5
    token = request_id_var.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "hello w"
    assert entry["request_id"] == "rid-1"
    assert entry["duration_ms"] == 1.5
    assert entry["level"] == "info"


async def test_cors_allows_configured_origins_only(tmp_path: Any) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/cors.db", cors_origins=["http://app.example"]
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            allowed = await client.get("/health/live", headers={"Origin": "http://app.example"})
            denied = await client.get("/health/live", headers={"Origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-allow-origin" not in denied.headers
