"""The caller as the read routes see it: the columns of the signed-in user that decide what
they may see."""

from __future__ import annotations

from dataclasses import dataclass

from app.models import RoleEnum


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in user's id, account, role and active/disabled flags, re-read on every
    request (`dependencies.auth_dependencies.ReadCaller`), like the whole `User` the routes
    that write load (`CurrentUser`)."""

    id: int
    account_id: str
    role: RoleEnum
    is_active: bool
    is_disabled: bool
