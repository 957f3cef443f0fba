"""The ceilings of `GET /tasks/{user_id}`: a bare ASGI app, with no framework, ORM,
validation or JWT in between, answering through an asyncpg pool.

`/tasks/{user_id}`, the same-work ceiling: the same SQL as the API, answered as orjson bytes.
`/one/tasks/{user_id}`, the bare one-query read: one hand-written statement per request that
checks the caller, cuts the page, counts the total and gathers the assignees (one row per
task and assignee), answered as orjson bytes. (Letting PostgreSQL build the page's JSON was
measured and cost more: `json_build_object` and `to_char` per row took about 1 ms of the
database's CPU per page more than sending the typed rows.)

"The same SQL" is taken from the real path itself: the statement the read path builds is
compiled for asyncpg once at import, and each request only swaps the user id into its
parameters. Served by the same server command and worker count as the API:

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


_PAGE = CompiledSql(
    task_service.page_statement(task_service.TaskQueryShape()).statement,
    {"guid": CALLER_GUID, "sid": CALLER_SID, "user_id": 0, "limit": 0, "offset": 0},
)
_WIDTH = len(task_service.CALLER_KEYS) + 1  # and synced_through
_ITEMS = len(task_service.ITEM_KEYS)


# The bare one-query read, written by hand for the default page (sorted by due date).
ONE_QUERY = """
WITH caller AS (
  SELECT u.id, u.account_id, u.role, u.is_active, u.is_disabled,
         EXISTS (SELECT FROM refresh_tokens r
                 WHERE r.family_id = $2 AND r.user_id = u.id AND r.revoked_at IS NULL) AS live
  FROM users u WHERE u.guid = $1
), target AS (
  SELECT t.id, t.account_id FROM users t JOIN caller c ON c.account_id = t.account_id
  WHERE t.id = $3 AND t.deleted_at IS NULL AND c.live AND c.is_active AND NOT c.is_disabled
    AND (c.role <> 'member' OR c.id = t.id)
), page AS (
  SELECT t.id, t.ace_task_id, p.ace_project_id, t.project_id, p.name AS project_name,
         t.number, t.title, t.status, t.status_type, t.priority, t.type, t.estimated_hours,
         t.actual_hours, t.percent_done, t.expected_start, t.expected_end, t.actual_start,
         t.actual_end, t.ace_modified_at, t.synced_at, count(*) OVER () AS total
  FROM target u
  JOIN task_assignees a ON a.user_id = u.id
  JOIN tasks t ON t.id = a.task_id AND t.account_id = u.account_id AND t.deleted_at IS NULL
  JOIN projects p ON p.id = t.project_id AND p.account_id = u.account_id AND p.deleted_at IS NULL
  ORDER BY t.expected_end NULLS LAST, t.id
  LIMIT $4 + 1
)
SELECT c.live AND c.is_active AND NOT c.is_disabled, EXISTS (SELECT FROM target),
  (SELECT j.started_at FROM sync_jobs j WHERE j.account_id = c.account_id
   AND j.state = 'succeeded' ORDER BY j.finished_at DESC LIMIT 1),
  p.*, a.user_id, a.username, a.is_assignee, a.is_reviewer, a.assigned_hours
FROM caller c
LEFT JOIN (page p LEFT JOIN (
  SELECT ta.task_id, ta.user_id, u.username, ta.is_assignee, ta.is_reviewer, ta.assigned_hours
  FROM task_assignees ta JOIN users u ON u.id = ta.user_id
  WHERE u.deleted_at IS NULL AND u.account_id = (SELECT account_id FROM target)
) a ON a.task_id = p.id) ON true
ORDER BY p.expected_end NULLS LAST, p.id, a.username, a.user_id
"""


class State:
    pool: asyncpg.Pool | None = None


def _page_body(rows: list[Any], first: int, limit: int) -> bytes:
    """The page envelope from rows of (caller columns up to `first`, task columns, total,
    assignee columns), one row per (task, assignee) in page order."""
    assert rows, "no such caller"
    assert rows[0][first - 2], "the caller may not see this user"
    through = rows[0][first - 1]
    items: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    total = 0
    if rows[0][first] is not None:
        total = rows[0][first + _ITEMS]
        for row in rows:
            if not items or current["id"] != row[first]:
                if len(items) == limit:
                    break
                current = dict(
                    zip(task_service.ITEM_KEYS, row[first : first + _ITEMS], strict=True)
                )
                current["assignees"] = []
                items.append(current)
            if row[first + _ITEMS + 1] is not None:
                values = row[first + _ITEMS + 1 :]
                current["assignees"].append(
                    dict(zip(task_service.ASSIGNEE_KEYS, values, strict=True))
                )
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


async def _tasks(user_id: int, limit: int) -> bytes:
    """The same work as the API: its own statement."""
    assert State.pool is not None
    named = {"user_id": user_id, "limit": limit + 1, "offset": 0}
    async with State.pool.acquire() as conn:
        rows = await conn.fetch(_PAGE.sql, *_PAGE.args(named))
    return _page_body(rows, _WIDTH, limit)


async def _one_query_tasks(user_id: int, limit: int) -> bytes:
    """The bare one-query read."""
    assert State.pool is not None
    async with State.pool.acquire() as conn:
        rows = await conn.fetch(ONE_QUERY, CALLER_GUID, CALLER_SID, user_id, limit)
    return _page_body(rows, 3, limit)


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
    params = parse_qs(scope.get("query_string", b"").decode())
    limit = int(params.get("limit", ["50"])[0])
    if path.startswith("/tasks/") and path[7:].isdigit():
        await _respond(send, 200, await _tasks(int(path[7:]), limit))
    elif path.startswith("/one/tasks/") and path[11:].isdigit():
        await _respond(send, 200, await _one_query_tasks(int(path[11:]), limit))
    else:
        await _respond(send, 404, b'{"error":"not found"}')
