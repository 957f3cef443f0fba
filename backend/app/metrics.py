"""acehub's Prometheus metrics, defined once per process (docs/metrics.md).

This module sits at the bottom layer, beside the settings and the logging set-up, so the ACE
door, the database and the services can all record into it; it imports no web framework.

Multi-process mode: when `PROMETHEUS_MULTIPROC_DIR` is set before this module is imported
(`acehub serve --workers N` sets it before the workers start), prometheus_client writes every
value to files in that directory and `render` aggregates the files of every worker. The
mode is chosen at import time by prometheus_client, so it cannot be switched later.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_ENV"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "acehub_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "handler", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "acehub_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

ACE_CALLS = Counter(
    "acehub_ace_calls",
    "Logical calls to AceProject (retries included), by function and outcome.",
    ["fct", "outcome"],
)
ACE_CALL_DURATION = Histogram(
    "acehub_ace_call_duration_seconds",
    "Time of one logical call to AceProject, retries and back-off included, by function.",
    ["fct"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class BreakerState(IntEnum):
    closed = 0
    open = 1
    half_open = 2


# The latest state any live process saw: with REDIS_URL every worker shares one breaker; without
# it each worker has its own, and the last transition anywhere is shown.
ACE_BREAKER_STATE = Gauge(
    "acehub_ace_breaker_state",
    "The ACE circuit breaker: 0 closed, 1 open, 2 half-open (one probe let through).",
    ["breaker"],
    multiprocess_mode="livemostrecent",
)

SYNC_JOBS = Counter(
    "acehub_sync_jobs", "Sync jobs that ended, by outcome (succeeded, failed).", ["outcome"]
)
SYNC_JOB_DURATION = Histogram(
    "acehub_sync_job_duration_seconds",
    "Time from a sync job's start to its end, by outcome.",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)

# Per worker process; the sum over the live workers is what the database sees.
DB_POOL_IN_USE = Gauge(
    "acehub_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "acehub_db_pool_waiting",
    "Callers blocked waiting for a database connection (the pool and its overflow are full).",
    multiprocess_mode="livesum",
)


def multiprocess_mode() -> bool:
    return MULTIPROC_ENV in os.environ


if multiprocess_mode():
    # A worker that exits cleanly removes its live gauges, so they stop counting in the sums.
    atexit.register(multiprocess.mark_process_dead, os.getpid())


def set_breaker_state(state: BreakerState, breaker: str = "ace") -> None:
    ACE_BREAKER_STATE.labels(breaker=breaker).set(int(state))


def record_ace_call(fct: str, outcome: str, seconds: float) -> None:
    ACE_CALLS.labels(fct=fct, outcome=outcome).inc()
    ACE_CALL_DURATION.labels(fct=fct).observe(seconds)


def record_sync_job(
    outcome: str, started_at: datetime | None, finished_at: datetime | None
) -> None:
    SYNC_JOBS.labels(outcome=outcome).inc()
    if started_at is not None and finished_at is not None:
        seconds = max(0.0, (finished_at - started_at).total_seconds())
        SYNC_JOB_DURATION.labels(outcome=outcome).observe(seconds)


@dataclass(frozen=True)
class ScrapeSnapshot:
    """Values read from the database when /metrics is scraped (not kept between scrapes, so
    an account that is gone is gone from the output too)."""

    sync_lag_seconds: dict[str, float] = field(default_factory=dict)
    queue_depth: int = 0


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: ScrapeSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "acehub_sync_lag_seconds",
            "Seconds since the account's last successful sync ended.",
            labels=["account_id"],
        )
        for account_id, seconds in sorted(self._snapshot.sync_lag_seconds.items()):
            lag.add_metric([account_id], seconds)
        yield lag
        yield GaugeMetricFamily(
            "acehub_sync_queue_depth",
            "Sync jobs waiting to run (state queued).",
            value=self._snapshot.queue_depth,
        )


class _Joined(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def process_registry() -> Collector:
    """What this process exports: in multi-process mode the files of every process sharing
    the directory (read afresh at each collect), otherwise this process's own registry."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render(snapshot: ScrapeSnapshot | None = None) -> bytes:
    """The Prometheus text exposition of every metric, plus the scrape-time values."""
    collectors: list[Collector] = [process_registry()]
    if snapshot is not None:
        collectors.append(_SnapshotCollector(snapshot))
    return generate_latest(_Joined(*collectors))


def start_worker_metrics_server(
    port: int, host: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve this process's metrics on `host:port` (`GET /metrics`, any path) from a daemon
    thread: for `acehub worker`, which has no HTTP server of its own. Returns the server (call
    `shutdown()` to stop it) and its thread."""
    return start_http_server(port, addr=host, registry=process_registry())


def prepare_multiprocess_dir(workers: int) -> str | None:
    """Before `acehub serve` starts several workers: a fresh, empty directory for their
    metric files in `PROMETHEUS_MULTIPROC_DIR` (inherited by the workers, which import
    prometheus_client anew), removed when the server exits. A directory the operator set is
    used as it is; one worker needs none. Returns the directory in use, if any."""
    if multiprocess_mode():
        return os.environ[MULTIPROC_ENV]
    if workers <= 1:
        return None
    path = tempfile.mkdtemp(prefix="acehub-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    logging.getLogger("acehub").info("metrics of %d workers are gathered in %s", workers, path)
    return path
