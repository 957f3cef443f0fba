"""Run the sandbox as a standalone server (``python -m ace_sandbox``, ``acehub sandbox``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import date

import uvicorn

from ace_sandbox.app import SandboxApp, SandboxConfig, create_app
from ace_sandbox.data import DEFAULT_SEED, DEFAULT_TODAY, DatasetSize, generate
from ace_sandbox.faults import Faults

logger = logging.getLogger("ace_sandbox")


def build_app(
    *,
    bench: DatasetSize | None = None,
    bench_account: str = "bench",
    seed: int = DEFAULT_SEED,
    today: date = DEFAULT_TODAY,
    faults: Faults | Mapping[str, object] | None = None,
    guid_idle_seconds: float = 8 * 3600.0,
    guid_max_age_seconds: float | None = None,
    empty_dates_as_string: bool = False,
    max_rows_per_page: int | None = None,
    task_rows_without_status_id: bool = False,
    forcombo_ignores_user_filters: bool = True,
    getusers_admin_only: bool = False,
) -> SandboxApp:
    """The demo (and optionally benchmark) data behind a configured sandbox app (the
    behaviour switches are those of ``SandboxConfig``)."""
    started = time.perf_counter()
    store = generate(bench, seed=seed, today=today, bench_account=bench_account)
    if bench is not None:
        logger.info(
            "generated account %r (%d tasks) in %.1f s",
            bench_account,
            bench.tasks,
            time.perf_counter() - started,
        )
    config = SandboxConfig(
        guid_idle_seconds=guid_idle_seconds,
        guid_max_age_seconds=guid_max_age_seconds,
        empty_dates_as_string=empty_dates_as_string,
        faults=faults if faults is not None else Faults(),
        max_rows_per_page=max_rows_per_page,
        task_rows_without_status_id=task_rows_without_status_id,
        forcombo_ignores_user_filters=forcombo_ignores_user_filters,
        getusers_admin_only=getusers_admin_only,
    )
    return create_app(store, config)


def run(
    host: str = "127.0.0.1",
    port: int = 8100,
    *,
    bench: DatasetSize | None = None,
    bench_account: str = "bench",
    seed: int = DEFAULT_SEED,
    today: date = DEFAULT_TODAY,
    faults: Faults | Mapping[str, object] | None = None,
    guid_idle_seconds: float = 8 * 3600.0,
    guid_max_age_seconds: float | None = None,
    empty_dates_as_string: bool = False,
    max_rows_per_page: int | None = None,
    task_rows_without_status_id: bool = False,
    forcombo_ignores_user_filters: bool = True,
    getusers_admin_only: bool = False,
    log_level: str = "info",
) -> None:
    """Serve the sandbox until interrupted (blocking).

    ``bench`` adds a benchmark account of that size (``DatasetSize()`` = 1,000 projects,
    100,000 tasks, 500 users, 500,000 time entries); ``faults`` sets switches at start (a
    ``Faults`` or a mapping of switch names, validated); ``max_rows_per_page`` and the other
    behaviour switches are those of ``SandboxConfig``.
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    app = build_app(
        bench=bench,
        bench_account=bench_account,
        seed=seed,
        today=today,
        faults=faults,
        guid_idle_seconds=guid_idle_seconds,
        guid_max_age_seconds=guid_max_age_seconds,
        empty_dates_as_string=empty_dates_as_string,
        max_rows_per_page=max_rows_per_page,
        task_rows_without_status_id=task_rows_without_status_id,
        forcombo_ignores_user_filters=forcombo_ignores_user_filters,
        getusers_admin_only=getusers_admin_only,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="off")
