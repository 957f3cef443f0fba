"""SandboxServer life cycle, the command line, and ``run()``'s app factory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from ace_sandbox.__main__ import parser
from ace_sandbox.data import DatasetSize, generate
from ace_sandbox.server import build_app
from ace_sandbox.testing import AceCaller, SandboxServer

BACKEND = Path(__file__).resolve().parents[2]


def test_sync_context_manager_starts_and_stops() -> None:
    server = SandboxServer(generate())
    with server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
        assert server.url.endswith("/")
        assert httpx.get(f"{server.url}_sandbox/health").json() == {"status": "ok"}
        port = server.port
    assert not server.running
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


async def test_async_context_manager_and_in_process_control() -> None:
    async with SandboxServer() as server, httpx.AsyncClient(base_url=server.url) as client:
        ace = AceCaller(client)
        guid = await ace.login("alice")
        server.store["demo"].update_task(10000, task_resume="Changed in-process")
        rows = await ace.ok("gettasks", guid=guid, taskid=10000)
        assert rows[0]["TASK_RESUME"] == "Changed in-process"
        server.faults.set(fail_next=1)
        response = await client.post("/", data={"fct": "gettasks", "guid": guid})
        assert response.status_code == 500
        assert server.stats.count("gettasks") == 2
        assert server.app.store is server.store


def test_two_servers_get_distinct_ports() -> None:
    with SandboxServer(generate()) as one, SandboxServer(generate()) as two:
        assert one.port != two.port


def test_stop_is_quick_even_with_a_dripping_response() -> None:
    with SandboxServer(generate()) as server:
        server.faults.set(drip_bytes=1, drip_delay=0.5)
        with (
            httpx.Client(base_url=server.url, timeout=0.3) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.post("/", data={"fct": "gettaskstatuses", "format": "iso8601"})
        started = time.perf_counter()
    assert time.perf_counter() - started < 5


def test_cli_parser() -> None:
    args = parser().parse_args(
        [
            "--port", "9000", "--bench", "--tasks", "50", "--today", "2025-01-06",
            "--fault", "latency=0.5", "--fault", "fcts=[\"gettasks\"]", "--fault",
            "block_user_agent=httpful", "--guid-idle-seconds", "2",
        ]
    )  # fmt: skip
    assert args.port == 9000
    assert args.bench
    assert args.tasks == 50
    assert args.today == date(2025, 1, 6)
    assert dict(args.fault) == {
        "latency": 0.5,
        "fcts": ["gettasks"],
        "block_user_agent": "httpful",
    }
    assert args.guid_idle_seconds == 2.0
    with pytest.raises(SystemExit):
        parser().parse_args(["--fault", "nosuch=1"])


def test_build_app_with_bench_account_and_faults() -> None:
    app = build_app(
        bench=DatasetSize(projects=5, tasks=50, users=4, time_entries=20),
        faults={"error_every": 2},
        guid_idle_seconds=5,
        empty_dates_as_string=True,
    )
    assert set(app.store.accounts) == {"demo", "acme", "bench"}
    assert len(app.store["bench"].tasks) == 50
    assert app.faults.current.error_every == 2
    assert app.config.guid_idle_seconds == 5
    assert app.config.empty_dates_as_string


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_dash_m_serves() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ace_sandbox", "--port", str(port), "--log-level", "warning"],
        cwd=BACKEND,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        body = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                body = httpx.post(
                    f"http://127.0.0.1:{port}/",
                    data={"fct": "getpublicsettings", "accountid": "demo", "format": "iso8601"},
                ).json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert body is not None, process.stderr.read() if process.stderr else ""
        assert body["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
