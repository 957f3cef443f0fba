"""Periodic syncs: every `SYNC_INTERVAL_MINUTES`, each account that has a signed-in ACE admin
or manager gets an `auto` sync (incremental, or the periodic full pass that mirrors
deletions). On the job queue the schedule is one of its periodic tasks (`sync.queue`), run
once per period whatever the number of workers; in process (SQLite), the API's lifespan runs
`run_periodically`. Either way an account with a sync waiting already is skipped (409 from
the partial unique index), so schedules never double up."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import select

from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.errors import AppError, ErrorCode
from app.models import AceSession, AuthSource, RoleEnum, User
from app.services.sync import jobs, worker

log = logging.getLogger(__name__)

# Admins first, then managers; the most recently used ACE session of each.
_ROLE_PREFERENCE = {RoleEnum.admin: 0, RoleEnum.manager: 1}


async def schedule_due_syncs(
    *,
    database: Database,
    cipher: GuidCipher,
    settings: Settings,
    starter: worker.SyncStarter,
) -> list[uuid.UUID]:
    """Queue and start an `auto` sync for every account with a usable session; returns the
    ids of the jobs started (accounts already syncing are skipped)."""
    started: list[uuid.UUID] = []
    for user, guid in await _sessions_by_account(database, cipher):
        try:
            async with unit_of_work(database) as session:
                # A periodic sync is due only when none runs or waits (a person may still
                # queue one behind a running sync).
                if await jobs.active_job(session, account_id=user.account_id) is not None:
                    continue
                job = await worker.queue_sync(
                    session,
                    database=database,
                    starter=starter,
                    settings=settings,
                    user=user,
                    guid=guid,
                    kind="auto",
                )
        except AppError as error:
            if error.code is not ErrorCode.CONFLICT:
                raise
            continue
        started.append(job.id)
    return started


async def _sessions_by_account(database: Database, cipher: GuidCipher) -> list[tuple[User, str]]:
    """Per account, the user whose ACE session a periodic sync uses, and its GUID."""
    async with database.session() as session:
        rows = await session.execute(
            select(User, AceSession)
            .join(AceSession, AceSession.user_id == User.id)
            .where(
                User.auth_source == AuthSource.ace,
                User.role.in_(list(_ROLE_PREFERENCE)),
                User.is_active,
                User.is_disabled.is_(False),
            )
        )
        candidates = sorted(
            rows.all(),
            key=lambda pair: (_ROLE_PREFERENCE[pair[0].role], -pair[1].last_used_at.timestamp()),
        )
    chosen: dict[str, tuple[User, str]] = {}
    for user, ace_session in candidates:
        guid = cipher.decrypt(ace_session.guid_encrypted)
        if guid is not None and user.account_id not in chosen:
            chosen[user.account_id] = (user, guid)
    return list(chosen.values())


async def run_periodically(
    *,
    database: Database,
    cipher: GuidCipher,
    settings: Settings,
    starter: worker.SyncStarter,
) -> None:
    """The scheduler loop of one worker (a lifespan task; cancelled at shutdown)."""
    interval = settings.sync_interval_minutes * 60
    while True:
        await asyncio.sleep(interval)
        try:
            started = await schedule_due_syncs(
                database=database, cipher=cipher, settings=settings, starter=starter
            )
            if started:
                log.info("periodic syncs started", extra={"jobs": len(started)})
        except Exception:
            log.exception("periodic sync scheduling failed")
