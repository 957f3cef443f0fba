"""Enumerations stored in the database (as strings, checked by constraints)."""

from __future__ import annotations

from enum import StrEnum


class RoleEnum(StrEnum):
    admin = "admin"
    manager = "manager"
    member = "member"


class AuthSource(StrEnum):
    ace = "ace"
    local = "local"


class StatusType(StrEnum):
    waiting = "waiting"
    in_progress = "in_progress"
    completed = "completed"


class TaskLogKind(StrEnum):
    time = "time"
    status_change = "status_change"
    note = "note"


class TaskLogSource(StrEnum):
    local = "local"
    ace = "ace"


class SyncState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
