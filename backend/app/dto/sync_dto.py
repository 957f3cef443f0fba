from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, computed_field

from app.dto.base import InputModel, OutputModel
from app.models import SyncState


class SyncJobRequest(InputModel):
    kind: Literal["auto", "full", "incremental"] = Field(
        default="auto",
        description="`auto`: incremental, or a full pass when the last one is older than "
        "SYNC_FULL_INTERVAL_HOURS (a full pass also mirrors deletions)",
    )


class EntityCounts(OutputModel):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class SyncJobRead(OutputModel):
    id: uuid.UUID
    account_id: str
    kind: str
    state: SyncState
    phase: str | None
    counts: dict[str, EntityCounts]
    errors: list[dict[str, Any]]
    requested_by: int | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return round((end - self.started_at).total_seconds(), 3)


class SyncJobList(OutputModel):
    items: list[SyncJobRead]


class FetchResult(OutputModel):
    counts: dict[str, EntityCounts]
