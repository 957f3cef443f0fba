"""Pure ASGI middleware: request ids, one log line per request, and the body size cap."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.error_handlers import error_response
from app.errors import AppError, ErrorCode
from app.request_context import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger("acehub.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (kept from a sane `X-Request-ID`, else new), echoes it on the
    response, and logs one line per request with status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        valid = incoming is not None and _VALID_REQUEST_ID.match(incoming) is not None
        request_id = incoming if valid and incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s -> %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuses bodies over the cap with 413 `PAYLOAD_TOO_LARGE` before anything parses them: at
    once when `Content-Length` says so, and as soon as a streamed body passes the cap.

    (FastAPI's own `max_body_size` answers a declared oversize with a plain-text body, so
    this keeps every 413 in the `ErrorResponse` envelope.) `path_limits` sets tighter or
    looser caps for given paths, such as the batch save.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(
                ErrorCode.PAYLOAD_TOO_LARGE,
                _too_large(limit),
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise AppError(_too_large(limit), code=ErrorCode.PAYLOAD_TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)


def _too_large(limit: int) -> str:
    return f"The request body is larger than the {limit}-byte limit"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# The dashboard's pages load nothing but acehub's own files, run no inline script and may
# not be framed; SVG charts are inline markup, styled by the stylesheet's classes.
PAGE_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)


class PageSecurityHeadersMiddleware:
    """Adds `PAGE_SECURITY_HEADERS` to every answer under `prefix` (the dashboard)."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in PAGE_SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + list(PAGE_SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
