"""What a sync asks ACE for: the tasks' "modified since" date and the time entries' window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.config import Settings
from app.models.enums import SyncKind


@dataclass
class SyncPlan:
    kind: SyncKind
    modified_since: date | None
    time_from: date
    time_to: date


def modified_since(watermark: datetime | None, settings: Settings) -> date | None:
    """The "since" rule: an incremental read asks ACE for what was modified since the
    account's last watermark minus SYNC_OVERLAP_DAYS; without a watermark, for everything."""
    if watermark is None:
        return None
    return watermark.date() - timedelta(days=settings.sync_overlap_days)


def plan_for(
    kind: SyncKind, watermark: datetime | None, settings: Settings, today: date
) -> SyncPlan:
    incremental = kind == SyncKind.incremental
    return SyncPlan(
        kind=kind,
        modified_since=modified_since(watermark, settings) if incremental else None,
        time_from=today - timedelta(days=settings.sync_time_entries_days),
        time_to=today + timedelta(days=1),
    )
