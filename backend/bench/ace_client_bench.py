"""How fast tasks come out of ACE: a bare httpx paging loop (the ceiling) against the client.

Starts the sandbox with a generated account (``--tasks`` tasks, default 100,000) on a
loopback port, then pages through every task with ``gettasks`` (``rowsperpage`` =
``ACE_PAGE_SIZE``, sorted by ``TASK_ID``) two ways:

1. **bare** — an ``httpx.AsyncClient`` posting the form and decoding the JSON, nothing else;
2. **client** — ``AceClient.iter_task_pages``: the same requests plus breaker, deadline,
   size cap, envelope checks, DTO parsing and de-duplication.

Each way runs ``--rounds`` times after one warm-up pass; the best round counts. Prints
pages/s and rows/s for both and the client/bare ratio, or with ``--json`` one JSON line:

    uv run python -m bench.ace_client_bench --tasks 100000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ace_sandbox.data import DEMO_PASSWORD, DatasetSize, generate
from ace_sandbox.testing import SandboxServer
from app.ace.client import AceClient
from app.ace.transport import create_http_client
from app.config import Settings

ACCOUNT = "bench"


@dataclass(frozen=True, slots=True)
class Round:
    pages: int
    rows: int
    seconds: float

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


async def bare_loop(http: httpx.AsyncClient, url: str, guid: str, page_size: int) -> Round:
    """The ceiling: post the form, decode JSON, stop on a short page or the total."""
    started = time.perf_counter()
    pages = rows = 0
    page = 1
    while True:
        response = await http.post(
            url,
            data={
                "fct": "gettasks",
                "format": "iso8601",
                "guid": guid,
                "sortorder": "TASK_ID",
                "pagenumber": str(page),
                "rowsperpage": str(page_size),
            },
        )
        response.raise_for_status()
        results: list[dict[str, Any]] = orjson.loads(response.content)["results"]
        pages += 1
        rows += len(results)
        total = results[0].get("TOTAL_ROW_COUNT") if results else None
        if len(results) < page_size or (total is not None and page * page_size >= total):
            break
        page += 1
    return Round(pages, rows, time.perf_counter() - started)


async def client_loop(client: AceClient, guid: str) -> Round:
    started = time.perf_counter()
    pages = rows = 0
    async for page in client.iter_task_pages(guid):
        pages += 1
        rows += len(page)
    return Round(pages, rows, time.perf_counter() - started)


async def run(tasks: int, rounds: int) -> dict[str, Any]:
    size = DatasetSize(
        projects=max(1, tasks // 100),
        tasks=tasks,
        users=max(2, min(500, tasks // 200)),
        time_entries=0,
    )
    built = time.perf_counter()
    store = generate(size, include_demo=False, bench_account=ACCOUNT)
    generate_seconds = time.perf_counter() - built
    async with SandboxServer(store) as server:
        settings = Settings(secret_key="bench-only-" + "x" * 40, ace_api_url=server.url)
        page_size = settings.ace_page_size
        async with create_http_client(settings) as http:
            client = AceClient.from_settings(settings, http)
            guid = (await client.login(ACCOUNT, "admin", DEMO_PASSWORD)).guid
            # Warm-up: the sandbox caches the ordered id list of a query on first use.
            await bare_loop(http, server.url, guid, page_size)
            await client_loop(client, guid)
            bare = [await bare_loop(http, server.url, guid, page_size) for _ in range(rounds)]
            wrapped = [await client_loop(client, guid) for _ in range(rounds)]
    best_bare = max(bare, key=lambda r: r.rows_per_second)
    best_client = max(wrapped, key=lambda r: r.rows_per_second)
    if best_bare.rows != tasks or best_client.rows != tasks:
        raise SystemExit(
            f"row count mismatch: bare {best_bare.rows}, client {best_client.rows}, "
            f"expected {tasks}"
        )
    return {
        "bench": "ace_client",
        "tasks": tasks,
        "page_size": page_size,
        "rounds": rounds,
        "generate_seconds": round(generate_seconds, 2),
        "bare_pages_per_s": round(best_bare.pages_per_second, 1),
        "bare_rows_per_s": round(best_bare.rows_per_second),
        "bare_seconds": round(best_bare.seconds, 3),
        "client_pages_per_s": round(best_client.pages_per_second, 1),
        "client_rows_per_s": round(best_client.rows_per_second),
        "client_seconds": round(best_client.seconds, 3),
        "client_to_bare_ratio": round(best_client.rows_per_second / best_bare.rows_per_second, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the account")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per loop")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.rounds < 1:
        parser.error("--tasks and --rounds must be at least 1")
    figures = asyncio.run(run(args.tasks, args.rounds))
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"gettasks over {figures['tasks']:,} tasks, {figures['page_size']} rows per page "
        f"(best of {figures['rounds']}; data generated in {figures['generate_seconds']} s)"
    )
    for name in ("bare", "client"):
        print(
            f"  {name:<6} {figures[f'{name}_pages_per_s']:>8.1f} pages/s "
            f"{figures[f'{name}_rows_per_s']:>10,} rows/s  ({figures[f'{name}_seconds']} s)"
        )
    print(f"  client / bare = {figures['client_to_bare_ratio']:.2f}")


if __name__ == "__main__":
    main()
