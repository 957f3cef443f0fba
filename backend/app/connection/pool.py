"""The connection pool, metered: connections in use and callers waiting for one
(`acehub_db_pool_connections_in_use`, `acehub_db_pool_waiting` in `app.metrics`)."""

from __future__ import annotations

import weakref

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from app import metrics

_pools: weakref.WeakSet[MeteredPool] = weakref.WeakSet()


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, publishing its use at each checkout and return.

    Every checkout passes through `_do_get` and every return through `_do_return_conn` (the
    queue pool's two hooks), so the figures are exact at each change, with no polling. A
    caller counts as waiting when it enters a checkout with no idle connection and no
    overflow left: it then blocks until a connection comes back or `DB_POOL_TIMEOUT_SECONDS`
    passes.
    """

    # Log as the pool it extends, so logging set up for `sqlalchemy.pool` still applies.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        _pools.add(self)

    def _do_get(self) -> ConnectionPoolEntry:
        blocked = (
            self._max_overflow > -1 and self._overflow >= self._max_overflow and self._pool.empty()
        )
        if blocked:
            metrics.DB_POOL_WAITING.inc()
        try:
            record = super()._do_get()
        finally:
            if blocked:
                metrics.DB_POOL_WAITING.dec()
        _publish_in_use()
        return record

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        super()._do_return_conn(record)
        _publish_in_use()


def _publish_in_use() -> None:
    # The process's pools together (one per Database; the read engine shares its pool).
    metrics.DB_POOL_IN_USE.set(sum(pool.checkedout() for pool in _pools))
