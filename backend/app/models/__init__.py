"""Every model, imported here so Alembic's autogenerate sees all tables."""

from app.models.ace_sessions import AceSession
from app.models.base import Base, table_of
from app.models.enums import (
    AuthSource,
    RoleEnum,
    StatusType,
    SyncKind,
    SyncPhase,
    SyncState,
    TaskLogKind,
    TaskLogSource,
)
from app.models.projects import Project
from app.models.refresh_tokens import RefreshToken
from app.models.sync_jobs import SyncJob
from app.models.task_assignees import TaskAssignee
from app.models.task_logs import TaskLog
from app.models.tasks import Task
from app.models.users import User

__all__ = [
    "AceSession",
    "AuthSource",
    "Base",
    "Project",
    "RefreshToken",
    "RoleEnum",
    "StatusType",
    "SyncJob",
    "SyncKind",
    "SyncPhase",
    "SyncState",
    "Task",
    "TaskAssignee",
    "TaskLog",
    "TaskLogKind",
    "TaskLogSource",
    "User",
    "table_of",
]
