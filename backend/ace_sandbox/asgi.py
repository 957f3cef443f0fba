"""Minimal ASGI plumbing (the sandbox needs byte-level control over its answers, e.g. to
drip or truncate a body, so it speaks ASGI directly instead of through a framework)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
XML = "text/xml; charset=utf-8"


class BodyTooLargeError(Exception):
    pass


class ClientGoneError(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return ""


def _headers(
    content_type: str, extra: Iterable[tuple[str, str]], length: int | None
) -> list[tuple[bytes, bytes]]:
    result = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        result.append((b"content-length", str(length).encode("latin-1")))
    result.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra)
    return result


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = JSON,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(content_type, headers, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class DisconnectWatch:
    """Notices when the client goes away while the app is still sleeping or streaming."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[Message] | None = None

    def start(self) -> asyncio.Task[Message]:
        if self._task is None:
            self._task = asyncio.ensure_future(self._wait())
        return self._task

    async def _wait(self) -> Message:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return message

    @property
    def gone(self) -> bool:
        return self._task is not None and self._task.done()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but raise ``ClientGoneError`` as soon as the client disconnects."""
        if seconds <= 0:
            self.start()
            await asyncio.sleep(0)
            if self.gone:
                raise ClientGoneError
            return
        done, _ = await asyncio.wait({self.start()}, timeout=seconds)
        if done:
            raise ClientGoneError

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


async def stream(
    send: Send,
    status: int,
    chunks: AsyncIterator[bytes],
    *,
    content_type: str = JSON,
    length: int | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """Send a body piece by piece (chunked transfer encoding when ``length`` is None)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(content_type, headers, length),
        }
    )
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
