"""Fixtures for the sandbox tests: one shared loopback server over the demo data (never
mutated), and private in-process sandboxes for tests that change data or settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from ace_sandbox.app import SandboxApp, create_app
from ace_sandbox.data import generate
from ace_sandbox.testing import AceCaller, SandboxServer


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_shared_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        server: SandboxServer = request.getfixturevalue("sandbox")
        server.faults.reset()
        server.stats.reset()


@pytest.fixture
async def ace(sandbox: SandboxServer) -> AsyncIterator[AceCaller]:
    """A caller of the shared sandbox over real HTTP."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as client:
        yield AceCaller(client)


@pytest.fixture
def app() -> SandboxApp:
    """A private sandbox app over freshly generated demo data (safe to mutate)."""
    return create_app(generate())


@pytest.fixture
async def local(app: SandboxApp) -> AsyncIterator[AceCaller]:
    """A caller bound in-process (ASGI transport) to the private ``app``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield AceCaller(client)
