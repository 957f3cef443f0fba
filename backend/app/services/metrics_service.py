"""What `GET /metrics` reads when it is scraped: the sync lag per account, the sync queue's
depth and the ACE breaker's state (the counters and histograms are kept by `app.metrics`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics
from app.ace.breaker import CircuitBreaker
from app.models import SyncJob, SyncState
from app.models.base import utcnow


async def scrape(connection: AsyncConnection, *, breaker: CircuitBreaker | None) -> bytes:
    """The exposition text, with the values of this moment read first."""
    if breaker is not None:
        await breaker.state()  # publishes it on the breaker gauge
    now = utcnow()
    last_success = await connection.execute(
        select(SyncJob.account_id, func.max(SyncJob.finished_at))
        .where(SyncJob.state == SyncState.succeeded)
        .group_by(SyncJob.account_id)
    )
    lag = {
        account_id: max(0.0, (now - finished_at).total_seconds())
        for account_id, finished_at in last_success
        if finished_at is not None
    }
    queued = await connection.scalar(
        select(func.count()).select_from(SyncJob).where(SyncJob.state == SyncState.queued)
    )
    return metrics.render(metrics.ScrapeSnapshot(sync_lag_seconds=lag, queue_depth=queued or 0))
