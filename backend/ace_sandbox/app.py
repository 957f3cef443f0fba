"""The sandbox ASGI application: ``create_app(store, config)``.

Route ``/`` is the AceProject endpoint (GET query string and POST
``application/x-www-form-urlencoded`` body, merged with the form winning; other body types
are ignored). ``/_sandbox/*`` are the admin endpoints (see ``admin.py``). Anything else is
404, other methods on ``/`` are 405.

Choices where the public sources are silent:

- ``format`` must be ``iso8601`` or ``json`` (any case). Missing or any other value (the
  real default is DS XML) fails with 3004; that failure, like every envelope that cannot
  know the format, is written with iso8601 dates.
- Every ``fail`` is HTTP 200 with ``Content-Type: application/json; charset=utf-8``;
  request bodies over ``max_request_bytes`` get 413, an unexpected sandbox error 500.
- A call refreshes the GUID's last use only when it succeeds.
- With the ``iso8601_as_xml`` fault a ``format=iso8601`` answer (ok or fail) is the XML
  document of ``render.xml_document`` with ``Content-Type: text/xml; charset=utf-8``; with
  ``iso8601_as_html`` (which wins over it) it is the HTML "Runtime Error" page, HTTP 200.
  The call itself is carried out in both cases (a write happens).

Behaviour options of ``SandboxConfig`` (all read on every call, so a test may flip them on
``app.config`` at run time):

- ``max_rows_per_page`` (default None): the page cap of ``listing.parse_paging``; ACE
  documents no maximum page size, so a client must page on ``TOTAL_ROW_COUNT``.
- ``task_rows_without_status_id`` (default False, invented): task rows leave out
  ``TASK_STATUS_ID`` (which only the sandbox puts there), so a client must match statuses
  by name.
- ``forcombo_ignores_user_filters`` (default True, invented): ``gettasks`` with
  ``forcombo=true`` ignores ``filterassigneduserid``/``filterrevieweruserid``; no public
  source combines them.
- ``getusers_admin_only`` (default False, invented): ``getusers`` fails for normal users.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ace_sandbox import admin, asgi, render
from ace_sandbox.calls import Call, Settings
from ace_sandbox.data import generate
from ace_sandbox.faults import Decision, FaultController, Faults, Stats
from ace_sandbox.functions import dispatch
from ace_sandbox.listing import QueryCache
from ace_sandbox.params import ERR_FORMAT, AceFailure, Params, parse_pairs
from ace_sandbox.store import Store

logger = logging.getLogger("ace_sandbox")

_BLOCK_PAGE = (
    b"<!DOCTYPE html><html><head><title>403 - Forbidden: Access is denied.</title></head>"
    b"<body><h1>403 - Forbidden: Access is denied.</h1><p>You do not have permission to view "
    b"this directory or page using the credentials that you supplied.</p></body></html>"
)
_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Runtime Error</title></head><body>"
    b"<h1>Server Error in '/' Application.</h1><h2><i>Runtime Error</i></h2>"
    b"<p>An application error occurred on the server.</p></body></html>"
)
_MB = 1024 * 1024


@dataclass(slots=True)
class SandboxConfig:
    """Start-up options of one sandbox app (mutable at run time, read on every call)."""

    guid_idle_seconds: float = 8 * 3600.0
    guid_max_age_seconds: float | None = None
    empty_dates_as_string: bool = False
    default_rows_per_page: int = 100
    faults: Faults | Mapping[str, object] = field(default_factory=Faults)
    admin_endpoints: bool = True
    max_request_bytes: int = 1_000_000
    query_cache_size: int = 64
    recent_requests: int = 200
    clock: Callable[[], float] = time.monotonic
    max_rows_per_page: int | None = None
    task_rows_without_status_id: bool = False
    forcombo_ignores_user_filters: bool = True
    getusers_admin_only: bool = False


class SandboxApp:
    """An ASGI callable; ``store``, ``faults`` and ``stats`` are open for in-process control."""

    def __init__(self, store: Store, config: SandboxConfig | None = None) -> None:
        self.store = store
        self.config = config or SandboxConfig()
        self.faults = FaultController(clock=self.config.clock)
        self.faults.replace(self.config.faults)
        self.stats = Stats(self.config.recent_requests)
        self.cache = QueryCache(self.config.query_cache_size)

    # in-process helpers ------------------------------------------------------------------

    def expire_sessions(self, account: str | None = None, username: str | None = None) -> int:
        """Forget GUIDs now (all, one account's, or one user's); returns how many."""
        user_id = None
        if username is not None:
            if account is None:
                raise ValueError("username needs an account")
            user = self.store[account].find_login(username)
            if user is None:
                return 0
            user_id = user.user_id
        return self.store.sessions.expire(account, user_id)

    def answer(self, raw: Mapping[str, str]) -> bytes:
        """The JSON body the ACE endpoint gives for these parameters (no faults applied)."""
        return self.answer_typed(raw)[0]

    def answer_typed(
        self, raw: Mapping[str, str], xml: bool = False, html: bool = False
    ) -> tuple[bytes, str]:
        """The body and Content-Type of the answer; ``xml`` turns iso8601 answers into XML,
        ``html`` into an HTML error page (the call is carried out either way)."""
        params = Params(raw)
        fmt = (params.text("format") or "").strip().lower()
        if fmt not in ("iso8601", "json"):
            failure = AceFailure(
                ERR_FORMAT,
                f"unsupported format {params.text('format') or '(none: DS)'}; "
                "the sandbox answers format=iso8601 or format=json",
            )
            return render.envelope("fail", [_fail(failure)], "iso8601"), asgi.JSON
        call = Call(
            store=self.store,
            params=params,
            settings=self._settings(),
            cache=self.cache,
            now=self.config.clock(),
        )
        fct = params.text("fct")
        try:
            status, rows = "ok", dispatch(call, fct.strip().lower() if fct is not None else None)
        except AceFailure as failure:
            status, rows = "fail", [_fail(failure)]
        if html and fmt == "iso8601":
            return _ERROR_PAGE, asgi.HTML
        if xml and fmt == "iso8601":
            return render.xml_document(rows), asgi.XML
        date_format: render.DateFormat = "json" if fmt == "json" else "iso8601"
        return render.envelope(status, rows, date_format), asgi.JSON

    def _settings(self) -> Settings:
        config = self.config
        return Settings(
            guid_idle_seconds=config.guid_idle_seconds,
            guid_max_age_seconds=config.guid_max_age_seconds,
            default_rows_per_page=config.default_rows_per_page,
            null_date="" if config.empty_dates_as_string else None,
            max_rows_per_page=config.max_rows_per_page,
            task_rows_without_status_id=config.task_rows_without_status_id,
            forcombo_ignores_user_filters=config.forcombo_ignores_user_filters,
            getusers_admin_only=config.getusers_admin_only,
        )

    # ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/_sandbox/") and self.config.admin_endpoints:
            await admin.handle(self, scope, receive, send)
        elif path == "/":
            await self._ace(scope, receive, send)
        else:
            await asgi.respond(send, 404, b"not found", asgi.TEXT)

    async def _ace(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        method = scope["method"]
        if method not in ("GET", "POST"):
            await asgi.respond(
                send, 405, b"method not allowed", asgi.TEXT, [("Allow", "GET, POST")]
            )
            return
        try:
            body = await asgi.read_body(receive, self.config.max_request_bytes)
        except asgi.BodyTooLargeError:
            await asgi.respond(send, 413, b"request body too large", asgi.TEXT)
            return
        except asgi.ClientGoneError:
            return
        query = bytes(scope.get("query_string", b"")).decode("utf-8", "replace")
        content_type = asgi.header(scope, "content-type")
        form = ""
        raw = parse_pairs(query)
        if method == "POST" and content_type.lower().startswith(
            "application/x-www-form-urlencoded"
        ):
            form = body.decode("utf-8", "replace")
            raw.update(parse_pairs(form))
        params = Params(raw)
        fct_text = params.text("fct")
        fct = fct_text.strip().lower() if fct_text is not None else None
        client = scope.get("client") or ("", 0)
        user_agent = asgi.header(scope, "user-agent")
        record = self.stats.record(
            fct,
            {
                "method": method,
                "fct": fct,
                "query": query,
                "body": form,
                "content_type": content_type,
                "user_agent": user_agent,
                "params": dict(raw),
                "client": client[0],
                "status": None,
            },
        )
        decision = self.faults.decide(fct, params.text("guid"), str(client[0]), user_agent)
        watch = asgi.DisconnectWatch(receive)
        started = False

        async def tracked_send(message: asgi.Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            status = await self._respond(tracked_send, raw, decision, watch)
        except asgi.ClientGoneError:
            status = 499
        except Exception:
            logger.exception("sandbox failure on fct=%s", fct)
            status = 500
            if not started:
                await asgi.respond(send, 500, b"sandbox internal error", asgi.TEXT)
        finally:
            watch.stop()
        self.stats.finish(record, status)

    async def _respond(
        self,
        send: asgi.Send,
        raw: Mapping[str, str],
        decision: Decision,
        watch: asgi.DisconnectWatch,
    ) -> int:
        if decision.latency:
            await watch.sleep(decision.latency)
        status = decision.status
        if decision.action == "block":
            await asgi.respond(send, status, _BLOCK_PAGE, asgi.HTML)
        elif decision.action == "redirect":
            moved = f'<html><body>Object moved to <a href="{decision.location}">here</a>.'
            await asgi.respond(
                send,
                status,
                (moved + "</body></html>").encode(),
                asgi.HTML,
                [("Location", decision.location)],
            )
        elif decision.action == "throttle":
            text = b"Too Many Requests" if status == 429 else b"Service Unavailable"
            await asgi.respond(
                send, status, text, asgi.TEXT, [("Retry-After", str(decision.retry_after))]
            )
        elif decision.action == "error":
            await asgi.respond(send, status, b"Internal Server Error (sandbox fault)", asgi.TEXT)
        elif decision.action == "html":
            await asgi.respond(send, status, _ERROR_PAGE, asgi.HTML)
        elif decision.oversize_mb:
            await asgi.stream(send, 200, _oversize(decision.oversize_mb, watch))
        else:
            if decision.replace_body:
                body = decision.replace_body.encode()
                content_type = decision.replace_content_type or asgi.JSON
            else:
                body, content_type = self.answer_typed(
                    raw, decision.iso8601_as_xml, decision.iso8601_as_html
                )
            if decision.malformed:
                body = body[: max(1, len(body) // 2)]
            if decision.drip_bytes:
                await asgi.stream(
                    send,
                    200,
                    _drip(body, decision.drip_bytes, decision.drip_delay, watch),
                    content_type=content_type,
                    length=len(body),
                )
            else:
                await asgi.respond(send, 200, body, content_type)
            status = 200
        return status


def _fail(failure: AceFailure) -> dict[str, Any]:
    return render.fail_row(failure.number, failure.description)


async def _drip(
    body: bytes, size: int, delay: float, watch: asgi.DisconnectWatch
) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        if start:
            await watch.sleep(delay)
        yield body[start : start + size]


async def _oversize(megabytes: float, watch: asgi.DisconnectWatch) -> AsyncIterator[bytes]:
    row = b'{"TASK_ID":10000,"TASK_RESUME":"' + b"x" * 180 + b'","PROJECT_ID":1000}'
    block = b",".join([row] * 256)
    target = int(megabytes * _MB)
    yield b'{"status":"ok","results":['
    sent = 0
    while sent < target:
        await watch.sleep(0)
        yield block if sent == 0 else b"," + block
        sent += len(block) + 1
    yield b"]}"


async def _lifespan(receive: asgi.Receive, send: asgi.Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(store: Store | None = None, config: SandboxConfig | None = None) -> SandboxApp:
    """The sandbox ASGI app over ``store`` (default: the demo data)."""
    if store is None:
        store = generate()
    return SandboxApp(store, config)
