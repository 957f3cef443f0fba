"""What the services need from the system they mirror, as a `Protocol`.

The services (the sign-in, the account sync, the fetch endpoints) speak to `AceApi`, never to
a concrete client: `app.ace.client.AceClient` satisfies it structurally, and another system
could be added beside ACE by satisfying it too. It lists only what the services call; the
client's other methods (the writes, filters no service uses) are not part of it.

Every method behaves as the client's method of the same name documents: the same rows, the
same `AceError` codes (`app.ace.transport` holds the error-mapping table).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import date
from typing import Protocol

from app.ace.dto import (
    AceLogin,
    AceProject,
    AcePublicSettings,
    AceTask,
    AceTaskStatus,
    AceTimeEntry,
    AceUser,
)


class AceApi(Protocol):
    """The ACE functions the services call."""

    # The sign-in (`app.services.ace_identity`).

    async def login(self, account_id: str, username: str, password: str) -> AceLogin:
        """A new session; a refusal is INVALID_CREDENTIALS."""
        ...

    async def get_login_info(self, guid: str) -> AceLogin:
        """The session's login row; a GUID no longer valid is ACE_SESSION_EXPIRED."""
        ...

    async def get_public_settings(self, account_id: str) -> AcePublicSettings:
        """Whether the account exists; an unknown one is INVALID_ACCOUNT_ID."""
        ...

    async def logout(self, guid: str) -> None:
        """End the session, best-effort: never raises."""
        ...

    # The sign-in and the account sync.

    async def get_users(
        self, guid: str, *, username: str | None = None, user_id: int | None = None
    ) -> list[AceUser]:
        """Every user the session may list (all pages), or those with this name or id."""
        ...

    # The account sync (`app.services.sync`).

    async def get_projects(self, guid: str) -> list[AceProject]:
        """Every project the session may list, all pages."""
        ...

    def iter_task_pages(
        self, guid: str, *, modified_since: date | None = None
    ) -> AsyncIterator[list[AceTask]]:
        """The tasks page by page, each once; `modified_since` keeps those modified on or
        after that day."""
        ...

    async def get_task_ids(
        self,
        guid: str,
        *,
        assigned_user_id: int | None = None,
        reviewer_user_id: int | None = None,
        modified_since: date | None = None,
    ) -> set[int]:
        """The ids of the tasks a user is assignee or reviewer of, all pages."""
        ...

    async def get_task_statuses(self, guid: str, *, project_id: int) -> list[AceTaskStatus]:
        """One project's statuses."""
        ...

    def iter_time_report(
        self,
        guid: str,
        *,
        date_from: date,
        date_to: date,
        modified_since: date | None = None,
        in_flight: int = 1,
    ) -> AsyncGenerator[list[AceTimeEntry], None]:
        """Everyone's time entries between two days, a window at a time in date order, each
        entry once; `modified_since` keeps those modified on or after that day; up to
        `in_flight` windows are asked for at once."""
        ...

    async def save_task(
        self,
        guid: str,
        *,
        task_id: int,
        project_id: int | None = None,
        status_id: int | None = None,
        percent_done: float | None = None,
        comment: str | None = None,
    ) -> None:
        """Change a task's status, percent done (0-100) and add a comment; sent once."""
        ...

    # The write-back of time logs (`app.services.task_log_service`).

    async def save_work_item(
        self,
        guid: str,
        *,
        week_start: date,
        hours: Sequence[float],
        task_id: int,
        project_id: int | None = None,
        comments: str | None = None,
        timesheet_line_id: int | None = None,
        user_id: int | None = None,
        time_type_id: int | None = None,
    ) -> int:
        """Create (or, with `timesheet_line_id`, replace) a weekly line of seven days, Sunday
        first; returns its id. Sent once."""
        ...

    async def delete_work_item(self, guid: str, *, timesheet_line_id: int) -> None:
        """Delete a whole weekly line. Sent once."""
        ...

    async def get_time_line(
        self, guid: str, *, timesheet_line_id: int, week_start: date
    ) -> list[AceTimeEntry]:
        """The days of one weekly line (a read-back after a write)."""
        ...
