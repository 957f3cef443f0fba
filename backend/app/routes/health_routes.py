from __future__ import annotations

from fastapi import APIRouter, Request

from app.dependencies.clients import DatabaseDep
from app.dto.health_dto import Liveness, Readiness
from app.dto.response import SuccessResponse
from app.routes.openapi import error_responses
from app.services import health_service

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=SuccessResponse[Liveness], responses=error_responses())
async def live() -> SuccessResponse[Liveness]:
    """The process is up (no dependency is checked)."""
    return SuccessResponse(message="alive", data=Liveness())


@router.get("/ready", response_model=SuccessResponse[Readiness], responses=error_responses(503))
async def ready(request: Request, database: DatabaseDep) -> SuccessResponse[Readiness]:
    """The database (and Redis, when configured) answer; otherwise 503 `DB_UNAVAILABLE` or
    `REDIS_UNAVAILABLE`."""
    readiness = await health_service.check_ready(
        database=database, redis=getattr(request.app.state, "redis", None)
    )
    return SuccessResponse(message="ready", data=readiness)
