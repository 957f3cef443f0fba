"""How acehub talks to AceProject: retrying, bounded and decoded calls over one shared
`httpx.AsyncClient`. The typed ACE functions on top of it are `app.ace.client.AceClient`.

Protocol (docs/ace-api.md): every call is a POST `application/x-www-form-urlencoded` to
`ACE_API_URL` with `fct=<function>` and `format=iso8601`; the answer is
`{"status": "ok"|"fail", "results": [...]}`. Passwords and GUIDs travel only in the form body;
they never appear in a URL, a log line or an exception message.

Reliability, per logical call (one `fct`):

* an overall deadline (`AceClientConfig.deadline_seconds`) bounds the whole call, retries and
  back-off included; a body that drips in slower than that ends as `ACE_TIMEOUT`;
* transport errors, timeouts and HTTP 5xx are retried up to `max_retries` times with
  exponential back-off and full jitter (each sleep capped at `retry_max_sleep_seconds`);
* throttling (429, or 503 with `Retry-After`) is retried only when `Retry-After` is at most
  `retry_after_cap_seconds` and fits the deadline; otherwise it raises `ACE_UNAVAILABLE`
  carrying ACE's `Retry-After`;
* `status: fail` is never retried, except once on a GUID call: the client then asks
  `getlogininfo` whether the GUID is still valid; if not, `ACE_SESSION_EXPIRED` (the caller
  signs in again); if it is, the original call is repeated once;
* a circuit breaker (`breaker.py`) fails fast while ACE is down.

Error mapping (`ErrorCode`, see the README's error table). The first three rows are the
sign-in's: the client's `login` and `get_public_settings` map their refusals, and the sign-in
(`app.services.ace_identity`) reads the user row; the transport maps all the others.

| what happened | ErrorCode |
|---|---|
| `login` answered `fail` | INVALID_CREDENTIALS |
| ... and `getpublicsettings` also fails for that account | INVALID_ACCOUNT_ID |
| a login ACE accepted, but the user row says inactive/denied | ACCOUNT_INACTIVE |
| connection refused, DNS failure, connect timeout, reset, persistent 5xx | ACE_UNAVAILABLE |
| breaker open; 429 / 503 + `Retry-After` beyond the cap (`Retry-After` kept) | ACE_UNAVAILABLE |
| read timeout on the last attempt, overall deadline exceeded | ACE_TIMEOUT |
| HTML, XML, invalid or truncated JSON, wrong envelope, missing or mistyped fields, | |
| no row where one is required, body over `max_response_bytes`, any 3xx (not followed), | |
| 4xx other than 429 (e.g. ACE's 403 HTML User-Agent block) | ACE_BAD_RESPONSE |
| a GUID call fails and `getlogininfo` fails too | ACE_SESSION_EXPIRED |
| a GUID call fails although the GUID is valid (ACE refused the request) | ACE_BAD_RESPONSE |

Choices: a persistent 5xx is `ACE_UNAVAILABLE` (ACE is failing; the design's 503 row), not
502. A non-429 4xx is `ACE_BAD_RESPONSE`: ACE answered, just not with anything usable, and
retrying later will not help (the 2020 User-Agent block looked like this).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, TypeVar

import httpx
import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from app import metrics
from app.ace.breaker import CircuitBreaker, InProcessBreaker, RedisBreaker
from app.ace.dto import AceLogin, AceRow
from app.ace.errors import AceError, AceRequestRefusedError
from app.config import Settings
from app.errors import ErrorCode, retry_after_header

logger = logging.getLogger(__name__)

RowT = TypeVar("RowT", bound=AceRow)

# The outcome label of `acehub_ace_calls` for an error (others: its code, in lower case).
_OUTCOMES = {
    ErrorCode.ACE_TIMEOUT: "timeout",
    ErrorCode.ACE_UNAVAILABLE: "unavailable",
    ErrorCode.ACE_BAD_RESPONSE: "bad_response",
}


def _package_version() -> str:
    try:
        return version("acehub")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"acehub/{_package_version()} (+AceProject sync)"

_JSON_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class AceClientConfig:
    """Every knob of the client; `from_settings` reads them from the app settings."""

    api_url: str
    max_retries: int = 2
    retry_base_seconds: float = 0.25
    retry_max_sleep_seconds: float = 5.0
    retry_after_cap_seconds: float = 5.0
    default_retry_after_seconds: int = 5
    deadline_seconds: float = 35.0
    max_response_bytes: int = 50 * 1024 * 1024
    page_size: int = 500
    time_window_days: int = 31
    response_format: Literal["iso8601", "json"] = "iso8601"

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError("ACE_API_URL must be an http(s) URL")
        if self.page_size < 1 or self.time_window_days < 1:
            raise ValueError("page_size and time_window_days must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> AceClientConfig:
        # One call may take one full read timeout plus a connection attempt; retries must
        # fit in what is left, so a dead ACE cannot hold a request for minutes.
        return cls(
            api_url=settings.ace_api_url,
            max_retries=settings.ace_max_retries,
            retry_base_seconds=settings.ace_retry_base_seconds,
            deadline_seconds=settings.ace_timeout_seconds + settings.ace_connect_timeout_seconds,
            max_response_bytes=settings.ace_max_response_bytes,
            page_size=settings.ace_page_size,
        )


def create_http_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one `httpx.AsyncClient` the app shares for ACE (created and closed by the lifespan)."""
    timeout = httpx.Timeout(
        settings.ace_timeout_seconds,
        connect=settings.ace_connect_timeout_seconds,
        pool=settings.ace_connect_timeout_seconds,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
    )


def create_breaker(settings: Settings, redis: Redis | None = None) -> CircuitBreaker:
    """Redis-backed when the app has a Redis client (`REDIS_URL`), otherwise in-process."""
    if redis is not None:
        return RedisBreaker(
            redis,
            failure_threshold=settings.ace_breaker_failures,
            reset_seconds=settings.ace_breaker_reset_seconds,
        )
    return InProcessBreaker(
        failure_threshold=settings.ace_breaker_failures,
        reset_seconds=settings.ace_breaker_reset_seconds,
    )


class FailAnswer(Exception):
    """ACE answered `status: fail` (never leaves `app.ace`: the client turns it into the
    `AceError` this refusal means for the call that got it)."""

    def __init__(self, fct: str, error_number: int | None) -> None:
        super().__init__(fct)
        self.fct = fct
        self.error_number = error_number

    def as_error(self, message: str, code: ErrorCode) -> AceError:
        """The public error this refusal means for the call that got it."""
        return AceError(message, code=code, fct=self.fct, error_number=self.error_number)

    def as_refusal(self, message: str) -> AceRequestRefusedError:
        """ACE refused a request that is not about the session."""
        return AceRequestRefusedError(message, fct=self.fct, error_number=self.error_number)


class _NotJsonError(Exception):
    """ACE answered XML or HTML (internal): `post` may ask again in another format."""

    def __init__(self, error: AceError) -> None:
        super().__init__(error.message)
        self.error = error


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (internal)."""

    def __init__(
        self,
        error: AceError,
        *,
        breaker_failure: bool,
        throttled: bool = False,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.breaker_failure = breaker_failure
        self.throttled = throttled
        self.retry_after = retry_after
        self.upstream_status = upstream_status


@dataclass(frozen=True, slots=True)
class _Throttle:
    status: int
    retry_after: float | None


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_number(rows: list[dict[str, Any]]) -> int | None:
    if not rows:
        return None
    for key, value in rows[0].items():
        if str(key).upper() == "ERRORNUMBER":
            try:
                return int(str(value).strip())
            except ValueError:
                return None
    return None


def _total_row_count(rows: list[dict[str, Any]]) -> int | None:
    if not rows:
        return None
    for key, value in rows[0].items():
        if str(key).upper() == "TOTAL_ROW_COUNT":
            try:
                return int(float(str(value).strip()))
            except ValueError:
                return None
    return None


def parse_rows(model: type[RowT], rows: list[dict[str, Any]], fct: str) -> list[RowT]:
    """The `ok` rows of `fct` as `model`; a row that cannot be read is ACE_BAD_RESPONSE."""
    try:
        return model.validate_rows(rows)
    except ValidationError as exc:
        # The summary names fields and error kinds only, never the values (a login row
        # holds the GUID).
        problems = ", ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['type']}"
            for err in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise AceError(
            f"ACE sent a {fct} row that could not be read ({problems})",
            code=ErrorCode.ACE_BAD_RESPONSE,
            fct=fct,
        ) from None


def one_row(model: type[RowT], rows: list[dict[str, Any]], fct: str) -> RowT:
    """The first row of `fct` as `model`; no row is ACE_BAD_RESPONSE."""
    if not rows:
        raise AceError(f"ACE sent no row for {fct}", code=ErrorCode.ACE_BAD_RESPONSE, fct=fct)
    return parse_rows(model, rows[:1], fct)[0]


class AceTransport:
    """Retrying, size- and time-bounded calls to one AceProject endpoint, answered as rows."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: AceClientConfig,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._http = http
        # Functions that answered `iso8601` with something other than JSON, and now get
        # `format=JSON` for the rest of the process.
        self._formats: dict[str, str] = {}
        self.config = config
        self.breaker: CircuitBreaker = breaker or InProcessBreaker(
            failure_threshold=5, reset_seconds=30.0
        )

    async def login_info(self, guid: str) -> AceLogin:
        """`getlogininfo`: the session's login row; a refused GUID is ACE_SESSION_EXPIRED.
        It is also how a `status: fail` to a GUID call is told apart (`guid_call`, `write`)."""
        try:
            rows = await self.post("getlogininfo", {"guid": guid})
        except FailAnswer as fail:
            raise fail.as_error(
                "The ACE session expired; sign in again", ErrorCode.ACE_SESSION_EXPIRED
            ) from None
        return one_row(AceLogin, rows, "getlogininfo")

    async def guid_call(
        self, fct: str, guid: str, params: Mapping[str, object]
    ) -> list[dict[str, Any]]:
        """A call with a GUID, with the one revalidation path for `status: fail`."""
        form = {**params, "guid": guid}
        try:
            return await self.post(fct, form)
        except FailAnswer:
            pass
        await self.login_info(guid)  # raises ACE_SESSION_EXPIRED if the GUID is gone
        try:
            return await self.post(fct, form)
        except FailAnswer as fail:
            raise fail.as_refusal(f"ACE refused the {fct} request") from None

    async def write(
        self, fct: str, guid: str, params: Mapping[str, object]
    ) -> list[dict[str, Any]]:
        """One write, sent once. A refusal is ACE_SESSION_EXPIRED when the GUID is gone,
        else `AceRequestRefusedError` (nothing was written).

        ACE's write functions are not idempotent, so a write is never retried, not even after
        a transport error or a timeout (it may have happened): the caller re-reads before it
        tries again. Writes ask for `format=JSON`: their answers carry no dates, and a write
        must never be re-sent because an `iso8601` answer was not JSON.
        """
        try:
            return await self._post_once(fct, {**params, "guid": guid}, max_retries=0, fmt="JSON")
        except _NotJsonError as not_json:
            raise not_json.error from None
        except FailAnswer as fail:
            await self.login_info(guid)  # raises ACE_SESSION_EXPIRED if the GUID is gone
            raise fail.as_refusal(f"ACE refused the {fct} write") from None

    async def iter_pages(
        self,
        fct: str,
        guid: str,
        params: Mapping[str, object],
        model: type[RowT],
        key: Callable[[RowT], Hashable],
    ) -> AsyncIterator[list[RowT]]:
        """Loop `pagenumber` 1.. while `TOTAL_ROW_COUNT` says rows remain; stop at an empty
        page. ACE documents no maximum page size, so a page may hold fewer rows than asked
        for without being the last: the page size then shrinks to what ACE gave, and the
        next page number is computed for it (pages may overlap then, never leave a gap).

        Without `TOTAL_ROW_COUNT` the loop runs until a page brings nothing new. Rows can
        shift between pages while ACE data changes, so rows already yielded (by `key`) are
        dropped.
        """
        size = self.config.page_size
        seen: set[Hashable] = set()
        page_number = 1
        offset = 0
        while True:
            rows = await self.guid_call(
                fct, guid, {**params, "pagenumber": page_number, "rowsperpage": size}
            )
            if not rows:
                return
            fresh = []
            for item in parse_rows(model, rows, fct):
                item_key = key(item)
                if item_key not in seen:
                    seen.add(item_key)
                    fresh.append(item)
            if fresh:
                yield fresh
            offset += len(rows)
            total = _total_row_count(rows)
            if total is not None and offset >= total:
                return
            if not fresh:
                logger.warning("ACE repeated a whole page; stopping", extra={"fct": fct})
                return
            if len(rows) < size:
                size = len(rows)
                logger.info(
                    "ACE answered a short page; paging on with its size",
                    extra={"fct": fct, "rows_per_page": size},
                )
            page_number = offset // size + 1

    def _format_of(self, fct: str) -> str:
        return self._formats.get(fct, self.config.response_format)

    def _form(
        self, fct: str, params: Mapping[str, object], fmt: str | None = None
    ) -> dict[str, str]:
        form = {"fct": fct, "format": fmt or self._format_of(fct)}
        form.update({name: _encode(value) for name, value in params.items() if value is not None})
        return form

    async def post(
        self, fct: str, params: Mapping[str, object], *, max_retries: int | None = None
    ) -> list[dict[str, Any]]:
        """One logical call; a function that answers `format=iso8601` with XML or HTML is
        asked again once with `format=JSON` (dates as `/Date(ms)/`), and keeps that format
        for the rest of the process. No public answer in `iso8601` exists, so the fallback
        keeps acehub working if ACE does not take it.

        Raises `FailAnswer` for `status: fail`, and `AceError` for everything else.
        """
        fmt = self._format_of(fct)
        try:
            return await self._post_once(fct, params, max_retries=max_retries)
        except _NotJsonError as not_json:
            if fmt.lower() != "iso8601":
                raise not_json.error from None
        try:
            rows = await self._post_once(fct, params, max_retries=max_retries, fmt="JSON")
        except _NotJsonError as not_json:
            raise not_json.error from None  # an error page whatever the format: not remembered
        if fct not in self._formats:  # concurrent calls may all have fallen back: log once
            self._formats[fct] = "JSON"
            logger.warning(
                "ACE answered format=iso8601 with something other than JSON; using format=JSON",
                extra={"fct": fct},
            )
        return rows

    async def _post_once(
        self,
        fct: str,
        params: Mapping[str, object],
        *,
        max_retries: int | None = None,
        fmt: str | None = None,
    ) -> list[dict[str, Any]]:
        """`_attempts`, counted and timed: every call to ACE passes here (`acehub_ace_calls`)."""
        started = time.monotonic()
        outcome = "error"  # cancelled, or a crash
        try:
            rows = await self._attempts(fct, params, max_retries=max_retries, fmt=fmt)
        except FailAnswer:
            outcome = "refused"
            raise
        except _NotJsonError:
            outcome = "bad_response"
            raise
        except AceError as error:
            outcome = _OUTCOMES.get(error.code, error.code.value.lower())
            raise
        else:
            outcome = "ok"
            return rows
        finally:
            metrics.record_ace_call(fct, outcome, time.monotonic() - started)

    async def _attempts(
        self,
        fct: str,
        params: Mapping[str, object],
        *,
        max_retries: int | None = None,
        fmt: str | None = None,
    ) -> list[dict[str, Any]]:
        """One logical call in one format: breaker, deadline, retries. Returns the `ok` rows.

        Raises `FailAnswer` for `status: fail`, `_NotJsonError` for an answer that is not
        JSON, and `AceError` for everything else.
        """
        form = self._form(fct, params, fmt)
        retries = self.config.max_retries if max_retries is None else max_retries
        started = time.monotonic()
        deadline = started + self.config.deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            wait = await self.breaker.acquire()
            if wait is not None:
                raise AceError(
                    "ACE is unavailable (circuit open); try again later",
                    code=ErrorCode.ACE_UNAVAILABLE,
                    fct=fct,
                    headers=retry_after_header(math.ceil(wait)),
                )
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    status, content_type, body = await self._exchange(fct, form)
            except _Retryable as failed:
                self._log_failure(fct, failed.upstream_status, attempt, started, failed.error)
                if failed.breaker_failure:
                    await self.breaker.record_failure()
                else:
                    await self.breaker.record_success()
                delay = self._next_delay(failed, attempt, retries)
                if delay is None or time.monotonic() + delay >= deadline:
                    raise failed.error from failed.__cause__
                await asyncio.sleep(delay)
                continue
            except TimeoutError:
                error = AceError("ACE did not answer in time", code=ErrorCode.ACE_TIMEOUT, fct=fct)
                self._log_failure(fct, None, attempt, started, error)
                await self.breaker.record_failure()
                raise error from None
            except AceError as error:
                self._log_failure(fct, error.upstream_status, attempt, started, error)
                await self.breaker.record_success()
                raise
            await self.breaker.record_success()
            try:
                return self._decode(fct, status, content_type, body)
            except AceError as error:
                self._log_failure(fct, status, attempt, started, error)
                raise

    def _next_delay(self, failed: _Retryable, attempt: int, retries: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now.

        Throttling waits what ACE asked for (never less than the back-off, so a
        `Retry-After: 0` is no licence for a tight loop), and only when that is short.
        """
        if attempt > retries:
            return None
        backoff = random.uniform(  # noqa: S311 - full jitter, not a secret
            0,
            min(
                self.config.retry_max_sleep_seconds,
                self.config.retry_base_seconds * 2 ** (attempt - 1),
            ),
        )
        if failed.throttled:
            server_wait = failed.retry_after
            if server_wait is None or server_wait > self.config.retry_after_cap_seconds:
                return None
            return max(server_wait, backoff)
        return backoff

    async def _exchange(self, fct: str, form: dict[str, str]) -> tuple[int, str, bytes]:
        """One HTTP attempt: status, content type and the capped body of a 2xx answer."""
        try:
            async with self._http.stream("POST", self.config.api_url, data=form) as response:
                status = response.status_code
                throttle = self._throttle(response)
                if throttle is not None:
                    raise self._throttled(fct, throttle)
                if status >= 500:
                    raise _Retryable(
                        AceError(
                            f"ACE failed with HTTP {status}",
                            code=ErrorCode.ACE_UNAVAILABLE,
                            fct=fct,
                            upstream_status=status,
                        ),
                        breaker_failure=True,
                        upstream_status=status,
                    )
                if 300 <= status < 400:
                    raise AceError(
                        f"ACE answered with a redirect (HTTP {status}), which is not followed",
                        code=ErrorCode.ACE_BAD_RESPONSE,
                        fct=fct,
                        upstream_status=status,
                    )
                if status >= 400 or status < 200:
                    raise AceError(
                        f"ACE answered HTTP {status}",
                        code=ErrorCode.ACE_BAD_RESPONSE,
                        fct=fct,
                        upstream_status=status,
                    )
                body = await self._read_capped(fct, response)
                return status, response.headers.get("content-type", ""), body
        except httpx.PoolTimeout as exc:
            raise _Retryable(
                AceError(
                    "No connection to ACE was free in time",
                    code=ErrorCode.ACE_UNAVAILABLE,
                    fct=fct,
                ),
                breaker_failure=False,
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            raise _Retryable(
                AceError("ACE did not answer in time", code=ErrorCode.ACE_TIMEOUT, fct=fct),
                breaker_failure=True,
            ) from exc
        except httpx.TransportError as exc:
            # ConnectError (refused, DNS), ConnectTimeout, ReadError, RemoteProtocolError...
            raise _Retryable(
                AceError("ACE could not be reached", code=ErrorCode.ACE_UNAVAILABLE, fct=fct),
                breaker_failure=True,
            ) from exc

    def _throttle(self, response: httpx.Response) -> _Throttle | None:
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        if response.status_code == 429 or (response.status_code == 503 and retry_after is not None):
            return _Throttle(response.status_code, retry_after)
        return None

    def _throttled(self, fct: str, throttle: _Throttle) -> _Retryable:
        wait = throttle.retry_after
        seconds = math.ceil(wait) if wait is not None else self.config.default_retry_after_seconds
        return _Retryable(
            AceError(
                "ACE asked to slow down; try again later",
                code=ErrorCode.ACE_UNAVAILABLE,
                fct=fct,
                headers=retry_after_header(seconds),
            ),
            breaker_failure=throttle.status >= 500,
            throttled=True,
            retry_after=wait,
            upstream_status=throttle.status,
        )

    async def _read_capped(self, fct: str, response: httpx.Response) -> bytes:
        """Read the body chunk by chunk, refusing it as soon as it passes the size cap."""
        cap = self.config.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._oversize(fct)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise self._oversize(fct)
        return bytes(body)

    def _oversize(self, fct: str) -> AceError:
        return AceError(
            f"ACE's answer is larger than {self.config.max_response_bytes} bytes",
            code=ErrorCode.ACE_BAD_RESPONSE,
            fct=fct,
        )

    def _decode(
        self, fct: str, status: int, content_type: str, body: bytes
    ) -> list[dict[str, Any]]:
        """Check the `{status, results}` envelope; `fail` raises `FailAnswer`."""

        def bad(why: str) -> AceError:
            return AceError(
                f"ACE sent {why}", code=ErrorCode.ACE_BAD_RESPONSE, fct=fct, upstream_status=status
            )

        kind = content_type.lower()
        text = body.removeprefix(_JSON_BOM).strip()
        if "html" in kind or "xml" in kind or text.startswith(b"<"):
            raise _NotJsonError(bad("HTML or XML instead of JSON"))
        if not text:
            raise bad("an empty body")
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise bad("invalid JSON") from None
        if not isinstance(document, dict):
            raise bad("JSON that is not an object")
        envelope = {str(k).lower(): v for k, v in document.items()}
        outcome = envelope.get("status")
        results = envelope.get("results")
        if not isinstance(outcome, str) or outcome.strip().lower() not in {"ok", "fail"}:
            raise bad("no valid status")
        if not isinstance(results, list) or not all(isinstance(row, dict) for row in results):
            if outcome.strip().lower() == "fail" and results is None:
                raise FailAnswer(fct, None)
            raise bad("no valid results list")
        if outcome.strip().lower() == "fail":
            number = _error_number(results)
            logger.info("ACE refused a call", extra={"fct": fct, "error_number": number})
            raise FailAnswer(fct, number)
        return results

    @staticmethod
    def _log_failure(
        fct: str, status: int | None, attempt: int, started: float, error: AceError
    ) -> None:
        logger.warning(
            "ACE call failed",
            extra={
                "fct": fct,
                "status": status,
                "attempt": attempt,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
                "error_code": str(error.code),
            },
        )
