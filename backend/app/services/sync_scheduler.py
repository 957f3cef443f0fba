"""Periodic syncs: every `SYNC_INTERVAL_MINUTES`, each account that has a signed-in ACE admin
or manager gets an `auto` sync (incremental, or the periodic full pass that mirrors
deletions). Every API worker runs this loop; the database lets one job per account through
and the others skip (409 from the partial unique index), so workers never double up."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import select

from app.ace.client import AceClient
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database
from app.errors import ConflictError
from app.models import AceSession, AuthSource, RoleEnum, User
from app.services import sync_service
from app.services.job_runner import JobRunner

log = logging.getLogger(__name__)

# Admins first, then managers; the most recently used ACE session of each.
_ROLE_PREFERENCE = {RoleEnum.admin: 0, RoleEnum.manager: 1}


async def schedule_due_syncs(
    *,
    database: Database,
    ace: AceClient,
    cipher: GuidCipher,
    settings: Settings,
    runner: JobRunner,
) -> list[uuid.UUID]:
    """Queue and start an `auto` sync for every account with a usable session; returns the
    ids of the jobs started (accounts already syncing are skipped)."""
    started: list[uuid.UUID] = []
    for account_id, user, guid in await _sessions_by_account(database, cipher):
        try:
            async with database.session() as session, session.begin():
                job = await sync_service.request_job(
                    session,
                    database=database,
                    settings=settings,
                    account_id=account_id,
                    requested_by=user.id,
                    kind="auto",
                )
        except ConflictError:
            continue

        sync_service.spawn_job(
            runner,
            job.id,
            database=database,
            ace=ace,
            settings=settings,
            guid=guid,
            ace_user_id=user.ace_user_id,
        )
        started.append(job.id)
    return started


async def _sessions_by_account(
    database: Database, cipher: GuidCipher
) -> list[tuple[str, User, str]]:
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
    chosen: dict[str, tuple[str, User, str]] = {}
    for user, ace_session in candidates:
        guid = cipher.decrypt(ace_session.guid_encrypted)
        if guid is not None and user.account_id not in chosen:
            chosen[user.account_id] = (user.account_id, user, guid)
    return list(chosen.values())


async def run_periodically(
    *,
    database: Database,
    ace: AceClient,
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
