"""Fault switches: transport-level misbehaviour the sandbox can simulate on the ACE endpoint.

Switches live in a ``Faults`` record. They are set from the configuration at start, at run
time through ``GET/POST/PUT/DELETE /_sandbox/faults`` (JSON), or in-process through
``app.faults.set(...)``. They never apply to the ``/_sandbox/*`` admin endpoints.

Every switch except ``latency`` applies only to the functions listed in ``fcts`` (all when
empty); ``latency`` has its own ``latency_fcts``. For one request the checks run in this
order and the first that fires answers:

1. ``latency`` seconds of delay (then the request carries on);
2. ``block_user_agent`` (regex, ``re.search`` on the User-Agent) → 403 with an HTML page;
3. ``redirect_to`` (absolute URL) → 302 to that location;
4. ``throttle_status`` 429 or 503 once more than ``throttle_budget`` requests arrived within
   ``throttle_window`` seconds from one GUID (or one client address when there is no GUID),
   with ``Retry-After: retry_after``; budget 0 throttles every request;
5. ``fail_next`` (a counter, decremented per hit), then ``error_every`` (every Nth request),
   then ``error_rate`` (0..1, drawn from ``random.Random(error_seed)``, so a sequence is
   repeatable) → ``error_status`` (default 500) with a plain-text body;
6. ``html_error`` (a status code, 200 or 4xx/5xx) → an HTML error page with that status;
7. otherwise the real answer — or, when ``replace_body`` is set, that text verbatim with
   HTTP 200 and ``replace_content_type`` (default JSON), e.g. ``{"status":"ok","results":[]}``
   or a login row without GUID — shaped by ``malformed`` (the JSON body cut in half, still
   HTTP 200), ``oversize_mb`` (a valid-looking JSON body of that many MB, chunked, no
   Content-Length), ``drip_bytes`` + ``drip_delay`` (the body sent in chunks of that many
   bytes with that delay in between, Content-Length set).

``iso8601_as_xml`` (false or true; scoped by ``fcts``) answers a ``format=iso8601`` request
with an XML document instead of JSON (``text/xml; charset=utf-8``), ``format=json`` still
answering JSON. Invented: no published answer in the ``iso8601`` format exists, and the
format list of ``login`` names an XML format (DS) as the default, so a client must not
assume JSON. ``iso8601_as_html`` (false or true; scoped by ``fcts``; wins over
``iso8601_as_xml``) answers such a request with an HTML error page (HTTP 200,
``text/html``) instead.

Changing ``error_rate``, ``error_seed`` or ``error_every`` restarts the RNG and the counter.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

Action = Literal["block", "redirect", "throttle", "error", "html"]


@dataclass(slots=True)
class Faults:
    """All fault switches; the defaults are "no fault"."""

    latency: float = 0.0
    latency_fcts: list[str] = field(default_factory=list)
    fcts: list[str] = field(default_factory=list)
    block_user_agent: str = ""
    redirect_to: str = ""
    throttle_status: int = 0
    throttle_budget: int = 0
    throttle_window: float = 1.0
    retry_after: int = 1
    fail_next: int = 0
    error_every: int = 0
    error_rate: float = 0.0
    error_seed: int = 0
    error_status: int = 500
    html_error: int = 0
    replace_body: str = ""
    replace_content_type: str = ""
    malformed: bool = False
    oversize_mb: float = 0.0
    drip_bytes: int = 0
    drip_delay: float = 0.0
    iso8601_as_xml: bool = False
    iso8601_as_html: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FAULT_NAMES = tuple(f.name for f in fields(Faults))


def _number(name: str, value: object, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{name} must be an integer")
    return kind(value)


def _names(name: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of function names")
    return [v.strip().lower() for v in value]


def _check(faults: Faults) -> None:
    """Range checks; raises ``ValueError`` with a readable message."""
    for name in ("latency", "throttle_window", "oversize_mb", "drip_delay"):
        if getattr(faults, name) < 0:
            raise ValueError(f"{name} must be >= 0")
    for name in ("throttle_budget", "retry_after", "fail_next", "error_every", "drip_bytes"):
        if getattr(faults, name) < 0:
            raise ValueError(f"{name} must be >= 0")
    if not 0.0 <= faults.error_rate <= 1.0:
        raise ValueError("error_rate must be between 0 and 1")
    if faults.throttle_status not in (0, 429, 503):
        raise ValueError("throttle_status must be 0 (off), 429 or 503")
    if not 500 <= faults.error_status <= 599:
        raise ValueError("error_status must be a 5xx code")
    if faults.html_error != 0 and not 200 <= faults.html_error <= 599:
        raise ValueError("html_error must be 0 (off) or an HTTP status code")
    if faults.redirect_to and not re.fullmatch(r"https?://[\x21-\x7e]+", faults.redirect_to):
        raise ValueError("redirect_to must be an absolute http(s) URL (ASCII, no spaces)")
    if faults.replace_content_type and not re.fullmatch(
        r"[\x21-\x7e][\x20-\x7e]*", faults.replace_content_type
    ):
        raise ValueError("replace_content_type must be printable ASCII")
    try:
        re.compile(faults.block_user_agent)
    except re.error as exc:
        raise ValueError(f"block_user_agent is not a valid regex: {exc}") from None


def apply_changes(base: Faults, changes: Mapping[str, object]) -> Faults:
    """A copy of ``base`` with ``changes`` applied and validated (``ValueError`` if bad)."""
    unknown = sorted(set(changes) - set(FAULT_NAMES))
    if unknown:
        raise ValueError(f"unknown fault switch(es): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for f in fields(Faults):
        if f.name not in changes:
            continue
        value = changes[f.name]
        current = getattr(base, f.name)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false")
            values[f.name] = value
        elif isinstance(current, list):
            values[f.name] = _names(f.name, value)
        elif isinstance(current, str):
            if not isinstance(value, str):
                raise ValueError(f"{f.name} must be a string")
            values[f.name] = value
        elif isinstance(current, int):
            values[f.name] = _number(f.name, value, int)
        else:
            values[f.name] = _number(f.name, value, float)
    result = replace(base, **values)
    result.latency_fcts = list(result.latency_fcts)
    result.fcts = list(result.fcts)
    _check(result)
    return result


@dataclass(slots=True)
class Decision:
    """What the fault layer wants done with one request."""

    latency: float = 0.0
    action: Action | None = None
    status: int = 200
    retry_after: int = 0
    location: str = ""
    replace_body: str = ""
    replace_content_type: str = ""
    malformed: bool = False
    oversize_mb: float = 0.0
    drip_bytes: int = 0
    drip_delay: float = 0.0
    iso8601_as_xml: bool = False
    iso8601_as_html: bool = False


class FaultController:
    """The live switches plus their run-time state (RNG, counters, throttle windows)."""

    def __init__(
        self, faults: Faults | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._faults = Faults()
        self._rng = random.Random(0)  # noqa: S311 - repeatable fault draws, not security
        self._seen = 0
        self._windows: dict[str, tuple[float, int]] = {}
        self.replace(faults or Faults())

    @property
    def current(self) -> Faults:
        with self._lock:
            return replace(self._faults)

    def _install(self, new: Faults) -> Faults:
        old = self._faults
        self._faults = new
        if (new.error_rate, new.error_seed, new.error_every) != (
            old.error_rate,
            old.error_seed,
            old.error_every,
        ):
            self._rng = random.Random(new.error_seed)  # noqa: S311
            self._seen = 0
        if (new.throttle_status, new.throttle_budget, new.throttle_window) != (
            old.throttle_status,
            old.throttle_budget,
            old.throttle_window,
        ):
            self._windows.clear()
        return replace(new)

    def set(self, **changes: object) -> Faults:
        """Change some switches (validated); returns the new settings."""
        return self.update(changes)

    def update(self, changes: Mapping[str, object]) -> Faults:
        with self._lock:
            return self._install(apply_changes(self._faults, changes))

    def replace(self, faults: Faults | Mapping[str, object]) -> Faults:
        """Install a complete set of switches (unset ones back to their defaults)."""
        changes = faults.to_dict() if isinstance(faults, Faults) else faults
        with self._lock:
            new = apply_changes(Faults(), changes)
            self._rng = random.Random(new.error_seed)  # noqa: S311
            self._seen = 0
            self._windows.clear()
            return self._install(new)

    def reset(self) -> Faults:
        return self.replace(Faults())

    def decide(self, fct: str | None, guid: str | None, client: str, user_agent: str) -> Decision:
        with self._lock:
            faults = self._faults
            name = fct or ""
            decision = Decision()
            if faults.latency and (not faults.latency_fcts or name in faults.latency_fcts):
                decision.latency = faults.latency
            if faults.fcts and name not in faults.fcts:
                return decision
            if faults.block_user_agent and re.search(faults.block_user_agent, user_agent):
                decision.action, decision.status = "block", 403
                return decision
            if faults.redirect_to:
                decision.action, decision.status = "redirect", 302
                decision.location = faults.redirect_to
                return decision
            if faults.throttle_status and self._throttled(faults, guid or f"client:{client}"):
                decision.action, decision.status = "throttle", faults.throttle_status
                decision.retry_after = faults.retry_after
                return decision
            if self._error(faults):
                decision.action, decision.status = "error", faults.error_status
                return decision
            if faults.html_error:
                decision.action, decision.status = "html", faults.html_error
                return decision
            decision.replace_body = faults.replace_body
            decision.replace_content_type = faults.replace_content_type
            decision.malformed = faults.malformed
            decision.oversize_mb = faults.oversize_mb
            decision.drip_bytes = faults.drip_bytes
            decision.drip_delay = faults.drip_delay
            decision.iso8601_as_xml = faults.iso8601_as_xml
            decision.iso8601_as_html = faults.iso8601_as_html
            return decision

    def _throttled(self, faults: Faults, key: str) -> bool:
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= faults.throttle_window:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        return count > faults.throttle_budget

    def _error(self, faults: Faults) -> bool:
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return True
        self._seen += 1
        if faults.error_every and self._seen % faults.error_every == 0:
            return True
        return bool(faults.error_rate) and self._rng.random() < faults.error_rate


class Stats:
    """Call counts per function and the last requests seen on the ACE endpoint.

    The recent-request log keeps every decoded parameter, passwords included: it exists so
    tests can check exactly what a client sent (method, encoding, User-Agent, no secret in
    the query string). The sandbox holds only demo credentials.
    """

    def __init__(self, keep: int = 200) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._total = 0

    def record(self, fct: str | None, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._total += 1
            self._calls[fct or ""] += 1
            self._recent.append(request)
            return request

    def finish(self, request: dict[str, Any], status: int) -> None:
        with self._lock:
            request["status"] = status
            self._statuses[status] += 1

    def count(self, fct: str | None = None) -> int:
        with self._lock:
            return self._total if fct is None else self._calls[fct.lower()]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "calls": dict(self._calls),
                "statuses": {str(k): v for k, v in self._statuses.items()},
            }

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._recent]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._statuses.clear()
            self._recent.clear()
            self._total = 0
