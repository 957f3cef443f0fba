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
    """A task status's type: ACE groups each project's statuses into these three (the
    `COMPLETED_STATUS` of `gettaskstatuses`: 0 waiting, 1 completed, 2 in progress)."""

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


class SyncKind(StrEnum):
    """A full pass reads everything (and, run by an ACE administrator, mirrors deletions); an
    incremental run reads what changed since the account's watermark, less an overlap."""

    full = "full"
    incremental = "incremental"


class SyncPhase(StrEnum):
    """The phases of an account sync in the order they run, then `done`."""

    users = "users"
    projects = "projects"
    tasks = "tasks"
    assignees = "assignees"
    time_entries = "time_entries"
    done = "done"
