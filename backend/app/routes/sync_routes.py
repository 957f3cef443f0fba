"""Mirroring ACE: whole-account sync jobs (the seed's fetch endpoints live with their
resources, in project_routes and task_routes)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.dependencies.auth_dependencies import ManagerUser
from app.dependencies.clients import DatabaseDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import UnitOfWork
from app.dto.response import SuccessResponse
from app.dto.sync_dto import SyncJobList, SyncJobRead, SyncJobRequest
from app.routes.openapi import error_responses
from app.services.sync import jobs, worker

router = APIRouter(tags=["sync"], responses=error_responses(401))


@router.post(
    "/sync/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SuccessResponse[SyncJobRead],
    responses=error_responses(403, 409),
)
async def start_sync(
    request: Request,
    user: ManagerUser,
    session: UnitOfWork,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: GuidCipherDep,
    body: SyncJobRequest | None = None,
) -> SuccessResponse[SyncJobRead]:
    """Queue a sync of the caller's account with the caller's ACE session; it runs in the
    background (poll `GET /sync/jobs/{id}`), after the account's running sync if there is
    one. 409 `CONFLICT` when a sync of the account is waiting already."""
    job = await worker.start_sync(
        session,
        database=database,
        starter=request.app.state.sync_starter,
        cipher=cipher,
        settings=settings,
        user=user,
        kind=(body or SyncJobRequest()).kind,
    )
    return SuccessResponse(message="Sync queued", data=SyncJobRead.model_validate(job))


@router.get(
    "/sync/jobs/{job_id}",
    response_model=SuccessResponse[SyncJobRead],
    responses=error_responses(403, 404),
)
async def get_sync_job(
    job_id: uuid.UUID, user: ManagerUser, session: UnitOfWork
) -> SuccessResponse[SyncJobRead]:
    """A sync job of the caller's account: state, phase, counts per entity, errors, duration."""
    job = await jobs.get_job(session, account_id=user.account_id, job_id=job_id)
    return SuccessResponse(data=SyncJobRead.model_validate(job))


@router.get(
    "/sync/jobs", response_model=SuccessResponse[SyncJobList], responses=error_responses(403)
)
async def list_sync_jobs(
    user: ManagerUser,
    session: UnitOfWork,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SuccessResponse[SyncJobList]:
    """The account's most recent sync jobs, newest first."""
    listed = await jobs.list_jobs(session, account_id=user.account_id, limit=limit)
    return SuccessResponse(data=SyncJobList(items=[SyncJobRead.model_validate(j) for j in listed]))
