"""Shared helpers of the benchmarks: scratch PostgreSQL databases and figure reporting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from app.config import Settings
from app.connection.migrations import recreate_postgres_database

BENCH_POSTGRES = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/"
)


def bench_database_url(name: str) -> str:
    return make_url(BENCH_POSTGRES).set(database=name).render_as_string(hide_password=False)


async def recreate_database(url: str) -> None:
    await recreate_postgres_database(url)


def bench_settings(database_url: str, ace_url: str | None = None) -> Settings:
    """The settings a bench runs acehub's own code with: its database and, if given, the
    sandbox as ACE; nothing read from the environment or a .env file."""
    extra: dict[str, Any] = {} if ace_url is None else {"ace_api_url": ace_url}
    return Settings(
        _env_file=None, database_url=database_url, secret_key="b" * 48, app_env="test", **extra
    )


def report(name: str, figures: Mapping[str, Any], *, as_json: bool) -> None:
    """Print the figures: one JSON line (for `make bench`) or one `key: value` per line."""
    if as_json:
        print(json.dumps({"bench": name, **figures}))
        return
    print(f"== {name}")
    for key, value in figures.items():
        print(f"  {key}: {value}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox_process(*, tasks: int, projects: int, users: int, time_entries: int) -> Iterator[str]:
    """The ACE sandbox with a `bench` account, in a process of its own (as ACE would be: its
    work does not compete with the measured process for the interpreter). Yields its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "app.cli", "sandbox", "--port", str(port),
        "--bench-tasks", str(tasks), "--bench-projects", str(projects),
        "--bench-users", str(users), "--bench-time-entries", str(time_entries),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}_sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the sandbox did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
