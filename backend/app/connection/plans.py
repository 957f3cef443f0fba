"""The plans PostgreSQL runs read statements with, to check that they use the indexes.

`explain` runs a `ReadStatement` exactly as the hot path sends it (the same SQL, the same
positional values) under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`. The driver prepares
statements and PostgreSQL may switch a prepared statement to a generic plan (one made without
the values) after five runs, so `generic=True` asks for that plan instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.connection.read_statement import ReadStatement


async def explain(
    connection: AsyncConnection,
    statement: ReadStatement,
    params: dict[str, Any],
    *,
    generic: bool = False,
) -> dict[str, Any]:
    """The executed plan of `statement` with `params` (PostgreSQL): its JSON object, with
    `Plan`, `Planning Time` and `Execution Time`."""
    sql, args = statement.bound(connection, params)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    mode = "force_generic_plan" if generic else "force_custom_plan"
    async with driver.transaction():
        await driver.execute(f"SET LOCAL plan_cache_mode = {mode}")
        answer = await driver.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
    # SQLAlchemy registers a JSON codec on its connections; a bare one answers text.
    plans: list[dict[str, Any]] = json.loads(answer) if isinstance(answer, str) else answer
    return plans[0]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan (the JSON object `explain` returns, or one of its nodes)."""
    node = plan.get("Plan", plan)
    yield node
    for child in node.get("Plans", ()):
        yield from nodes(child)


def sequential_scans(plan: dict[str, Any]) -> set[str]:
    """The tables the plan reads whole."""
    return {node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"}


def shared_buffers(plan: dict[str, Any]) -> int:
    """Pages the statement touched in shared buffers (hit or read)."""
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))
