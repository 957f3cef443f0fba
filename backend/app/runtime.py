"""Tuning of the Python runtime for a long-running acehub server worker (sync jobs run there)."""

from __future__ import annotations

import gc


def settle_garbage_collector() -> None:
    """Move everything alive after start-up (modules, the app, SQLAlchemy's metadata) out of
    the cyclic collector's reach: its full collections then walk only what requests allocate,
    instead of pausing a worker every few hundred requests (what that cost the p99 of the
    task reads is in docs/benchmarks.md, "Worker runtime settings"). Frozen objects are still
    freed when their last reference goes; only for a server process, where start-up state
    lives as long.

    Young collections start after 20,000 new objects instead of 700: a page of tasks alone
    allocates a few hundred, and scanning them every other request is pure overhead. Full
    collections then come rarely, so a batch save collects its own garbage when it is done
    (`collect_after_batch`).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def collect_after_batch() -> None:
    """In a settled worker, a full collection after a batch save: a batch leaves cycles of
    garbage behind that the rare full collections would reach only batches later, so memory
    would climb over a long run of saves. With start-up objects frozen it walks little;
    elsewhere (tests, scripts) Python's own collections are frequent enough."""
    if gc.get_freeze_count():
        gc.collect()
