"""Real-browser fixtures: acehub served by uvicorn on a loopback port, and Debian's Chromium
driven by Playwright.

- `live_server`: the app with its lifespan, on the test's database (emptied after the test by
  the `database` fixture) and the ACE sandbox.
- `browser`: one headless Chromium per run, `/usr/bin/chromium` (Playwright's own browser
  downloads are never used). Without it the browser tests are skipped, unless
  `REQUIRE_BROWSER=1`, which turns that into a failure.
- `page`: a fresh context and page in which every request for a host other than the loopback
  one is aborted and recorded in `blocked_requests`, so a test can assert nothing tried to
  leave the machine; loads the page's Content-Security-Policy refused (which never reach the
  network) are recorded in `refused_by_policy`, and uncaught script errors in `page_errors`.
- `save_screenshot(page, name)`: a PNG under `backend/test-artifacts/screenshots/`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Route,
    ViewportSize,
    async_playwright,
)

from app.config import Settings
from app.connection.database import Database
from app.main import create_app
from tests.sync.conftest import env, own_env, own_sandbox  # noqa: F401  (fixtures)

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: the browser itself cannot resolve any name but the loopback one.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}


@dataclass
class LiveServer:
    """acehub under uvicorn in a background thread, on a socket bound before it starts."""

    app: FastAPI
    settings: Settings
    host: str = "127.0.0.1"
    start_timeout: float = 15.0
    _socket: socket.socket | None = field(default=None, init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _error: BaseException | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        if self._socket is None:
            raise RuntimeError("the live server is not running")
        return f"http://{self.host}:{self._socket.getsockname()[1]}"

    def start(self) -> None:
        # Bound here, before the thread starts, so the port is ours (no race for a free one).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="acehub-live", daemon=True)
        self._thread.start()
        self._wait_until_ready()

    def _run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._error is not None or self._thread is None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the live server did not start: {self._error!r}")
            if self._server is not None and self._server.started:
                try:
                    if httpx.get(f"{self.url}/health/live", timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("the live server did not answer in time")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None


@pytest.fixture
async def live_server(settings: Settings, database: Database) -> AsyncIterator[LiveServer]:
    """`database` is requested for its teardown: it empties the tables the server wrote."""
    server = LiveServer(app=create_app(settings), settings=settings)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed; REQUIRE_BROWSER=1 makes this a failure")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def blocked_requests() -> list[str]:
    """URLs the `page` refused to fetch because their host is not the loopback one."""
    return []


@pytest.fixture
def refused_by_policy() -> list[str]:
    """Chromium's console messages for loads the page's Content-Security-Policy refused."""
    return []


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions in the page's scripts."""
    return []


@pytest.fixture
async def page(
    browser: Browser,
    blocked_requests: list[str],
    refused_by_policy: list[str],
    page_errors: list[str],
) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORT, service_workers="block")

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            blocked_requests.append(url)
            await route.abort("blockedbyclient")

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused_by_policy.append(message.text)

    def on_page_error(error: Error) -> None:
        page_errors.append(str(error))

    await context.route("**/*", only_loopback)
    new_page = await context.new_page()
    new_page.on("console", on_console)
    new_page.on("pageerror", on_page_error)
    try:
        yield new_page
    finally:
        await context.close()


async def save_screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """A PNG of `page` (the viewport, or the whole page) as
    `test-artifacts/screenshots/<name>.png`, kept for people to look at after the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
