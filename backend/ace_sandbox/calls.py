"""What every function handler gets: the call (store, parameters, settings, caller) and the
small checks shared by the read and the write handlers.

Invented: administrators (ACCESS_LEVEL 2) may see and act on every project; a normal user
only on the projects they are a member of. A task of a deleted project counts as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ace_sandbox.listing import QueryCache
from ace_sandbox.models import Session, Task, User
from ace_sandbox.params import (
    ERR_GUID,
    ERR_INVALID,
    ERR_NO_RIGHT,
    ERR_UNKNOWN,
    AceFailure,
    Params,
)
from ace_sandbox.store import Account, Store

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """The part of the app configuration the functions need (hashable: it is part of the
    query-cache key, so a switch flipped at run time never serves a stale list)."""

    guid_idle_seconds: float
    guid_max_age_seconds: float | None
    default_rows_per_page: int
    null_date: str | None
    max_rows_per_page: int | None = None
    task_rows_without_status_id: bool = False
    forcombo_ignores_user_filters: bool = True
    getusers_admin_only: bool = False


@dataclass(slots=True)
class Caller:
    account: Account
    user: User
    session: Session


@dataclass(slots=True)
class Call:
    store: Store
    params: Params
    settings: Settings
    cache: QueryCache
    now: float
    caller: Caller | None = None

    @property
    def me(self) -> Caller:
        if self.caller is None:
            raise AceFailure(ERR_GUID, "invalid or expired GUID")
        return self.caller


def ids(params: Params, name: str) -> frozenset[int] | None:
    """A comma-separated id list parameter (None when absent)."""
    value = params.text(name)
    if value is None:
        return None
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise AceFailure(ERR_INVALID, f"invalid id list for {name}: {value!r}") from None


def visible_projects(caller: Caller, assigned_only: bool = False) -> set[int] | None:
    """Project ids the caller may see, or None for "all" (administrators)."""
    if caller.user.is_admin and not assigned_only:
        return None
    return caller.account.projects_by_member.get(caller.user.user_id, set())


def may_use_project(caller: Caller, project_id: int) -> bool:
    visible = visible_projects(caller)
    return visible is None or project_id in visible


def require_project_right(caller: Caller, project_id: int) -> None:
    if not may_use_project(caller, project_id):
        raise AceFailure(ERR_NO_RIGHT, f"no right on project {project_id}")


def live_task(account: Account, task_id: int) -> Task:
    """The task, unless it is unknown or its project is deleted (4001)."""
    task = account.tasks.get(task_id)
    project = account.projects.get(task.project_id) if task is not None else None
    if task is None or project is None or project.deleted:
        raise AceFailure(ERR_UNKNOWN, f"task {task_id} not found")
    return task
