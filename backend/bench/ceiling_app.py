"""The ceiling of `GET /tasks/{user_id}`: a bare ASGI app that runs the same SQL through an
asyncpg pool and answers orjson bytes, with no framework, ORM, validation or JWT in between.

"The same SQL" is taken from the real path itself: the statements the read path builds (the
caller lookup by guid that the read routes' bearer check runs, the page, the page's assignees)
are compiled for asyncpg once at import, and each request only swaps the user and task ids
into their parameters. Served by the same server command and worker count as the API:

    BENCH_DATABASE_URL=postgresql://... BENCH_ACCOUNT=bench BENCH_CALLER_GUID=<uuid> \\
        BENCH_CALLER_SID=<the token's sid> \\
        uvicorn bench.ceiling_app:app --workers 2 --loop uvloop --http httptools
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import parse_qs

import asyncpg
import orjson
from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from app.dependencies.auth_dependencies import CALLER_STATEMENT
from app.services import task_service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/acehub_bench_read"
)
ACCOUNT = os.environ.get("BENCH_ACCOUNT", "bench")
CALLER_GUID = uuid.UUID(os.environ.get("BENCH_CALLER_GUID", str(uuid.UUID(int=0))))
CALLER_SID = uuid.UUID(os.environ.get("BENCH_CALLER_SID", str(uuid.UUID(int=0))))
# The API's pool keeps DB_POOL_SIZE connections open (the bench sets the same number).
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "20"))

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class CompiledSql:
    """A SQLAlchemy statement compiled for asyncpg: SQL text, parameter names and values."""

    def __init__(self, statement: ClauseElement, values: dict[str, Any] | None = None) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        state = compiled.construct_expanded_state(values or {})
        assert state.positiontup is not None
        self.sql = state.statement
        self.names = list(state.positiontup)
        self.values = [state.parameters.get(name) for name in self.names]

    def args(self, named: dict[str, Any], substitutions: dict[int, int] | None = None) -> list[Any]:
        """Positional arguments: `named` values by parameter name, then `substitutions` of
        placeholder values the statement was compiled with."""
        swap = substitutions or {}
        return [
            named[name]
            if name in named
            else swap.get(value, value)
            if isinstance(value, int)
            else value
            for name, value in zip(self.names, self.values, strict=True)
        ]


_USER = CompiledSql(CALLER_STATEMENT.statement, {"guid": CALLER_GUID, "sid": CALLER_SID})
_PAGE = CompiledSql(
    task_service.page_statement(task_service.TaskQueryShape()).statement,
    {"user_id": 0, "account_id": ACCOUNT, "limit": 0, "offset": 0},
)
_assignees: dict[int, CompiledSql] = {}


def _assignees_statement(count: int) -> CompiledSql:
    if count not in _assignees:
        placeholders = [-(index + 1) for index in range(count)]
        _assignees[count] = CompiledSql(
            task_service.ASSIGNEES_STATEMENT.statement,
            {"task_ids": placeholders, "account_id": ACCOUNT},
        )
    return _assignees[count]


class State:
    pool: asyncpg.Pool | None = None


async def _tasks(user_id: int, limit: int) -> bytes:
    assert State.pool is not None
    async with State.pool.acquire() as conn:
        caller = await conn.fetchrow(_USER.sql, *_USER.args({}))
        assert caller is not None, "no such caller"
        assert caller[-1], "the caller's session is over"
        named = {"account_id": ACCOUNT, "user_id": user_id, "limit": limit + 1, "offset": 0}
        rows = await conn.fetch(_PAGE.sql, *_PAGE.args(named))
        items = [dict(zip(task_service.ITEM_KEYS, row, strict=False)) for row in rows[:limit]]
        by_task: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            item["assignees"] = by_task[item["id"]] = []
        if items:
            assignees = _assignees_statement(len(items))
            ids = {-(index + 1): item["id"] for index, item in enumerate(items)}
            for task_id, *values in await conn.fetch(assignees.sql, *assignees.args({}, ids)):
                by_task[task_id].append(dict(zip(task_service.ASSIGNEE_KEYS, values, strict=True)))
    total, through = (rows[0][-2], rows[0][-1]) if rows else (0, None)
    data = {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": 0,
        "next_cursor": None,
        "synced_through": through,
    }
    body = {"success": True, "message": "OK", "data": data, "error": None}
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            State.pool = await asyncpg.create_pool(
                DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE
            )
            # Imported to compile the app's SQL, SQLAlchemy's metadata would make every full
            # collection walk objects a bare endpoint does not have: freeze them, as the API's
            # workers do. The collector otherwise keeps Python's defaults, a bare app's.
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if State.pool is not None:
                await State.pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path: str = scope["path"]
    if path == "/health":
        await _respond(send, 200, b'{"status":"ok"}')
        return
    if not path.startswith("/tasks/") or not path[7:].isdigit():
        await _respond(send, 404, b'{"error":"not found"}')
        return
    params = parse_qs(scope.get("query_string", b"").decode())
    limit = int(params.get("limit", ["50"])[0])
    await _respond(send, 200, await _tasks(int(path[7:]), limit))
