"""`GET /metrics`: what it exports after real requests, ACE calls and a sync; METRICS_TOKEN;
the pool's gauges; the breaker's gauge; and `acehub serve --workers 2` aggregating both
workers in multi-process mode."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from ace_sandbox.testing import SandboxServer
from app.ace.breaker import InProcessBreaker
from app.connection import migrations
from app.connection.database import Database
from app.main import create_app
from app.metrics import BreakerState, start_worker_metrics_server
from app.models import SyncJob, SyncKind, SyncState
from tests.conftest import TEST_SECRET, make_settings, run_in_thread
from tests.sync.conftest import SyncEnv, open_env

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
async def env(
    database_url: str, database: Database, sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for opened in open_env(database_url, database, sandbox):
        yield opened


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_after_requests_ace_calls_and_a_sync(env: SyncEnv) -> None:
    before = await scrape(env.client)
    refused = await env.client.post(
        "/user/login", json={"account_id": "demo", "username": "admin", "password": "wrong"}
    )
    assert refused.status_code == 401
    login = await env.client.post(
        "/user/login",
        json={"account_id": "demo", "username": "admin", "password": "demo-password"},
    )
    assert login.status_code == 200, login.text
    data = login.json()["data"]
    headers = {"Authorization": f"Bearer {data['access_token']}"}
    assert (await env.run_sync(headers, kind="full"))["state"] == "succeeded"
    user_id = data["user_id"]
    assert (await env.client.get(f"/tasks/{user_id}", headers=headers)).status_code == 200
    async with env.database.session() as session, session.begin():
        session.add(SyncJob(account_id="waiting", kind=SyncKind.full, state=SyncState.queued))

    after = await scrape(env.client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "acehub_http_requests_total"
    assert grew(requests, method="GET", handler="/tasks/{user_id}", status="200") == 1
    assert grew(requests, method="POST", handler="/user/login", status="401") == 1
    handlers = {dict(labels)["handler"] for name, labels in after if name == requests}
    assert not any(str(user_id) in handler for handler in handlers)  # templates, not paths
    assert "/metrics" not in handlers  # scrapes are not counted
    assert (
        grew("acehub_http_request_duration_seconds_count", method="GET", handler="/tasks/{user_id}")
        == 1
    )

    assert grew("acehub_ace_calls_total", fct="login", outcome="ok") >= 1
    assert grew("acehub_ace_calls_total", fct="login", outcome="refused") >= 1
    assert grew("acehub_ace_calls_total", fct="gettasks", outcome="ok") >= 1
    assert grew("acehub_ace_call_duration_seconds_count", fct="login") >= 2
    assert value(after, "acehub_ace_breaker_state", breaker="ace") == BreakerState.closed

    assert grew("acehub_sync_jobs_total", outcome="succeeded") == 1
    assert grew("acehub_sync_job_duration_seconds_count", outcome="succeeded") == 1
    lag = after[("acehub_sync_lag_seconds", frozenset({("account_id", "demo")}))]
    assert 0 <= lag < 60
    assert value(after, "acehub_sync_queue_depth") == 1
    assert {"acehub_db_pool_connections_in_use", "acehub_db_pool_waiting"} <= names(after)


async def test_metrics_token_is_required_when_set(database_url: str, database: Database) -> None:
    settings = make_settings(database_url, metrics_token="scrape-me-0123456789")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for headers, code in (
                ({}, "TOKEN_MISSING"),
                ({"Authorization": "Basic c2NyYXBlOm1l"}, "TOKEN_MISSING"),
                ({"Authorization": "Bearer scrape-me-0123456788"}, "TOKEN_INVALID"),
            ):
                response = await client.get("/metrics", headers=headers)
                assert response.status_code == 401, headers
                assert response.json()["error_code"] == code  # the error envelope
                assert response.headers["www-authenticate"].startswith("Bearer")
            response = await client.get(
                "/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"}
            )
            assert response.status_code == 200
            assert "acehub_sync_queue_depth" in response.text


async def test_breaker_gauge_follows_the_transitions() -> None:
    now = [100.0]
    breaker = InProcessBreaker(failure_threshold=1, reset_seconds=5, clock=lambda: now[0])

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("acehub_ace_breaker_state", {"breaker": "ace"})

    await breaker.record_failure()
    assert gauge() == BreakerState.open
    now[0] += 6
    assert await breaker.acquire() is None  # the one probe
    assert gauge() == BreakerState.half_open
    await breaker.record_success()
    assert gauge() == BreakerState.closed
    assert await breaker.state() is BreakerState.closed


async def test_pool_gauges_count_connections_in_use_and_callers_waiting(
    postgres_url: str,
) -> None:
    settings = make_settings(
        postgres_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=5
    )
    database = Database(settings)

    def gauge(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    in_use, waiting = gauge("acehub_db_pool_connections_in_use"), gauge("acehub_db_pool_waiting")
    try:
        held = await database.engine.connect()
        assert gauge("acehub_db_pool_connections_in_use") == in_use + 1

        async def second() -> None:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        blocked = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert gauge("acehub_db_pool_waiting") == waiting + 1
        await held.close()
        await asyncio.wait_for(blocked, 5)
        assert gauge("acehub_db_pool_waiting") == waiting
        assert gauge("acehub_db_pool_connections_in_use") == in_use
    finally:
        await database.dispose()


def test_worker_metrics_server_serves_the_process_metrics() -> None:
    server, thread = start_worker_metrics_server(_free_port())
    try:
        port = server.server_address[1]
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        assert "# TYPE acehub_ace_calls_total counter" in response.text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- multi-process mode ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _per_worker_counts(directory: Path, tmp_path: Path) -> list[float]:
    """Each worker's count of /health/live, from its own counter file."""
    counts = []
    for index, file in enumerate(sorted(directory.glob("counter_*.db"))):
        alone = tmp_path / f"worker-{index}"
        alone.mkdir(exist_ok=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts.append(
            registry.get_sample_value(
                "acehub_http_requests_total",
                {"method": "GET", "handler": "/health/live", "status": "200"},
            )
            or 0.0
        )
    return counts


def test_serve_with_two_workers_aggregates_their_metrics(postgres_url: str, tmp_path: Path) -> None:
    run_in_thread(migrations.upgrade, postgres_url)
    port = _free_port()
    log = tmp_path / "serve.log"
    environment = {
        key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"
    } | {
        "APP_ENV": "test",
        "DATABASE_URL": postgres_url,
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "text",
        "SYNC_INTERVAL_MINUTES": "0",
    }
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)],
            cwd=Path(__file__).resolve().parents[2],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        found: list[Path] = []

        def directory_logged() -> bool:
            match = re.search(r"gathered in (\S+)", log.read_text())
            if match:
                found.append(Path(match.group(1)))
            return bool(match)

        _wait_for(directory_logged, 20, "the metrics directory")
        directory = found[0]
        # uvicorn replaces a worker that misses its health check while it starts (on a busy
        # machine): wait for two live workers that got as far as starting their server.
        workers: list[int] = []

        def two_workers() -> bool:
            started = {
                int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())
            }
            workers[:] = sorted(started & _children(server.pid))
            return len(workers) == 2

        _wait_for(two_workers, 60, "2 workers")

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, 30, "the server")
        time.sleep(0.3)  # the second worker's start-up, which /metrics cannot tell apart

        # Which worker accepts a connection is the kernel's choice: one worker is paused
        # while the other serves a few requests, then the other way round, so both serve
        # some. (Briefly: uvicorn replaces a worker that misses its 5 s health check.)
        sent = 0
        for paused in [*workers, None]:
            if paused is not None:
                os.kill(paused, signal.SIGSTOP)
            try:
                with httpx.Client(base_url=base, headers={"Connection": "close"}) as client:
                    for _ in range(3):
                        assert client.get("/health/live").status_code == 200
                        sent += 1
            finally:
                if paused is not None:
                    os.kill(paused, signal.SIGCONT)
        counts = _per_worker_counts(directory, tmp_path)
        assert len(counts) == 2
        assert all(counts), counts  # both workers served some

        samples = parse(httpx.get(f"{base}/metrics", timeout=5).text)
        total = value(
            samples,
            "acehub_http_requests_total",
            method="GET",
            handler="/health/live",
            status="200",
        )
        assert total == sent == sum(counts)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert not directory.exists()  # the serve command removes what it created
