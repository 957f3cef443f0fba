"""Periodic syncs: every `SYNC_INTERVAL_MINUTES`, each account that has a signed-in ACE admin
or manager gets an `auto` sync (incremental, or the periodic full pass that mirrors
deletions). Every API worker runs this loop; the database lets one job per account through
and the others skip (409 from the partial unique index), so workers never double up."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import select

from app.ace.port import AceApi
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.connection.unit_of_work import unit_of_work
from app.errors import AppError, ErrorCode
from app.models import AceSession, AuthSource, RoleEnum, User
from app.services.sync import worker
from app.services.sync.runner import JobRunner

log = logging.getLogger(__name__)

# Admins first, then managers; the most recently used ACE session of each.
_ROLE_PREFERENCE = {RoleEnum.admin: 0, RoleEnum.manager: 1}


async def schedule_due_syncs(
    *,
    database: Database,
    ace: AceApi,
    cipher: GuidCipher,
    settings: Settings,
    runner: JobRunner,
) -> list[uuid.UUID]:
    """Queue and start an `auto` sync for every account with a usable session; returns the
    ids of the jobs started (accounts already syncing are skipped)."""
    started: list[uuid.UUID] = []
    for user, guid in await _sessions_by_account(database, cipher):
        try:
            async with unit_of_work(database) as session:
                job = await worker.queue_sync(
                    session,
                    database=database,
                    runner=runner,
                    ace=ace,
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
    ace: AceApi,
    cipher: GuidCipher,
    settings: Settings,
    runner: JobRunner,
) -> None:
    """The scheduler loop of one worker (a lifespan task; cancelled at shutdown)."""
    interval = settings.sync_interval_minutes * 60
    while True:
        await asyncio.sleep(interval)
        try:
            jobs = await schedule_due_syncs(
                database=database, ace=ace, cipher=cipher, settings=settings, runner=runner
            )
            if jobs:
                log.info("periodic syncs started", extra={"jobs": len(jobs)})
        except Exception:
            log.exception("periodic sync scheduling failed")
