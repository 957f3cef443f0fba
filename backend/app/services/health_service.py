"""Readiness checks of the process's dependencies."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from app.connection.database import Database
from app.dto.health_dto import Readiness
from app.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


async def check_ready(*, database: Database, redis: Redis | None) -> Readiness:
    try:
        await database.ping(CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        raise AppError("The database is not reachable", code=ErrorCode.DB_UNAVAILABLE) from exc
    if redis is None:
        return Readiness()
    try:
        await redis.ping()
    except Exception as exc:
        log.warning("readiness: redis check failed: %s", type(exc).__name__)
        raise AppError("Redis is not reachable", code=ErrorCode.REDIS_UNAVAILABLE) from exc
    return Readiness(redis="ok")
