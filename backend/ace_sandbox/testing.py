"""Test helpers: ``SandboxServer`` runs the sandbox as a real HTTP server on a loopback
port; ``AceCaller`` is a tiny raw caller of the ACE endpoint (for sandbox tests and
benchmarks, not a client for the app).

    with SandboxServer() as ace:                 # or: async with SandboxServer() as ace
        httpx.post(ace.url, data={"fct": "login", ...})
        ace.faults.set(fail_next=2)              # in-process control
        ace.store["demo"].update_task(10000, task_resume="Renamed")

uvicorn runs in a background thread with its own event loop, on a socket bound to a free
port before the thread starts (no port race). ``start()`` returns once the server answers
``/_sandbox/health``; ``stop()`` asks uvicorn to exit and joins the thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from ace_sandbox.app import SandboxApp, SandboxConfig, create_app
from ace_sandbox.data import DEMO_PASSWORD
from ace_sandbox.faults import FaultController, Stats
from ace_sandbox.store import Store


class SandboxServer:
    """Runs a sandbox app under uvicorn on ``host`` and a free (or given) port."""

    def __init__(
        self,
        store: Store | None = None,
        config: SandboxConfig | None = None,
        *,
        app: SandboxApp | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        start_timeout: float = 10.0,
    ) -> None:
        self.app = app if app is not None else create_app(store, config)
        self.host = host
        self._port = port
        self._log_level = log_level
        self._start_timeout = start_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def faults(self) -> FaultController:
        return self.app.faults

    @property
    def stats(self) -> Stats:
        return self.app.stats

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the sandbox server is not running")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the ACE endpoint, ending in ``/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SandboxServer:
        if self.running:
            return self
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
        # listener says so, and without it small answers wait ~40 ms for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level=self._log_level,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._error = None
        self._thread = threading.Thread(target=self._run, name="ace-sandbox", daemon=True)
        self._thread.start()
        self._wait_until_ready()
        return self

    def _run(self) -> None:
        server = self._server
        sock = self._socket
        if server is None or sock is None:
            return
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        health = f"{self.url}_sandbox/health"
        while time.monotonic() < deadline:
            if self._error is not None or not self.running:
                self._close_socket()
                raise RuntimeError(f"the sandbox server did not start: {self._error!r}")
            server = self._server
            if server is not None and server.started:
                try:
                    if httpx.get(health, timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("the sandbox server did not answer in time")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._server = None
        self._close_socket()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SandboxServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "NULL"
    return str(value)


class AceCallError(AssertionError):
    """The answer was not what the caller insisted on (HTTP status or envelope status)."""


class AceCaller:
    """Calls the ACE endpoint through an ``httpx.AsyncClient`` whose base URL is the sandbox.

    Parameters are sent as a POST form (or a GET query) with ``format=iso8601`` unless
    given; ``True``/``False``/``None`` become ``True``/``False``/``NULL``.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, fct: str, method: str = "POST", /, **params: object) -> dict[str, Any]:
        """The decoded envelope; ``method`` is ``"POST"`` (form body) or ``"GET"`` (query)."""
        data = {"fct": fct, "format": "iso8601"}
        data.update({name: _text(value) for name, value in params.items()})
        if method == "GET":
            response = await self.client.get("/", params=data)
        else:
            response = await self.client.post("/", data=data)
        if response.status_code != 200:
            raise AceCallError(f"HTTP {response.status_code}: {response.text[:200]}")
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, fct: str, **params: object) -> list[dict[str, Any]]:
        """The rows of an ``ok`` answer (raises ``AceCallError`` on ``fail``)."""
        body = await self.call(fct, "POST", **params)
        if body.get("status") != "ok":
            raise AceCallError(f"expected ok from {fct}: {body}")
        rows: list[dict[str, Any]] = body["results"]
        return rows

    async def fail(self, fct: str, **params: object) -> dict[str, Any]:
        """The single error row of a ``fail`` answer (raises ``AceCallError`` otherwise)."""
        body = await self.call(fct, "POST", **params)
        rows = body.get("results")
        if body.get("status") != "fail" or not isinstance(rows, list) or len(rows) != 1:
            raise AceCallError(f"expected one fail row from {fct}: {body}")
        row: dict[str, Any] = rows[0]
        return row

    async def login(
        self, username: str, account: str = "demo", password: str = DEMO_PASSWORD
    ) -> str:
        rows = await self.ok("login", accountid=account, username=username, password=password)
        guid: str = rows[0]["GUID"]
        return guid
