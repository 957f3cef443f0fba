"""The fetch endpoints: some of the account sync's phases, run for one caller's view of ACE
within the request (no job, no heartbeat, never tombstones)."""

from __future__ import annotations

from datetime import date

from app.ace.port import AceApi
from app.config import Settings
from app.connection.database import Database
from app.models.base import utcnow
from app.models.enums import SyncKind
from app.models.sync_jobs import JobCounts
from app.services.sync.account_sync import (
    AccountSync,
    SyncCredentials,
    SyncTally,
    in_transactions,
)
from app.services.sync.jobs import last_watermark
from app.services.sync.plan import SyncPlan, modified_since


async def fetch_projects(
    *, database: Database, ace: AceApi, creds: SyncCredentials, account_id: str
) -> JobCounts:
    """`POST /projects/fetch-projects`: the projects the caller sees in ACE, upserted."""
    sync = _request_sync(database, ace=ace, creds=creds, account_id=account_id, since=None)
    await sync.sync_projects()
    return sync.tally.as_dict()


async def fetch_tasks(
    *,
    database: Database,
    ace: AceApi,
    settings: Settings,
    creds: SyncCredentials,
    account_id: str,
    seen_by: int | None = None,
) -> JobCounts:
    """`POST /tasks/fetch-tasks`: the users and projects the caller sees, the caller's
    visible tasks (modified since the account's last watermark minus the overlap) and their
    assignees, upserted (users not mirrored yet become placeholders)."""
    async with database.session() as session:
        watermark = await last_watermark(session, account_id=account_id)
    since = modified_since(watermark, settings)
    sync = _request_sync(database, ace=ace, creds=creds, account_id=account_id, since=since)
    sync.seen_by = seen_by  # status moves it sees are logged, as a sync's are
    # The users first: assignees are read per user (new ones become placeholders).
    await sync.sync_users()
    await sync.sync_projects()
    await sync.sync_tasks()
    await sync.sync_assignees()
    return sync.tally.as_dict()


def _request_sync(
    database: Database,
    *,
    ace: AceApi,
    creds: SyncCredentials,
    account_id: str,
    since: date | None,
) -> AccountSync:
    today = utcnow().date()
    plan = SyncPlan(kind=SyncKind.incremental, modified_since=since, time_from=today, time_to=today)
    # Never tombstones: a request's view of ACE is the caller's, not the whole account.
    viewer = SyncCredentials(guid=creds.guid, is_admin=False)
    return AccountSync(
        ace=ace,
        creds=viewer,
        account_id=account_id,
        plan=plan,
        write=in_transactions(database),
        tally=SyncTally(),
    )
